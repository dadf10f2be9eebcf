# dtrplay's helper on the control machine: it runs with the Python that has
# ansible-core importable and answers requests from dtrplay, one JSON object
# a line on stdin, one JSON object a line on the protocol channel (the
# original stdout; anything Ansible prints goes to stderr instead). It is
# started once per run and serves every task and host of it, so ansible-core
# is imported once, and each module's AnsiballZ zip is built once and reused
# from ansible-core's own cache.
#
# Requests:
#   {"op": "hello", "collections": [paths searched first]}  (always the first)
#   {"op": "doc", "name": "<module as written>"}
#   {"op": "build", "fqcn": ..., "path": ..., "args": {...},
#    "check_mode": bool, "diff": bool, "no_log": bool, "verbosity": int}
import sys

# Run with `python -c`, whose first search path is the working directory:
# a playbook directory's own json.py must not stand in for the standard one.
sys.path = [p for p in sys.path if p not in ("", ".")]

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)


def reply(obj):
    channel.write(json.dumps(obj))
    channel.write("\n")
    channel.flush()


hello = json.loads(sys.stdin.readline() or "{}")
try:
    from ansible.release import __version__
    from ansible import constants as C
    from ansible.executor.module_common import modify_module
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins import loader as plugin_loader
    from ansible.template import Templar
    from ansible.utils.plugin_docs import get_plugin_docs

    plugin_loader.init_plugin_loader(hello.get("collections") or None)
    templar = Templar(loader=DataLoader())
except Exception as exc:  # the first reply says why nothing else will work
    reply({"error": "%s: %s" % (type(exc).__name__, exc)})
    sys.exit(0)


def options(doc):
    out = {}
    for name, opt in (doc.get("options") or {}).items():
        opt = opt or {}
        out[name] = {
            "type": opt.get("type", "str"),
            "required": bool(opt.get("required", False)),
            "aliases": list(opt.get("aliases") or []),
            "no_log": bool(opt.get("no_log", False)),
        }
    return out


def support(doc, attribute):
    value = ((doc.get("attributes") or {}).get(attribute) or {}).get("support")
    return value if isinstance(value, str) else None


def doc(name):
    ctx = plugin_loader.module_loader.find_plugin_with_context(
        name, ignore_deprecated=True, check_aliases=True
    )
    if not ctx or not ctx.resolved:
        why = getattr(ctx, "exit_reason", None) if ctx else None
        return {"found": False, "why": str(why) if why else None}
    fqcn = ctx.resolved_fqcn
    path = ctx.plugin_resolved_path
    action = plugin_loader.action_loader.find_plugin_with_context(
        fqcn, ignore_deprecated=True, check_aliases=True
    )
    action_name = action.resolved_fqcn if action and action.resolved else None
    try:
        docs = get_plugin_docs(fqcn, "module", plugin_loader.module_loader,
                               plugin_loader.fragment_loader, False)
        documentation = docs[0] or {}
        returns = docs[2] or {}
    except Exception as exc:
        return {"found": True, "fqcn": fqcn, "path": path, "action": action_name,
                "doc_error": "%s: %s" % (type(exc).__name__, exc)}
    return {
        "found": True,
        "fqcn": fqcn,
        "path": path,
        "action": action_name,
        "options": options(documentation),
        "check_mode": support(documentation, "check_mode"),
        "diff_mode": support(documentation, "diff_mode"),
        "facts": facts(returns),
    }


def facts(returns):
    """The facts a module documents that it sets, `<placeholder>` parts as
    `*` (getent's `getent_<database>` is `getent_*`)."""
    documented = returns.get("ansible_facts")
    if not isinstance(documented, dict):
        return []
    contains = documented.get("contains")
    if not isinstance(contains, dict) or not contains:
        return ["*"]
    return [re.sub(r"<[^>]*>", "*", str(name)) for name in contains]


def build(req):
    args = dict(req["args"])
    args.update({
        "_ansible_check_mode": bool(req["check_mode"]),
        "_ansible_no_log": bool(req["no_log"]),
        "_ansible_debug": False,
        "_ansible_diff": bool(req["diff"]),
        "_ansible_verbosity": int(req.get("verbosity", 0)),
        "_ansible_version": __version__,
        "_ansible_module_name": req["fqcn"],
        "_ansible_syslog_facility": C.DEFAULT_SYSLOG_FACILITY,
        "_ansible_selinux_special_fs": C.DEFAULT_SELINUX_SPECIAL_FS,
        "_ansible_socket": None,
        "_ansible_shell_executable": "/bin/sh",
        "_ansible_keep_remote_files": False,
        "_ansible_tmpdir": None,
        "_ansible_remote_tmp": "~/.ansible/tmp",
        "_ansible_ignore_unknown_opts": False,
        "_ansible_target_log_info": None,
        "_ansible_tracebacks_for": [],
    })
    built = modify_module(
        module_name=req["fqcn"].rsplit(".", 1)[-1],
        module_path=req["path"],
        module_args=args,
        templar=templar,
        # Only the payload's first line depends on it: dtrplay starts the
        # host's interpreter itself and feeds it the payload on stdin.
        task_vars={"ansible_python_interpreter": "/usr/bin/python3"},
        module_compression=C.DEFAULT_MODULE_COMPRESSION,
    )
    if built.module_style != "new":
        return {"error": "the module is not an AnsiballZ Python module (style %s)" % built.module_style}
    return {"payload": built.b_module_data.decode("utf-8")}


reply({"ansible_version": __version__, "python": sys.executable})
for line in sys.stdin:
    try:
        req = json.loads(line)
        op = req.get("op")
        if op == "doc":
            reply(doc(req["name"]))
        elif op == "build":
            reply(build(req))
        else:
            reply({"error": "unknown request %r" % (op,)})
    except Exception as exc:
        reply({"error": "%s: %s" % (type(exc).__name__, exc)})
