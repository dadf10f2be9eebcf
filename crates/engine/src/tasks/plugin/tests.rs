//! Plugin tests at the task level: real programs run through a
//! `LocalConnection`, both shipped to a temporary directory (as on a
//! target) and run in place (as on the control machine).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tempfile::TempDir;

use super::*;
use crate::task::DynTask;

/// A shell plugin that ensures a line is in a file. It reads its
/// arguments with `sed` (dtrplay writes compact JSON), honours check mode,
/// and reports a diff.
const ENSURE_LINE: &str = r#"#!/bin/sh
args=$(cat "$1")
field() { printf '%s' "$args" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
path=$(field path); line=$(field line)
check=false; case "$args" in *'"check_mode":true'*) check=true ;; esac
if [ -f "$path" ] && grep -qxF "$line" "$path"; then
  printf '{"changed": false, "msg": "line present"}\n'; exit 0
fi
before=$(cat "$path" 2>/dev/null)
[ "$check" = true ] || printf '%s\n' "$line" >> "$path"
printf '{"changed": true, "msg": "line added", "diff": {"before_header": "%s", "before": "%s", "after": "%s\\n"}, "path": "%s"}\n' \
  "$path" "$before" "$line" "$path"
"#;

const ENSURE_LINE_MANIFEST: &str = "description: Ensure a line is in a file\n\
params:\n  path: {type: path, required: true}\n  line: {type: str, required: true}\n\
returns: [path]\n";

struct Lib {
    dir: TempDir,
}

impl Lib {
    fn new() -> Lib {
        Lib {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Writes `library/<name>` (executable) and its manifest.
    fn plugin(&self, name: &str, program: &str, manifest: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let lib = self.dir.path().join("library");
        std::fs::create_dir_all(&lib).expect("library dir");
        let exe = lib.join(name);
        std::fs::write(&exe, program).expect("write program");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let m = lib.join(format!("{name}.yml"));
        std::fs::write(&m, manifest).expect("write manifest");
        m
    }

    fn library(&self) -> std::path::PathBuf {
        self.dir.path().join("library")
    }

    fn load(&self, name: &str) -> Plugin {
        Plugin::load(&self.library().join(format!("{name}.yml"))).expect("the plugin loads")
    }
}

/// What a run of a task ended with in the tests.
#[derive(Debug)]
enum Ran {
    InSync(Outcome),
    Drift(Outcome),
    Applied(Outcome),
}

/// Checks a task (and applies it unless in check mode) the way the
/// executor does, with a local connection.
async fn run(plugin: &Plugin, args: Value, check_mode: bool) -> Result<Ran, TaskError> {
    run_on(plugin, args, check_mode, Duration::from_secs(60)).await
}

async fn run_on(
    plugin: &Plugin,
    args: Value,
    check_mode: bool,
    timeout: Duration,
) -> Result<Ran, TaskError> {
    let mut registry = Registry::default();
    plugin.clone().register(&mut registry);
    let entry = registry.get(plugin.name()).expect("registered");
    let coerced = entry
        .spec
        .coerce(args.as_object().expect("object args"))
        .expect("arguments coerce");
    let task: Box<dyn DynTask> = (entry.build)(coerced).expect("builds");
    let conn = LocalConnection::new("node1");
    let vars = Map::new();
    let eval = |_: &str| -> Result<Value, String> { Ok(Value::Null) };
    let peers = |_: &str| -> Option<std::sync::Arc<dyn Connection>> { None };
    let cx = Context::new(
        "node1", &conn, check_mode, true, timeout, &vars, &eval, &peers,
    );
    match task.check_dyn(&cx).await? {
        Check::InSync(o) => Ok(Ran::InSync(o)),
        Check::Drift { preview, .. } if check_mode => Ok(Ran::Drift(preview)),
        Check::Drift { drift, .. } => Ok(Ran::Applied(task.apply_dyn(&cx, drift).await?)),
    }
}

fn failed(result: Result<Ran, TaskError>) -> (String, Map<String, Value>) {
    match result {
        Err(TaskError::Failed { msg, data }) => (msg, data),
        other => panic!("expected a task failure, got {other:?}"),
    }
}

async fn check_apply_reapply(plugin: &Plugin, file: &Path) {
    let args = json!({"path": file.display().to_string(), "line": "hello"});
    std::fs::write(file, "first\n").expect("seed");
    let Ran::Drift(preview) = run(plugin, args.clone(), true).await.expect("check runs") else {
        panic!("a missing line is drift");
    };
    assert!(preview.changed);
    assert_eq!(preview.diffs.len(), 1);
    assert_eq!(preview.diffs[0].subject, file.display().to_string());
    assert_eq!(preview.diffs[0].after.as_deref(), Some("hello\n"));
    assert_eq!(
        std::fs::read_to_string(file).expect("read"),
        "first\n",
        "check mode changes nothing"
    );

    let Ran::Applied(done) = run(plugin, args.clone(), false).await.expect("apply runs") else {
        panic!("apply acts on the drift");
    };
    assert!(done.changed);
    assert_eq!(done.data["path"], json!(file.display().to_string()));
    assert_eq!(
        std::fs::read_to_string(file).expect("read"),
        "first\nhello\n"
    );

    let Ran::InSync(again) = run(plugin, args, false).await.expect("re-apply runs") else {
        panic!("a second apply finds nothing to do");
    };
    assert!(!again.changed);
    assert_eq!(again.msg.as_deref(), Some("line present"));
}

#[tokio::test]
async fn shipped_plugin_checks_applies_and_is_idempotent() {
    let lib = Lib::new();
    lib.plugin("ensure_line", ENSURE_LINE, ENSURE_LINE_MANIFEST);
    let plugin = lib.load("ensure_line");
    assert_eq!(plugin.manifest.runs_on, RunsOn::Target);
    check_apply_reapply(&plugin, &lib.dir.path().join("target.txt")).await;
}

#[tokio::test]
async fn control_plugin_runs_in_place() {
    let lib = Lib::new();
    lib.plugin(
        "ensure_line",
        ENSURE_LINE,
        &format!("{ENSURE_LINE_MANIFEST}runs_on: control\n"),
    );
    let plugin = lib.load("ensure_line");
    assert!(plugin.spec().on_control);
    check_apply_reapply(&plugin, &lib.dir.path().join("control.txt")).await;
}

#[tokio::test]
async fn the_arguments_file_follows_the_protocol() {
    let lib = Lib::new();
    // The program echoes its input back under `data`.
    lib.plugin(
        "echo",
        "#!/bin/sh\nprintf '{\"changed\": false, \"data\": %s}' \"$(cat \"$1\")\"\n",
        "params:\n  count: {type: int, default: 3}\n",
    );
    let Ran::InSync(o) = run(&lib.load("echo"), json!({}), true).await.expect("runs") else {
        panic!("unchanged");
    };
    let input = &o.data["data"];
    assert_eq!(
        input["args"],
        json!({"count": 3, "_ansible_check_mode": true, "_ansible_diff": true})
    );
    assert_eq!(input["ANSIBLE_MODULE_ARGS"], input["args"]);
    assert_eq!(input["check_mode"], true);
    assert_eq!(input["diff"], true);
    assert_eq!(
        input["dtrplay"],
        json!({"version": 1, "host": "node1", "task": "echo"})
    );
}

#[tokio::test]
async fn a_crash_names_task_host_program_and_stderr() {
    let lib = Lib::new();
    lib.plugin(
        "crash",
        "#!/bin/sh\necho 'Traceback: boom' >&2\necho 'KeyError: path' >&2\nexit 3\n",
        "",
    );
    let plugin = lib.load("crash");
    let (msg, data) = failed(run(&plugin, json!({}), false).await);
    let path = plugin.path.display();
    assert_eq!(
        msg,
        format!(
            "task `crash` on node1 (check): {path} exited with status 3 without printing JSON\n\
             stderr:\n  Traceback: boom\n  KeyError: path"
        )
    );
    assert_eq!(data["rc"], 3);
}

#[tokio::test]
async fn non_json_and_unknown_fields_are_failures() {
    let lib = Lib::new();
    lib.plugin("text", "#!/bin/sh\necho all good\n", "");
    lib.plugin("typo", "#!/bin/sh\necho '{\"chnaged\": true}'\n", "");
    let (msg, _) = failed(run(&lib.load("text"), json!({}), true).await);
    assert!(msg.contains("printed output that is not JSON"), "{msg}");
    let (msg, _) = failed(run(&lib.load("typo"), json!({}), true).await);
    assert!(
        msg.ends_with("printed an unknown field `chnaged` (did you mean `changed`?)"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_program_and_leaves_the_connection_usable() {
    let lib = Lib::new();
    lib.plugin("slow", "#!/bin/sh\nsleep 30\necho '{}'\n", "timeout: 1\n");
    let started = Instant::now();
    let (msg, _) = failed(run(&lib.load("slow"), json!({}), true).await);
    assert!(msg.contains("timed out after 1s and was killed"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // A task's own, shorter timeout wins over the manifest's.
    lib.plugin("slower", "#!/bin/sh\nsleep 30\n", "timeout: 20\n");
    let (msg, _) =
        failed(run_on(&lib.load("slower"), json!({}), true, Duration::from_secs(1)).await);
    assert!(msg.contains("timed out after 1s"), "{msg}");
}

#[tokio::test]
async fn reported_failures_keep_their_message_and_data() {
    let lib = Lib::new();
    lib.plugin(
        "refuse",
        "#!/bin/sh\necho '{\"failed\": true, \"msg\": \"no such user\", \"data\": {\"user\": \"bob\"}}'\nexit 1\n",
        "",
    );
    let (msg, data) = failed(run(&lib.load("refuse"), json!({}), true).await);
    assert_eq!(msg, "no such user");
    assert_eq!(data["data"], json!({"user": "bob"}));
    assert_eq!(data["rc"], 1);
}

#[tokio::test]
async fn secrets_never_reach_the_output() {
    let lib = Lib::new();
    lib.plugin(
        "login",
        "#!/bin/sh\ntoken=$(sed -n 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/p' \"$1\")\n\
         printf '{\"changed\": true, \"msg\": \"logged in with %s\", \"diff\": {\"after\": \"%s\"}}' \"$token\" \"$token\"\n",
        "params:\n  token: {type: str, secret: true, required: true}\n",
    );
    let Ran::Drift(o) = run(&lib.load("login"), json!({"token": "hunter22"}), true)
        .await
        .expect("runs")
    else {
        panic!("changed");
    };
    assert_eq!(o.msg.as_deref(), Some("logged in with ********"));
    assert_eq!(o.diffs[0].after.as_deref(), Some("********"));
}

#[tokio::test]
async fn plugins_without_check_mode_run_only_on_apply() {
    let lib = Lib::new();
    let marker = lib.dir.path().join("ran");
    lib.plugin(
        "oneshot",
        &format!(
            "#!/bin/sh\ntouch '{}'\necho '{{\"changed\": true, \"msg\": \"done\"}}'\n",
            marker.display()
        ),
        "supports_check_mode: false\n",
    );
    let plugin = lib.load("oneshot");
    let Ran::Drift(preview) = run(&plugin, json!({}), true).await.expect("checks") else {
        panic!("would run");
    };
    assert!(preview.msg.is_some_and(|m| m.contains("cannot check")));
    assert!(!marker.exists(), "check mode did not run the program");
    let Ran::Applied(done) = run(&plugin, json!({}), false).await.expect("applies") else {
        panic!("ran");
    };
    assert_eq!(done.msg.as_deref(), Some("done"));
    assert!(marker.exists());
}

#[tokio::test]
async fn skipped_replies_are_not_changes() {
    let lib = Lib::new();
    lib.plugin(
        "skip",
        "#!/bin/sh\necho '{\"skipped\": true, \"changed\": true, \"msg\": \"not on this OS\"}'\n",
        "",
    );
    let Ran::InSync(o) = run(&lib.load("skip"), json!({}), false)
        .await
        .expect("runs")
    else {
        panic!("skipped is in sync");
    };
    assert!(!o.changed);
    assert_eq!(o.data["skipped"], true);
}

#[test]
fn manifests_are_checked() {
    let lib = Lib::new();
    let m = lib.plugin(
        "bad",
        "#!/bin/sh\n",
        "runs_on: remote\ntimeout: soon\nretruns: [x]\nparams:\n  x: {type: strng}\n",
    );
    let errors = Plugin::load(&m).expect_err("invalid");
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "unknown key `retruns` in the manifest of `bad`",
            "`runs_on` must be `target` or `control`, not remote",
            "`timeout` must be a whole number of seconds, not soon",
            "unknown type `strng`",
        ]
    );
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `returns`?"));
}

#[test]
fn a_library_pairs_programs_and_manifests() {
    use std::os::unix::fs::PermissionsExt;
    let lib = Lib::new();
    lib.plugin("good", "#!/bin/sh\n", "");
    let dir = lib.library();
    // A manifest without a program, a program without a manifest, a
    // program that is not executable, and a README that is neither.
    std::fs::write(dir.join("orphan.yml"), "params: {}\n").expect("write");
    std::fs::write(dir.join("stray"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(dir.join("stray"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::write(dir.join("plain.py"), "print()\n").expect("write");
    std::fs::write(dir.join("plain.yml"), "").expect("write");
    std::fs::write(dir.join("README.md"), "docs\n").expect("write");
    let errors = load_dir(&dir, Layout::Library).expect_err("problems");
    let messages: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(
        messages[0].starts_with("the task manifest")
            && messages[0].ends_with("orphan.yml has no program beside it")
    );
    assert!(
        messages[1].contains("plain.py, is not executable"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].ends_with("stray is executable but has no task manifest"),
        "{}",
        messages[2]
    );

    // In a task path, a YAML file without a program is a task file.
    std::fs::remove_file(dir.join("stray")).expect("rm");
    std::fs::remove_file(dir.join("plain.py")).expect("rm");
    let plugins = load_dir(&dir, Layout::TaskPath).expect("loads");
    let names: Vec<&str> = plugins.iter().map(Plugin::name).collect();
    assert_eq!(names, ["good"]);
    assert!(
        load_dir(&lib.dir.path().join("missing"), Layout::Library)
            .expect("no dir")
            .is_empty()
    );
}

#[test]
fn plugins_may_not_replace_existing_tasks() {
    let lib = Lib::new();
    lib.plugin("copy", "#!/bin/sh\n", "");
    let mut registry = Registry::default();
    let existing = Spec::new("copy", Vec::new());
    registry.register(existing, Arc::new(|_| Err("unused".to_string())));
    let errors = register_dir(&mut registry, &lib.library(), Layout::Library);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "task `copy` is already defined");
}
