#!/usr/bin/env python3
"""ensure_line: make sure a file contains (or lacks) a line.

A dtrplay executable task (see docs/custom-tasks.md). dtrplay runs it with
one argument, a JSON file holding {"args": {...}, "check_mode": bool,
"diff": bool, "dtrplay": {...}}, and reads one JSON object from stdout.

Idempotent: a second run with the same arguments reports changed=false.
In check mode it computes the same answer and diff but writes nothing.
Only the Python standard library is used, so any node with python3 runs it.
"""

import json
import os
import re
import sys
import tempfile


def reply(**fields):
    """Prints the one JSON object dtrplay reads, and exits."""
    print(json.dumps(fields))
    sys.exit(1 if fields.get("failed") else 0)


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines(keepends=True), True
    except FileNotFoundError:
        return [], False


def write_atomically(path, text):
    """Writes beside the file, then renames, so readers never see half a file."""
    directory = os.path.dirname(path) or "."
    mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ensure_line.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    args = request["args"]
    path, line, state = args["path"], args["line"], args["state"]
    pattern = re.compile(args["regexp"]) if args.get("regexp") else None

    lines, exists = read_lines(path)
    if not exists and state == "present" and not args["create"]:
        reply(failed=True, msg=f"{path} does not exist (set create: true to create it)")

    def matches(l):
        text = l.rstrip("\n")
        return pattern.search(text) if pattern else text == line

    wanted = line + "\n"
    if state == "absent":
        after = [l for l in lines if not matches(l)]
        msg = f"{len(lines) - len(after)} line(s) removed"
    elif pattern and any(matches(l) for l in lines):
        # Ansible's lineinfile semantics: the last match is replaced.
        last = max(i for i, l in enumerate(lines) if matches(l))
        after = lines[:last] + [wanted] + lines[last + 1:]
        msg = "line replaced"
    elif any(l.rstrip("\n") == line for l in lines):
        after = lines
    else:
        # A file without a final newline gets one before the new line.
        prefix = lines[:-1] + [lines[-1] + "\n"] if lines and not lines[-1].endswith("\n") else lines
        after = prefix + [wanted]
        msg = "line added"

    before_text, after_text = "".join(lines), "".join(after)
    if after_text == before_text:
        reply(changed=False, msg="already as wanted", path=path)

    if not request["check_mode"]:
        write_atomically(path, after_text)
    diff = {"before_header": path, "after_header": path, "after": after_text}
    if exists:
        diff["before"] = before_text
    reply(changed=True, msg=msg, path=path, diff=diff)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # Any surprise is a clean failure, not a traceback.
        reply(failed=True, msg=f"{type(e).__name__}: {e}")
