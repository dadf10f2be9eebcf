//! Custom tasks: users' own task types get the guarantees of built-ins.
//!
//! These tests drive the examples shipped in `examples/` through the public
//! task API: a plugin is loaded from its manifest, its calls are validated
//! like a built-in's, and it is checked and applied through a real
//! connection (the control machine's `sh`). Diagnostics are snapshotted as
//! users see them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use miette::{GraphicalReportHandler, GraphicalTheme};
use serde_json::{Map, Value, json};

use dtrplay::connection::local::LocalConnection;
use dtrplay::connection::{ConnectOptions, Connection, Target, Transport, connect};
use dtrplay::error::InputError;
use dtrplay::source::SourceFile;
use dtrplay::task::{Check, Context, DynTask, Outcome, TaskError};
use dtrplay::tasks::Registry;
use dtrplay::tasks::plugin::{self, Layout, Plugin};
use dtrplay::yaml;

use crate::harness::{Nodes, Project, unindent};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn ensure_line() -> Plugin {
    Plugin::load(&examples().join("ensure-line/library/ensure_line.yml"))
        .expect("the example plugin loads")
}

/// How a task ended.
#[derive(Debug)]
enum Ended {
    InSync(Outcome),
    WouldChange(Outcome),
    Changed(Outcome),
}

/// Runs a call the way the executor does: coerce, build, check, and apply
/// unless in check mode.
async fn run(
    registry: &Registry,
    task: &str,
    args: Value,
    check_mode: bool,
) -> Result<Ended, TaskError> {
    let conn = LocalConnection::new("node1");
    run_on(&conn, "node1", registry, task, args, check_mode).await
}

/// `run` over a given connection, for the host `host`.
async fn run_on(
    conn: &dyn Connection,
    host: &str,
    registry: &Registry,
    task: &str,
    args: Value,
    check_mode: bool,
) -> Result<Ended, TaskError> {
    let entry = registry.get(task).expect("a registered task");
    let args = entry
        .spec
        .coerce(args.as_object().expect("object arguments"))
        .expect("the arguments coerce");
    let task: Box<dyn DynTask> = (entry.build)(args).expect("the task builds");
    let vars = Map::new();
    let eval = |_: &str| -> Result<Value, String> { Ok(Value::Null) };
    let peers = |_: &str| -> Option<std::sync::Arc<dyn Connection>> { None };
    let cx = Context::new(
        host,
        conn,
        check_mode,
        true,
        Duration::from_secs(60),
        &vars,
        &eval,
        &peers,
    );
    match task.check_dyn(&cx).await? {
        Check::InSync(o) => Ok(Ended::InSync(o)),
        Check::Drift { preview, .. } if check_mode => Ok(Ended::WouldChange(preview)),
        Check::Drift { drift, .. } => Ok(Ended::Changed(task.apply_dyn(&cx, drift).await?)),
    }
}

fn registry_with(plugins: impl IntoIterator<Item = Plugin>) -> Registry {
    let mut registry = Registry::default();
    for p in plugins {
        p.register(&mut registry);
    }
    registry
}

/// Renders diagnostics as the CLI prints them (without colour), with the
/// temporary project directory hidden.
fn render(errors: &[InputError], root: &Path) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for e in errors {
        handler.render_report(&mut out, e).expect("renders");
    }
    out.replace(&root.display().to_string(), "[DIR]")
}

#[tokio::test]
async fn the_example_plugin_checks_applies_and_is_idempotent() {
    let project = Project::new();
    let hosts = project.file("hosts", "127.0.0.1 localhost\n10.0.0.9 dtr.example.com\n");
    let registry = registry_with([ensure_line()]);
    let args = json!({
        "dest": hosts.display().to_string(),
        "regexp": "\\sdtr.example.com$",
        "line": "10.0.0.20 dtr.example.com",
    });

    let Ended::WouldChange(preview) = run(&registry, "ensure_line", args.clone(), true)
        .await
        .expect("checks")
    else {
        panic!("an old entry is drift");
    };
    assert_eq!(preview.msg.as_deref(), Some("line replaced"));
    let diff = &preview.diffs[0];
    assert_eq!(diff.subject, hosts.display().to_string());
    assert_eq!(
        diff.before.as_deref(),
        Some("127.0.0.1 localhost\n10.0.0.9 dtr.example.com\n")
    );
    assert_eq!(
        diff.after.as_deref(),
        Some("127.0.0.1 localhost\n10.0.0.20 dtr.example.com\n")
    );
    assert_eq!(
        std::fs::read_to_string(&hosts).expect("read"),
        "127.0.0.1 localhost\n10.0.0.9 dtr.example.com\n",
        "check mode changes nothing"
    );

    let Ended::Changed(done) = run(&registry, "ensure_line", args.clone(), false)
        .await
        .expect("applies")
    else {
        panic!("apply acts");
    };
    assert!(done.changed);
    assert_eq!(
        done.data["path"],
        json!(hosts.display().to_string()),
        "`returns: [path]` is registered"
    );
    assert_eq!(
        std::fs::read_to_string(&hosts).expect("read"),
        "127.0.0.1 localhost\n10.0.0.20 dtr.example.com\n"
    );

    let Ended::InSync(again) = run(&registry, "ensure_line", args, false)
        .await
        .expect("re-applies")
    else {
        panic!("a second apply changes nothing");
    };
    assert!(!again.changed);
}

#[tokio::test]
async fn a_plugin_failure_is_reported_and_the_next_task_still_runs() {
    let project = Project::new();
    let missing = project.path().join("nowhere/hosts");
    let registry = registry_with([ensure_line()]);
    let args = json!({"path": missing.display().to_string(), "line": "x"});
    match run(&registry, "ensure_line", args, false).await {
        Err(TaskError::Failed { msg, .. }) => {
            assert!(
                msg.ends_with("does not exist (set create: true to create it)"),
                "{msg}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let file = project.file("ok", "");
    let args = json!({"path": file.display().to_string(), "line": "x"});
    assert!(matches!(
        run(&registry, "ensure_line", args, false).await,
        Ok(Ended::Changed(_))
    ));
}

#[tokio::test]
async fn broken_plugins_fail_with_the_task_host_program_and_stderr() {
    let project = Project::new();
    let cases = [
        (
            "crash",
            "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho 'ValueError: bad' >&2\nexit 1\n",
            "",
            "exited with status 1 without printing JSON",
        ),
        (
            "hang",
            "#!/bin/sh\nsleep 60\n",
            "timeout: 1\n",
            "timed out after 1s and was killed",
        ),
        (
            "chatty",
            "#!/bin/sh\necho 'Everything is fine'\n",
            "",
            "printed output that is not JSON",
        ),
        (
            "typo",
            "#!/bin/sh\necho '{\"chnaged\": true}'\n",
            "",
            "printed an unknown field `chnaged` (did you mean `changed`?)",
        ),
    ];
    for (name, program, manifest, _) in &cases {
        write_plugin(&project, name, program, manifest);
    }
    let plugins =
        plugin::load_dir(&project.path().join("library"), Layout::Library).expect("loads");
    let registry = registry_with(plugins);
    for (name, _, _, why) in &cases {
        match run(&registry, name, json!({}), false).await {
            Err(TaskError::Failed { msg, data }) => {
                let program = project.path().join("library").join(name);
                let head = format!(
                    "task `{name}` on node1 (check): {} {why}",
                    program.display()
                );
                assert!(msg.starts_with(&head), "{name}: {msg}");
                assert!(data.contains_key("rc"), "{name}: the output is registered");
            }
            other => panic!("{name}: expected a failure, got {other:?}"),
        }
    }
    let Err(TaskError::Failed { msg, .. }) = run(&registry, "crash", json!({}), false).await else {
        panic!("crash fails");
    };
    assert!(
        msg.ends_with("stderr:\n  Traceback (most recent call last):\n  ValueError: bad"),
        "{msg}"
    );
}

#[test]
fn bad_calls_are_reported_at_the_call_site() {
    let spec = ensure_line().spec();
    let playbook = unindent(
        r#"
        - hosts: all
          tasks:
            - ensure_line:
                paht: /etc/hosts
                line: 10.0.0.20 dtr
                state: gone
                create: maybe
            - ensure_line: {path: /etc/hosts}
        "#,
    );
    let src = SourceFile::new("site.yml", playbook.as_str());
    let doc = yaml::parse(&src).expect("valid YAML");
    let tasks = doc.as_seq().expect("plays")[0]
        .get("tasks")
        .and_then(|t| t.as_seq())
        .expect("tasks");
    let mut errors = Vec::new();
    for task in tasks {
        let (call, args) = &task.as_map().expect("a task mapping")[0];
        errors.extend(spec.validate(call, args.as_map().expect("arguments")));
    }
    insta::assert_snapshot!(render(&errors, Path::new("/nonexistent")));
}

#[test]
fn broken_manifests_are_reported_in_the_manifest() {
    let project = Project::new();
    write_plugin(
        &project,
        "bad",
        "#!/bin/sh\n",
        r#"
        descripton: Broken on purpose
        runs_on: remote
        params:
          path: {type: pth, required: true}
          state: {type: str, choices: [present, absent], default: gone}
          mode: {type: mode, default: 644}
          count: {type: int, required: true, default: 3}
        "#,
    );
    let errors = Plugin::load(&project.path().join("library/bad.yml")).expect_err("invalid");
    insta::assert_snapshot!(render(&errors, project.path()));
}

#[test]
fn every_example_manifest_is_valid() {
    let plugins =
        plugin::load_dir(&examples().join("ensure-line/library"), Layout::Library).expect("valid");
    assert_eq!(
        plugins.iter().map(Plugin::name).collect::<Vec<_>>(),
        ["ensure_line"]
    );
    let src =
        SourceFile::read(&examples().join("restart-docker-on-ca-change/tasks/restart-docker.yml"))
            .expect("reads");
    let doc = yaml::parse(&src).expect("valid YAML");
    let params =
        dtrplay::tasks::manifest::params(doc.get("params").expect("params")).expect("valid params");
    assert_eq!(
        params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["service", "check_active"]
    );
}

fn write_plugin(project: &Project, name: &str, program: &str, manifest: &str) {
    use std::os::unix::fs::PermissionsExt;
    let exe = project.file(&format!("library/{name}"), program);
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    project.file(&format!("library/{name}.yml"), manifest);
}

/// An SSH connection to a lab node, as the executor opens it.
async fn ssh(nodes: &Nodes, name: &str, control: &Path) -> Box<dyn Connection> {
    let node = nodes.node(name);
    let target = Target {
        name: node.name.clone(),
        address: node.host.to_string(),
        port: Some(node.port),
        user: Some(node.user.clone()),
        key_file: Some(node.private_key().to_path_buf()),
        ssh_args: node
            .ssh_common_args()
            .split(' ')
            .map(str::to_string)
            .collect(),
        transport: Transport::Ssh,
        ssh_client: None,
    };
    let options = ConnectOptions {
        control_dir: control.to_path_buf(),
        persist: None,
        connect_timeout: Duration::from_secs(10),
        retries: 1,
        ssh_client: dtrplay::connection::SshClient::Auto,
        jumps: Default::default(),
    };
    connect(&target, &options)
        .await
        .expect("the node answers over SSH")
}

/// The temporary directories plugins left in a node's `$TMPDIR`: those
/// holding an arguments file.
fn leftovers(nodes: &Nodes, name: &str) -> Vec<String> {
    std::fs::read_dir(nodes.node(name).root.join("tmp"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("args.json").exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn over_ssh_the_plugin_is_shipped_run_and_removed_in_one_round_trip() {
    let nodes = Nodes::start(2);
    let project = Project::new();
    let control = project.path().join("ctl");
    // A program whose bytes are not all text: it reports the sha256 of the
    // copy that ran, which must be the bytes on the control machine.
    let mut program = b"#!/bin/sh\nsum=$(sha256sum \"$0\" | cut -d' ' -f1)\n\
        printf '{\"changed\": false, \"data\": {\"sum\": \"%s\", \"host\": \"%s\"}}' \"$sum\" \"$(cat \"$1\" | sed 's/.*\"host\":\"\\([^\"]*\\)\".*/\\1/')\"\nexit 0\n# "
        .to_vec();
    program.extend([0xff, 0x00, 0xfe, b'\n']);
    let exe = project.path().join("library/whoami");
    std::fs::create_dir_all(exe.parent().expect("parent")).expect("library dir");
    std::fs::write(&exe, &program).expect("write program");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    project.file(
        "library/whoami.yml",
        "description: Reports the sha256 of itself\n",
    );
    let registry = registry_with(
        plugin::load_dir(&project.path().join("library"), Layout::Library)
            .expect("loads")
            .into_iter()
            .chain([ensure_line()]),
    );
    let expected = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&program))
    };
    for name in ["node1", "node2"] {
        let conn = ssh(&nodes, name, &control).await;
        let Ok(Ended::InSync(o)) =
            run_on(conn.as_ref(), name, &registry, "whoami", json!({}), false).await
        else {
            panic!("whoami runs on {name}");
        };
        assert_eq!(o.data["data"], json!({"sum": expected, "host": name}));

        // The example plugin, on the node's private /srv.
        let args =
            json!({"path": "/srv/hosts", "line": "10.0.0.20 dtr.example.com", "create": true});
        let seen = nodes.node(name).path("/srv/hosts");
        let first = run_on(
            conn.as_ref(),
            name,
            &registry,
            "ensure_line",
            args.clone(),
            true,
        )
        .await;
        assert!(matches!(first, Ok(Ended::WouldChange(_))), "{first:?}");
        assert!(!seen.exists(), "check mode created {}", seen.display());
        let second = run_on(
            conn.as_ref(),
            name,
            &registry,
            "ensure_line",
            args.clone(),
            false,
        )
        .await;
        assert!(matches!(second, Ok(Ended::Changed(_))), "{second:?}");
        assert_eq!(
            std::fs::read_to_string(&seen).expect("written"),
            "10.0.0.20 dtr.example.com\n"
        );
        let third = run_on(conn.as_ref(), name, &registry, "ensure_line", args, false).await;
        assert!(matches!(third, Ok(Ended::InSync(_))), "{third:?}");
        assert_eq!(
            leftovers(&nodes, name),
            Vec::<String>::new(),
            "temporary directories on {name}"
        );
        conn.close().await;
    }
}

#[tokio::test]
async fn over_ssh_a_hung_plugin_is_killed_and_the_connection_lives_on() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    let control = project.path().join("ctl");
    write_plugin(&project, "hang", "#!/bin/sh\nsleep 300\n", "timeout: 1\n");
    write_plugin(
        &project,
        "fine",
        "#!/bin/sh\necho '{\"changed\": false, \"msg\": \"fine\"}'\n",
        "",
    );
    let registry = registry_with(
        plugin::load_dir(&project.path().join("library"), Layout::Library).expect("loads"),
    );
    let conn = ssh(&nodes, "node1", &control).await;
    let started = std::time::Instant::now();
    match run_on(conn.as_ref(), "node1", &registry, "hang", json!({}), false).await {
        Err(TaskError::Failed { msg, .. }) => {
            assert!(msg.contains("timed out after 1s and was killed"), "{msg}")
        }
        other => panic!("expected a timeout failure, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    // The same connection runs the next task.
    let next = run_on(conn.as_ref(), "node1", &registry, "fine", json!({}), false).await;
    assert!(
        matches!(&next, Ok(Ended::InSync(o)) if o.msg.as_deref() == Some("fine")),
        "{next:?}"
    );
    assert_eq!(leftovers(&nodes, "node1"), Vec::<String>::new());
    conn.close().await;
}

/// A project with the ensure-line example's plugin in its `library/`, an
/// inventory of `nodes`, and `site.yml`.
fn cli_project(nodes: &Nodes, playbook: &str) -> Project {
    let project = Project::new();
    let lib = examples().join("ensure-line/library");
    for file in ["ensure_line.py", "ensure_line.yml"] {
        let to = project.path().join("library").join(file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("library dir");
        std::fs::copy(lib.join(file), &to).expect("copy the example plugin");
    }
    let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    project.file("inventory.yml", &nodes.inventory(&[("nodes", &refs)], ""));
    project.file("site.yml", playbook);
    project
}

const PIN_PLAYBOOK: &str = r#"
    - name: Pin DTR
      hosts: nodes
      tasks:
        - name: Pin dtr.example.com
          ensure_line:
            path: /srv/hosts
            line: "10.0.0.20 dtr.example.com"
            create: true
          register: pinned
        - name: Show the registered result
          debug:
            msg: "{{ pinned.path }} {{ pinned.changed }}"
"#;

fn recap(run: &crate::harness::Run, host: &str) -> (u64, u64, u64) {
    let r = &run.recap()[host];
    let n = |k: &str| r[k].as_u64().unwrap_or(u64::MAX);
    (n("ok"), n("changed"), n("failed"))
}

#[test]
fn cli_plan_shows_the_diff_apply_changes_and_reapply_changes_nothing() {
    let nodes = Nodes::start(2);
    let project = cli_project(&nodes, PIN_PLAYBOOK);
    project
        .run(&["plan", "site.yml", "-i", "inventory.yml"])
        .success()
        .stdout_has("changed: [node1]")
        .stdout_has("+10.0.0.20 dtr.example.com");
    for node in nodes.fleet.nodes() {
        assert!(
            !node.path("/srv/hosts").exists(),
            "plan wrote on {}",
            node.name
        );
    }
    let first = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    first.success();
    for node in nodes.fleet.nodes() {
        assert_eq!(
            recap(&first, &node.name),
            (2, 1, 0),
            "first apply on {}",
            node.name
        );
        assert_eq!(
            std::fs::read_to_string(node.path("/srv/hosts")).expect("written"),
            "10.0.0.20 dtr.example.com\n"
        );
    }
    let debug = first
        .events()
        .into_iter()
        .find(|e| {
            e["event"] == "host_result"
                && e["host"] == "node1"
                && e["msg"].as_str().is_some_and(|m| m.starts_with("/srv"))
        })
        .expect("the debug result");
    assert_eq!(
        debug["msg"], "/srv/hosts True",
        "`returns: [path]` is registered"
    );
    let second = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    second.success();
    for node in nodes.fleet.nodes() {
        assert_eq!(
            recap(&second, &node.name),
            (2, 0, 0),
            "second apply on {}",
            node.name
        );
    }
}

#[test]
fn cli_validate_checks_custom_calls_like_built_ins() {
    let project = Project::new();
    let lib = examples().join("ensure-line/library");
    for file in ["ensure_line.py", "ensure_line.yml"] {
        let to = project.path().join("library").join(file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("library dir");
        std::fs::copy(lib.join(file), &to).expect("copy the example plugin");
    }
    project.file(
        "site.yml",
        r#"
        - hosts: all
          tasks:
            - ensure_line:
                paht: /etc/hosts
                line: 10.0.0.20 dtr
                state: gone
            - ensure_line: {path: /etc/hosts, line: x, create: maybe}
        "#,
    );
    let run = project.run(&["validate", "site.yml"]);
    run.status(4);
    insta::assert_snapshot!(run.stderr_filtered());
}

#[test]
fn cli_broken_manifests_stop_the_run_before_any_host() {
    let project = Project::new();
    write_plugin(
        &project,
        "bad",
        "#!/bin/sh\n",
        "params:\n  x: {type: strng}\n",
    );
    project.file("site.yml", "- hosts: all\n  tasks:\n    - bad: {x: 1}\n");
    let run = project.run(&["validate", "site.yml"]);
    run.status(4)
        .stderr_has("unknown type `strng`")
        .stderr_has("did you mean `str`?");
}

#[test]
fn cli_a_broken_plugin_fails_its_host_only() {
    let nodes = Nodes::start(2);
    let project = cli_project(
        &nodes,
        r#"
        - name: One node's plugin breaks
          hosts: nodes
          tasks:
            - name: Flaky
              flaky: {}
            - name: Next
              ensure_line: {path: /srv/next, line: next, create: true}
        "#,
    );
    // It crashes on node1 only (dtrplay tells it the host).
    write_plugin(
        &project,
        "flaky",
        "#!/bin/sh\nif grep -q '\"host\":\"node1\"' \"$1\"; then echo 'Traceback: boom' >&2; exit 1; fi\n\
         echo '{\"changed\": false}'\n",
        "description: Breaks on node1\n",
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.status(2);
    assert_eq!(recap(&run, "node1"), (0, 0, 1));
    assert_eq!(recap(&run, "node2"), (2, 1, 0));
    let failure = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "host_result" && e["status"] == "failed")
        .expect("a failure");
    let msg = failure["msg"].as_str().expect("a message");
    assert!(
        msg.starts_with("task `flaky` on node1 (check): ")
            && msg.contains("exited with status 1 without printing JSON"),
        "{msg}"
    );
    assert!(msg.ends_with("stderr:\n  Traceback: boom"), "{msg}");
    assert!(
        nodes.node("node2").path("/srv/next").exists(),
        "node2 went on"
    );
    assert!(
        !nodes.node("node1").path("/srv/next").exists(),
        "node1 stopped"
    );
}

/// The Rust example's own binary (`cargo build --example rust_task`, which
/// is quick when `scripts/test` has built the examples already), beside the
/// test binary in cargo's target directory.
fn rust_example_binary() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--example", "rust_task"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the rust_task example builds");
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps");
    profile_dir.join("examples/rust_task")
}

/// The Rust example, compiled into the tests so they can register its task.
#[allow(dead_code)]
#[path = "../examples/rust-task/main.rs"]
mod rust_task_example;

#[tokio::test]
async fn the_rust_example_task_checks_applies_and_is_idempotent_over_ssh() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    let control = project.path().join("ctl");
    let mut registry = Registry::default();
    rust_task_example::register(&mut registry);
    let seen = nodes.node("node1").path("/srv/daemon.json");
    std::fs::create_dir_all(seen.parent().expect("parent")).expect("srv");
    std::fs::write(&seen, "{\"debug\": true}\n").expect("seed");
    let conn = ssh(&nodes, "node1", &control).await;
    let args = json!({"path": "/srv/daemon.json", "settings": {"max-concurrent-uploads": 3}});
    let run = |check_mode| {
        run_on(
            conn.as_ref(),
            "node1",
            &registry,
            "daemon-json",
            args.clone(),
            check_mode,
        )
    };
    let Ok(Ended::WouldChange(preview)) = run(true).await else {
        panic!("a missing setting is drift");
    };
    let wanted = "{\n  \"debug\": true,\n  \"max-concurrent-uploads\": 3\n}\n";
    assert_eq!(
        preview.diffs[0].before.as_deref(),
        Some("{\"debug\": true}\n")
    );
    assert_eq!(preview.diffs[0].after.as_deref(), Some(wanted));
    assert_eq!(
        std::fs::read_to_string(&seen).expect("read"),
        "{\"debug\": true}\n",
        "check mode wrote"
    );
    assert!(matches!(run(false).await, Ok(Ended::Changed(_))));
    assert_eq!(std::fs::read_to_string(&seen).expect("read"), wanted);
    assert!(
        matches!(run(false).await, Ok(Ended::InSync(_))),
        "a second apply changes nothing"
    );
    conn.close().await;
}

#[test]
fn main_with_validates_the_extra_tasks_like_built_ins() {
    let project = Project::new();
    let good = project.file(
        "good.yml",
        "- hosts: all\n  tasks:\n    - daemon-json: {settings: {debug: true}}\n",
    );
    let bad = project.file(
        "bad.yml",
        "- hosts: all\n  tasks:\n    - daemon-json: {setings: {debug: true}}\n",
    );
    let validate = |playbook: &Path| {
        dtrplay::run::main_with(
            [
                "dtrplay".into(),
                "validate".into(),
                playbook.as_os_str().to_owned(),
            ],
            rust_task_example::register,
        )
    };
    assert_eq!(validate(&good), std::process::ExitCode::SUCCESS);
    assert_eq!(validate(&bad), std::process::ExitCode::from(4));
    // Without the extension the task does not exist.
    let plain = dtrplay::run::main([
        "dtrplay".into(),
        "validate".into(),
        good.as_os_str().to_owned(),
    ]);
    assert_eq!(plain, std::process::ExitCode::from(4));
}

/// Runs the real binary on a lab inventory, from the repository root.
async fn apply_on_lab(playbook: &str, inventory: &Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_dtrplay"))
        .args(["apply", playbook, "-i"])
        .arg(inventory)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .expect("run dtrplay")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restart_example_restarts_docker_only_where_the_ca_changed() {
    use dtrplay_lab::docker::restart_count;
    use dtrplay_lab::{Flavor, Lab, LabOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LabOptions::new(
        dir.path().join("lab"),
        Flavor::Ucp1,
        3,
        1,
        env!("CARGO_BIN_EXE_dtrplay"),
    );
    // The lab's names need its proxy; these examples do not need names.
    let options = LabOptions {
        names: false,
        ..options
    };
    let lab = Lab::start(&options).await.expect("start the lab");
    let playbook = "examples/restart-docker-on-ca-change/playbook.yml";
    let restarts = || {
        lab.nodes()
            .iter()
            .map(|n| restart_count(&n.root))
            .collect::<Vec<_>>()
    };
    let ok = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };

    let plan = tokio::process::Command::new(env!("CARGO_BIN_EXE_dtrplay"))
        .args(["plan", playbook, "-i"])
        .arg(lab.inventory_path())
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .expect("run dtrplay plan");
    ok(&plan);
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert!(
        stdout.contains("changed: [node2]: would run: systemctl restart docker"),
        "the plan shows the handler's body\n{stdout}"
    );
    assert_eq!(restarts(), [0, 0, 0], "plan restarted nothing");

    ok(&apply_on_lab(playbook, lab.inventory_path()).await);
    assert_eq!(
        restarts(),
        [1, 1, 1],
        "every node got the CA, so every node restarted"
    );

    // node2 loses its CA: only node2 gets it back, and only node2 restarts.
    let node2 = &lab.nodes()[1];
    let certs = node2.path(&node2.certs_dir().display().to_string());
    std::fs::remove_dir_all(&certs).expect("remove node2's certs.d");
    ok(&apply_on_lab(playbook, lab.inventory_path()).await);
    assert_eq!(restarts(), [1, 2, 1]);

    let out = apply_on_lab(playbook, lab.inventory_path()).await;
    ok(&out);
    assert_eq!(restarts(), [1, 2, 1], "nothing changed, nothing restarted");
    lab.stop().await.expect("stop the lab");
}

#[test]
fn cli_validate_checks_task_file_calls_and_their_manifests() {
    let project = Project::new();
    let task_file = examples().join("restart-docker-on-ca-change/tasks/restart-docker.yml");
    let text = std::fs::read_to_string(task_file).expect("the example task file");
    std::fs::create_dir_all(project.path().join("tasks")).expect("tasks dir");
    std::fs::write(project.path().join("tasks/restart-docker.yml"), text).expect("copy");
    project.file(
        "site.yml",
        "- hosts: all\n  tasks:\n    - restart-docker: {servce: docker, check_active: maybe}\n",
    );
    project
        .run(&["validate", "site.yml"])
        .status(4)
        .stderr_has("unknown argument `servce` for `restart-docker`")
        .stderr_has("did you mean `service`?")
        .stderr_has("argument `check_active` must be a boolean");
    project.file(
        "tasks/broken.yml",
        "params:\n  when_: {type: boolen}\ntasks:\n  - debug: {msg: hi}\n",
    );
    project.file(
        "site.yml",
        "- hosts: all\n  tasks:\n    - restart-docker: {}\n",
    );
    project
        .run(&["validate", "site.yml"])
        .status(4)
        .stderr_has("unknown type `boolen`")
        .stderr_has("did you mean `bool`?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_and_rust_examples_run_against_the_lab() {
    use dtrplay_lab::{Flavor, Lab, LabOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LabOptions::new(
        dir.path().join("lab"),
        Flavor::Ucp1,
        2,
        1,
        env!("CARGO_BIN_EXE_dtrplay"),
    );
    // The lab's names need its proxy; these examples do not need names.
    let options = LabOptions {
        names: false,
        ..options
    };
    let lab = Lab::start(&options).await.expect("start the lab");
    let inventory = lab.inventory_path().to_path_buf();
    let dtrplay = |args: &[&str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dtrplay"))
            .args(args)
            .arg("-i")
            .arg(&inventory)
            .args(["-e", "hosts_file=/srv/hosts", "--output", "json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
    };
    let changed = |out: &std::process::Output| -> Vec<u64> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let recap: Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["event"] == "recap")
            .expect("a recap");
        ["node1", "node2"]
            .iter()
            .map(|h| recap["hosts"][h]["changed"].as_u64().unwrap_or(u64::MAX))
            .collect()
    };
    let playbook = "examples/ensure-line/playbook.yml";
    assert_eq!(
        changed(&dtrplay(&["plan", playbook]).await.expect("plan")),
        [1, 1]
    );
    for node in lab.nodes() {
        assert!(
            !node.path("/srv/hosts").exists(),
            "plan wrote on {}",
            node.name
        );
    }
    assert_eq!(
        changed(&dtrplay(&["apply", playbook]).await.expect("apply")),
        [1, 1]
    );
    for node in lab.nodes() {
        let text = std::fs::read_to_string(node.path("/srv/hosts")).expect("written");
        assert_eq!(text, "10.0.0.20 dtr.example.com\n");
    }
    assert_eq!(
        changed(&dtrplay(&["apply", playbook]).await.expect("re-apply")),
        [0, 0]
    );

    // The Rust example as its users run it: its own binary, a dtrplay
    // with one more task, started as a process with its output captured.
    let example = rust_example_binary();
    let args: Vec<String> = [
        "apply",
        &format!(
            "{}/examples/rust-task/playbook.yml",
            env!("CARGO_MANIFEST_DIR")
        ),
        "-i",
        &inventory.display().to_string(),
        "-e",
        "daemon_json=/srv/daemon.json",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let apply = move || {
        let out = std::process::Command::new(&example)
            .args(&args)
            .output()
            .expect("the example runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    assert!(apply().contains("PLAY RECAP"));
    let wanted = "{\n  \"max-concurrent-uploads\": 3,\n  \"log-opts\": {\n    \"max-size\": \"10m\"\n  }\n}\n";
    for node in lab.nodes() {
        assert_eq!(
            std::fs::read_to_string(node.path("/srv/daemon.json")).expect("written"),
            wanted
        );
    }
    let before: Vec<_> = lab
        .nodes()
        .iter()
        .map(|n| {
            std::fs::metadata(n.path("/srv/daemon.json"))
                .and_then(|m| m.modified())
                .expect("stat")
        })
        .collect();
    let second = apply();
    assert!(!second.contains("changed=1"), "{second}");
    let after: Vec<_> = lab
        .nodes()
        .iter()
        .map(|n| {
            std::fs::metadata(n.path("/srv/daemon.json"))
                .and_then(|m| m.modified())
                .expect("stat")
        })
        .collect();
    assert_eq!(before, after, "a second apply rewrote nothing");
    lab.stop().await.expect("stop the lab");
}
