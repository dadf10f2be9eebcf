//! The single integration test binary. Each module below is one feature,
//! and reads as its specification.

mod harness;
// The engine over real sshd nodes: idempotence, check mode, failures, limits, tags, precedence.
mod engine;
// Every class of bad input: file, line, column, label and help, snapshotted.
mod diagnostics;
// The lab's UCP and DTR HTTPS simulators, driven with reqwest.
mod lab_api;
// Lab nodes: real sshd fleets on loopback with private /etc/docker and /srv.
mod lab_nodes;
// The fleet benchmark's arithmetic: per-host slopes and the file limit it raises.
mod fleet_bench;
// `dtrplay lab up|status|down` with real background labs.
mod lab_cli;
// Real Docker engines on the lab's nodes, one dockerd per node, driven by playbooks.
mod lab_engines;
// Step 5 for MKE 4's containerd: a real containerd per node in k0s's layout, ctr pulls by name.
mod lab_containerd;
// `dtrplay doctor` through apply's reporters: JSON Lines, JUnit and `--report` files.
mod doctor_reports;
// Inventories: YAML, INI, directories, group_vars/host_vars, patterns, `--list`.
mod inventory;
// Built-in modules (copy, template, file, command, shell, debug, assert,
// set_fact, fail) against a real shell, and once over real SSH.
mod modules;
// The contract of every SSH transport (native, OpenSSH, mux), one suite run against each.
mod transports;
// What only the native SSH client (russh) does, and how auto chooses.
mod native;
// Sessions on a running ControlMaster opened from our own process, no ssh client.
mod mux;
// The five integration tasks against the lab's UCP and DTR, both flavors.
mod integration_tasks;
// `dtrplay doctor`: one verdict per trust link and node, against the lab.
mod doctor;
// The whole procedure on a full lab: real sshd nodes and the docker stand-in.
mod integration_nodes;
// Custom tasks (task files, executable plugins, Rust): the guarantees of built-ins.
mod custom_tasks;
// Templating as Ansible users write it, and secrets masking.
mod template;
// Ansible's everyday modules as built-ins (lineinfile, stat, ping, ...) on real nodes.
mod builtins;
// The `template` task end to end over real sshd nodes.
mod template_task;
// A task's `timeout:` is a task failure; the host stays and the process stops.
mod task_timeout;
// `async`/`poll` (a deadline, or a background job `async_status` waits for) and `meta: reset_connection`.
mod async_tasks;
// Privilege escalation (sudo, su) on nodes with users of their own, and the
// play-level connection keywords.
mod escalation;
// Host data is data: registered results, facts, loop items never rendered again.
mod host_data;
// ansible-core from PyPI is the oracle: the same playbooks with both tools, compared.
mod oracle;
// `meta: refresh_inventory`: later plays see the inventory read again.
mod refresh_inventory;
// What a new user meets first: unreachable hosts, stopped plays, unset lookups.
mod first_hour;
// `hostvars`: every host's variables in every task, lazily, in that host's scope.
mod hostvars;
// Secrets as tainted values: names, diffs, derived values, no_log, error snippets.
mod secret_taint;
// --limit, --tags and the default inventory are checked before any connection.
mod selection;
// YAML 1.1 booleans exactly as PyYAML reads them; `y`/`n` stay strings.
mod yaml_scalars;
// Ansible Vault: `dtrplay vault` against `ansible-vault`, and vaulted input failing cleanly.
mod vault;
// Roles, imports and includes, blocks: real Ansible content's structure.
mod content;
// Facts: implicit gathering, `setup`, `ansible_facts` and `ansible_*`, validate.
mod facts;
// ansible.cfg and the ANSIBLE_* environment variables, as Ansible reads them.
mod ansible_cfg;
// The ansible-playbook flags people type: listings, --syntax-check, --start-at-task, -k.
mod playbook_flags;
// Reports for CI systems: JUnit XML.
mod reports;
// loop_control and the with_* family on the one loop engine.
mod loops;
// include_vars: files, dirs, names, role vars, precedence.
mod include_vars;
// Modules dtrplay does not implement, through ansible-core's own code.
mod ansible_fallback;
// Public content written for older Ansible: galaxy metadata, bare include, action/local_action.
mod public_content;
// vars_prompt on a real terminal, order, throttle, notify on blocks, vars_files alternatives.
mod play_keywords;
// Inputs content leaves to the user: vars files written later, role variables from callers.
mod deferred_inputs;
// playbook_dir, inventory_dir, inventory_file, role_path: absolute, as Ansible gives them.
mod magic_dirs;
// Connection variables checked by validate, wherever they are written.
mod connection_vars;
// ssh options people write (algorithm lists, HostKeyAlias, CheckHostIP, ...) on the native client.
mod ssh_options;
// YAML errors framed at the real line and column; the node budget named.
mod yaml_errors;
// Bounded input: host ranges, input files, rendered values.
mod input_bounds;
// StrictHostKeyChecking no / accept-new and host_key_checking: warnings, changed keys refused, both clients.
mod host_key_checking;
// validate refuses unknown filters, tests and lookups at the name.
mod validate_names;
// ProxyJump on the native client: one jump connection, direct-tcpip channels.
mod proxy_jump;
// ucp_flavor and CA pins checked by validate at the value.
mod contract_vars;
// OpenSSH user certificates (CertificateFile, -cert.pub) on the native client.
mod user_certificates;
// The engine crate without the lab; `dtrplay lab` in the binary.
mod workspace;
