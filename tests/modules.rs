//! The built-in modules (`copy`, `template`, `file`, `command`, `shell`,
//! `debug`, `assert`, `set_fact`, `fail`) against a real shell: a
//! `LocalConnection` over a temporary directory, and once over real SSH.
//!
//! Each test follows the protocol the executor follows: a check on a fresh
//! target must report the drift (and its diff) and change nothing, an apply
//! must change exactly that, and a second check must be in sync.

use std::error::Error;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tempfile::TempDir;

use dtrplay::connection::local::LocalConnection;
use dtrplay::connection::{ConnError, Connection, Output};
use dtrplay::params::Spec;
use dtrplay::task::{Check, Context, Outcome, Task, TaskError};
use dtrplay::tasks::remote::shell_quote;
use dtrplay::tasks::{assert, command, copy, debug, fail, file, set_fact, template};

type TestResult = Result<(), Box<dyn Error>>;

/// A name that breaks every careless quoting: spaces, both quotes, a dollar
/// sign, a glob character and a newline.
const WEIRD: &str = "we ird'\"$x*\nname";

/// The evaluator the executor would supply, reduced to what tests need:
/// minijinja expressions over the host's variables, undefined is an error.
fn evaluate(vars: &Map<String, Value>, expr: &str) -> Result<Value, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let compiled = env.compile_expression(expr).map_err(|e| e.to_string())?;
    let value = compiled
        .eval(minijinja::Value::from(minijinja::value::Serde(vars)))
        .map_err(|e| e.to_string())?;
    if value.is_undefined() {
        return Err(format!("'{expr}' is undefined"));
    }
    serde_json::to_value(&value).map_err(|e| e.to_string())
}

/// The evaluator a `Host` owns.
type Eval = Box<dyn Fn(&str) -> Result<Value, String> + Sync>;

fn no_peers(_: &str) -> Option<Arc<dyn Connection>> {
    None
}

/// One target host: a connection, its variables, and a scratch directory.
struct Host {
    dir: TempDir,
    conn: Box<dyn Connection>,
    vars: Map<String, Value>,
    eval: Eval,
    check_mode: bool,
    diff: bool,
    timeout: Duration,
}

impl Host {
    fn local() -> Result<Host, Box<dyn Error>> {
        Host::with(Box::new(LocalConnection::new("local")), Map::new())
    }

    fn with(conn: Box<dyn Connection>, vars: Map<String, Value>) -> Result<Host, Box<dyn Error>> {
        let eval_vars = vars.clone();
        Ok(Host {
            dir: tempfile::tempdir()?,
            conn,
            vars,
            eval: Box::new(move |expr| evaluate(&eval_vars, expr)),
            check_mode: false,
            diff: true,
            timeout: Duration::from_secs(30),
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The path as a task argument.
    fn arg(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }

    fn cx(&self) -> Context<'_> {
        Context::new(
            "local",
            self.conn.as_ref(),
            self.check_mode,
            self.diff,
            self.timeout,
            &self.vars,
            self.eval.as_ref(),
            &no_peers,
        )
    }

    async fn check<T: Task>(&self, task: &T) -> Result<Check<T::Drift>, TaskError> {
        task.check(&self.cx()).await
    }

    /// What the executor does outside check mode: check, then apply the
    /// drift if there is one.
    async fn converge<T: Task>(&self, task: &T) -> Result<Outcome, TaskError> {
        let cx = self.cx();
        match task.check(&cx).await? {
            Check::InSync(outcome) => Ok(outcome),
            Check::Drift { drift, .. } => task.apply(&cx, drift).await,
        }
    }

    /// Every entry below the scratch directory, for "nothing changed".
    fn snapshot(&self) -> Vec<(PathBuf, u32, u64, Vec<u8>)> {
        let mut entries = Vec::new();
        walk(self.dir.path(), &mut entries);
        entries.sort();
        entries
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u32, u64, Vec<u8>)>) {
    let Ok(read) = fs::read_dir(dir) else { return };
    for entry in read.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let content = if meta.is_file() {
            fs::read(&path).unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push((path.clone(), meta.mode(), meta.ino(), content));
        if meta.is_dir() {
            walk(&path, out);
        }
    }
}

/// Builds a task the way the loader will: coerce with the spec, then
/// deserialize.
fn task<T: DeserializeOwned>(spec: Spec, args: Value) -> Result<T, Box<dyn Error>> {
    let Value::Object(args) = args else {
        return Err("arguments must be a mapping".into());
    };
    let coerced = spec.coerce(&args)?;
    Ok(serde_json::from_value(Value::Object(coerced))?)
}

/// The drift's preview, or an error naming what came back instead.
fn preview<D>(check: Check<D>) -> Result<Outcome, Box<dyn Error>> {
    match check {
        Check::Drift { preview, .. } => Ok(preview),
        Check::InSync(outcome) => Err(format!("expected drift, got in sync: {outcome:?}").into()),
    }
}

fn in_sync<D>(check: &Check<D>) -> bool {
    matches!(check, Check::InSync(_))
}

fn mode_of(path: &Path) -> Result<u32, Box<dyn Error>> {
    Ok(fs::symlink_metadata(path)?.permissions().mode() & 0o7777)
}

fn leftovers(dir: &Path) -> Result<Vec<String>, Box<dyn Error>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with(".dtrplay.") {
            names.push(name);
        }
    }
    Ok(names)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn failure_msg<T: std::fmt::Debug>(result: Result<T, TaskError>) -> Result<String, Box<dyn Error>> {
    match result {
        Err(TaskError::Failed { msg, .. }) => Ok(msg),
        other => Err(format!("expected a task failure, got {other:?}").into()),
    }
}

fn data<'a>(outcome: &'a Outcome, key: &str) -> &'a Value {
    outcome.data.get(key).unwrap_or(&Value::Null)
}

// ---------------------------------------------------------------- copy

#[tokio::test]
async fn copy_checks_without_touching_then_writes_then_is_in_sync() -> TestResult {
    let host = Host::local()?;
    let dest = host.arg("app.conf");
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "port: 80\n", "dest": dest, "mode": "0640"}),
    )?;

    let before = host.snapshot();
    let first = preview(host.check(&copy).await?)?;
    assert_eq!(host.snapshot(), before, "the check changed the host");
    assert!(first.changed);
    assert_eq!(
        first.msg.as_deref(),
        Some(format!("would change {dest}: absent → file, mode 0640").as_str())
    );
    assert_eq!(first.diffs.len(), 1);
    assert_eq!(first.diffs[0].subject, dest);
    assert_eq!(first.diffs[0].before, None);
    assert_eq!(first.diffs[0].after.as_deref(), Some("port: 80\n"));

    let applied = host.converge(&copy).await?;
    assert!(applied.changed);
    assert_eq!(fs::read_to_string(host.path("app.conf"))?, "port: 80\n");
    assert_eq!(mode_of(&host.path("app.conf"))?, 0o640);
    assert_eq!(data(&applied, "dest"), &json!(dest));
    assert!(leftovers(host.dir.path())?.is_empty());

    assert!(in_sync(&host.check(&copy).await?));
    Ok(())
}

#[tokio::test]
async fn copy_changes_only_what_differs() -> TestResult {
    let host = Host::local()?;
    let path = host.path("f");
    fs::write(&path, "same\n")?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    let inode = fs::metadata(&path)?.ino();
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "same\n", "dest": host.arg("f"), "mode": "0644"}),
    )?;

    let first = preview(host.check(&copy).await?)?;
    let msg = first.msg.unwrap_or_default();
    assert!(msg.ends_with(": mode 0600 → 0644"), "{msg}");
    assert_eq!(first.diffs.len(), 1, "{:?}", first.diffs);
    assert_eq!(first.diffs[0].before.as_deref(), Some("mode: 0600\n"));
    assert_eq!(first.diffs[0].after.as_deref(), Some("mode: 0644\n"));

    host.converge(&copy).await?;
    assert_eq!(mode_of(&path)?, 0o644);
    // Only a chmod: the same file, not a new one renamed over it.
    assert_eq!(fs::metadata(&path)?.ino(), inode);
    assert!(in_sync(&host.check(&copy).await?));
    Ok(())
}

/// Contents large enough that their script would not fit in one `sh -c`
/// argument (128 KiB on Linux) still reach a local host, both inline in the
/// script and, above the inline limit, on standard input; a re-run is in
/// sync, and a one-byte change is seen.
#[tokio::test]
async fn copy_large_contents_over_a_local_connection() -> TestResult {
    let host = Host::local()?;
    for (name, size) in [("inline", 200 * 1024), ("stdin", 300 * 1024)] {
        let content: String = (0..size)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let copy: copy::Copy = task(
            copy::spec(),
            json!({"content": content, "dest": host.arg(name), "mode": "0644"}),
        )?;
        assert!(host.converge(&copy).await?.changed, "{name}");
        assert_eq!(fs::read_to_string(host.path(name))?, content, "{name}");
        assert!(in_sync(&host.check(&copy).await?), "{name}");
        let mut edited = content.into_bytes();
        edited[size / 2] = b'-';
        fs::write(host.path(name), &edited)?;
        assert!(!in_sync(&host.check(&copy).await?), "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn copy_replaces_content_by_rename_and_keeps_the_old_mode() -> TestResult {
    let host = Host::local()?;
    let path = host.path("f");
    fs::write(&path, "old\n")?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o604))?;
    // A second name for the old file: a rename leaves it with the old
    // content, an in-place write would not.
    fs::hard_link(&path, host.path("old-name"))?;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "new\n", "dest": host.arg("f")}),
    )?;

    let first = preview(host.check(&copy).await?)?;
    assert_eq!(first.diffs[0].before.as_deref(), Some("old\n"));
    assert_eq!(first.diffs[0].after.as_deref(), Some("new\n"));

    host.converge(&copy).await?;
    assert_eq!(fs::read_to_string(&path)?, "new\n");
    assert_eq!(fs::read_to_string(host.path("old-name"))?, "old\n");
    assert_eq!(mode_of(&path)?, 0o604, "an existing file keeps its mode");
    assert!(leftovers(host.dir.path())?.is_empty());
    Ok(())
}

#[tokio::test]
async fn copy_new_file_without_mode_gets_the_umask_default() -> TestResult {
    let host = Host::local()?;
    let copy: copy::Copy = task(copy::spec(), json!({"content": "x", "dest": host.arg("f")}))?;
    host.converge(&copy).await?;
    let out = std::process::Command::new("sh")
        .args(["-c", "umask"])
        .output()?;
    let umask = u32::from_str_radix(String::from_utf8_lossy(&out.stdout).trim(), 8)?;
    assert_eq!(mode_of(&host.path("f"))?, 0o666 & !umask);
    Ok(())
}

#[tokio::test]
async fn copy_killed_mid_write_leaves_the_old_content() -> TestResult {
    let mut host = Host::local()?;
    let path = host.path("f");
    fs::write(&path, "old\n")?;
    // The validate step runs after the new content is written to the
    // temporary file and before the rename; killing the script there is a
    // crash in the middle of the write.
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "new\n", "dest": host.arg("f"), "validate": "sh -c 'sleep 5' %s"}),
    )?;
    host.timeout = Duration::from_millis(500);
    let result = host.converge(&copy).await;
    assert!(
        matches!(result, Err(TaskError::Conn(ConnError::Timeout { .. }))),
        "{result:?}"
    );
    assert_eq!(fs::read_to_string(&path)?, "old\n");
    // Whatever a killed write leaves behind is a hidden temporary file
    // beside the destination, never the destination itself.
    for name in leftovers(host.dir.path())? {
        assert!(name.starts_with(".dtrplay."), "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn copy_validate_failure_keeps_the_old_file_and_registers_output() -> TestResult {
    let host = Host::local()?;
    let path = host.path("f");
    fs::write(&path, "old\n")?;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "new\n", "dest": host.arg("f"), "validate": "grep -q good %s"}),
    )?;
    let result = host.converge(&copy).await;
    let Err(TaskError::Failed { msg, data }) = result else {
        return Err(format!("expected a failure, got {result:?}").into());
    };
    assert_eq!(msg, "failed to validate");
    assert_eq!(data.get("rc"), Some(&json!(1)));
    assert_eq!(data.get("stderr"), Some(&json!("")));
    assert_eq!(fs::read_to_string(&path)?, "old\n");
    assert!(leftovers(host.dir.path())?.is_empty());

    let good: copy::Copy = task(
        copy::spec(),
        json!({"content": "good\n", "dest": host.arg("f"), "validate": "grep -q good %s"}),
    )?;
    host.converge(&good).await?;
    assert_eq!(fs::read_to_string(&path)?, "good\n");
    Ok(())
}

#[tokio::test]
async fn copy_refuses_a_missing_parent_directory() -> TestResult {
    let host = Host::local()?;
    let dest = host.arg("missing/f");
    let copy: copy::Copy = task(copy::spec(), json!({"content": "x", "dest": dest}))?;
    let msg = failure_msg(host.converge(&copy).await)?;
    assert_eq!(
        msg,
        format!(
            "Destination directory {} does not exist",
            host.arg("missing")
        )
    );
    assert!(!host.path("missing").exists());
    Ok(())
}

#[tokio::test]
async fn copy_src_binary_into_a_directory_with_weird_names() -> TestResult {
    let host = Host::local()?;
    let control = tempfile::tempdir()?;
    let src = control.path().join(WEIRD);
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0, b'\n', 0xff]).collect();
    fs::write(&src, &bytes)?;
    let target = host.path(WEIRD);
    fs::create_dir(&target)?;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"src": src.to_string_lossy(), "dest": target.to_string_lossy(), "mode": "0600"}),
    )?;

    let first = preview(host.check(&copy).await?)?;
    let after = first.diffs[0].after.clone().unwrap_or_default();
    assert!(
        after.starts_with("(binary content, 260 bytes, sha256 "),
        "{after}"
    );

    let applied = host.converge(&copy).await?;
    let written = target.join(WEIRD);
    assert_eq!(fs::read(&written)?, bytes);
    assert_eq!(mode_of(&written)?, 0o600);
    assert_eq!(data(&applied, "dest"), &json!(written.to_string_lossy()));
    assert!(leftovers(&target)?.is_empty());
    assert!(in_sync(&host.check(&copy).await?));
    Ok(())
}

#[tokio::test]
async fn copy_to_a_slash_dest_creates_the_directory() -> TestResult {
    let host = Host::local()?;
    let control = tempfile::tempdir()?;
    let src = control.path().join("a.txt");
    fs::write(&src, "a\n")?;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"src": src.to_string_lossy(), "dest": format!("{}/", host.arg("new/dir"))}),
    )?;
    host.converge(&copy).await?;
    assert_eq!(fs::read_to_string(host.path("new/dir/a.txt"))?, "a\n");
    assert!(in_sync(&host.check(&copy).await?));
    Ok(())
}

#[tokio::test]
async fn copy_force_false_leaves_an_existing_file_alone() -> TestResult {
    let host = Host::local()?;
    fs::write(host.path("f"), "mine\n")?;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "theirs\n", "dest": host.arg("f"), "force": "no", "mode": "0600"}),
    )?;
    assert!(in_sync(&host.check(&copy).await?));
    assert_eq!(fs::read_to_string(host.path("f"))?, "mine\n");

    let fresh: copy::Copy = task(
        copy::spec(),
        json!({"content": "theirs\n", "dest": host.arg("g"), "force": false}),
    )?;
    host.converge(&fresh).await?;
    assert_eq!(fs::read_to_string(host.path("g"))?, "theirs\n");
    Ok(())
}

#[tokio::test]
async fn copy_backup_keeps_the_old_file() -> TestResult {
    let host = Host::local()?;
    fs::write(host.path("f"), "v1\n")?;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "v2\n", "dest": host.arg("f"), "backup": "yes"}),
    )?;
    let applied = host.converge(&copy).await?;
    let backup = data(&applied, "backup_file")
        .as_str()
        .ok_or("no backup_file registered")?
        .to_string();
    assert!(
        backup.starts_with(&format!("{}.", host.arg("f"))),
        "{backup}"
    );
    assert!(backup.ends_with('~'), "{backup}");
    assert_eq!(fs::read_to_string(&backup)?, "v1\n");
    assert_eq!(fs::read_to_string(host.path("f"))?, "v2\n");
    Ok(())
}

#[tokio::test]
async fn copy_owner_and_group_are_set_and_compared() -> TestResult {
    if !is_root() {
        return Ok(());
    }
    let host = Host::local()?;
    fs::write(host.path("f"), "x")?;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "x", "dest": host.arg("f"), "owner": "nobody", "group": "65534"}),
    )?;
    let first = preview(host.check(&copy).await?)?;
    let msg = first.msg.unwrap_or_default();
    assert!(msg.contains("owner root → nobody"), "{msg}");
    assert!(msg.contains("group root → 65534"), "{msg}");
    host.converge(&copy).await?;
    let meta = fs::metadata(host.path("f"))?;
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert!(in_sync(&host.check(&copy).await?));
    Ok(())
}

#[tokio::test]
async fn copy_mappings_as_json_and_no_diff_when_not_asked() -> TestResult {
    let mut host = Host::local()?;
    host.diff = false;
    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": {"b": [1, 2], "a": "x"}, "dest": host.arg("f.json")}),
    )?;
    let first = preview(host.check(&copy).await?)?;
    assert!(first.diffs.is_empty());
    host.converge(&copy).await?;
    assert_eq!(
        fs::read_to_string(host.path("f.json"))?,
        r#"{"b": [1, 2], "a": "x"}"#
    );
    Ok(())
}

// ---------------------------------------------------------------- template

#[tokio::test]
async fn template_writes_the_rendered_text() -> TestResult {
    let host = Host::local()?;
    let control = tempfile::tempdir()?;
    let src = control.path().join("app.conf.j2");
    fs::write(&src, "name = {{ name }}\n")?;
    let template: template::Template = task(
        template::spec(),
        json!({"src": src.to_string_lossy(), "dest": host.arg(""), "mode": "0644"}),
    )?;
    assert!(template.trim_blocks, "Ansible trims blocks by default");
    assert_eq!(template.line_ending(), "\n");
    // The executor renders the source; a plain replace stands in for it.
    let source = template.read_src(&src).await?;
    let rendered = template.rendered(source.replace("{{ name }}", "web1"));

    let first = preview(host.check(&rendered).await?)?;
    assert_eq!(first.diffs[0].after.as_deref(), Some("name = web1\n"));
    assert!(!host.path("app.conf.j2").exists());

    host.converge(&rendered).await?;
    // A directory as dest gets the template's base name, as in Ansible.
    assert_eq!(
        fs::read_to_string(host.path("app.conf.j2"))?,
        "name = web1\n"
    );
    assert_eq!(mode_of(&host.path("app.conf.j2"))?, 0o644);
    assert!(in_sync(&host.check(&rendered).await?));
    Ok(())
}

// ---------------------------------------------------------------- file

#[tokio::test]
async fn file_directory_creates_parents_with_the_mode_and_is_idempotent() -> TestResult {
    let host = Host::local()?;
    let path = host.arg("a/b/c");
    let dir: file::File = task(
        file::spec(),
        json!({"path": path, "state": "directory", "mode": "0750"}),
    )?;

    let before = host.snapshot();
    let first = preview(host.check(&dir).await?)?;
    assert_eq!(host.snapshot(), before);
    assert_eq!(
        first.msg.as_deref(),
        Some(format!("would change {path}: absent → directory, mode 0750").as_str())
    );
    assert_eq!(first.diffs[0].before.as_deref(), Some("state: absent\n"));
    assert_eq!(
        first.diffs[0].after.as_deref(),
        Some("state: directory\nmode: 0750\n")
    );

    host.converge(&dir).await?;
    // Like Ansible, every directory the task creates gets the attributes.
    for rel in ["a", "a/b", "a/b/c"] {
        assert!(host.path(rel).is_dir());
        assert_eq!(mode_of(&host.path(rel))?, 0o750, "{rel}");
    }
    assert!(in_sync(&host.check(&dir).await?));

    fs::set_permissions(host.path("a/b/c"), fs::Permissions::from_mode(0o700))?;
    let again = preview(host.check(&dir).await?)?;
    assert_eq!(
        again.msg.as_deref(),
        Some(format!("would change {path}: mode 0700 → 0750").as_str())
    );
    host.converge(&dir).await?;
    assert_eq!(mode_of(&host.path("a/b/c"))?, 0o750);
    Ok(())
}

#[tokio::test]
async fn file_recurse_sets_modes_below() -> TestResult {
    let host = Host::local()?;
    fs::create_dir_all(host.path("tree/sub"))?;
    fs::write(host.path("tree/sub/f"), "x")?;
    fs::set_permissions(host.path("tree"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(host.path("tree/sub/f"), fs::Permissions::from_mode(0o600))?;
    let dir: file::File = task(
        file::spec(),
        json!({"path": host.arg("tree"), "state": "directory", "mode": "0755", "recurse": true}),
    )?;
    let first = preview(host.check(&dir).await?)?;
    assert!(first.msg.unwrap_or_default().contains("contents below it"));
    host.converge(&dir).await?;
    assert_eq!(mode_of(&host.path("tree/sub/f"))?, 0o755);
    assert!(in_sync(&host.check(&dir).await?));
    Ok(())
}

#[tokio::test]
async fn file_state_file_on_a_missing_path_fails_like_ansible() -> TestResult {
    let host = Host::local()?;
    let path = host.arg("nope");
    let f: file::File = task(file::spec(), json!({"path": path, "mode": "0644"}))?;
    let msg = failure_msg(host.check(&f).await)?;
    assert_eq!(msg, format!("file ({path}) is absent, cannot continue"));

    fs::write(host.path("yes"), "")?;
    fs::set_permissions(host.path("yes"), fs::Permissions::from_mode(0o600))?;
    let f: file::File = task(
        file::spec(),
        json!({"dest": host.arg("yes"), "state": "file", "mode": "0644"}),
    )?;
    host.converge(&f).await?;
    assert_eq!(mode_of(&host.path("yes"))?, 0o644);
    assert!(in_sync(&host.check(&f).await?));
    Ok(())
}

#[tokio::test]
async fn file_absent_removes_trees_and_weird_names() -> TestResult {
    let host = Host::local()?;
    let weird = host.path(WEIRD);
    fs::create_dir_all(weird.join("inner"))?;
    fs::write(weird.join("inner/f"), "x")?;
    fs::write(host.path("keep"), "x")?;
    let gone: file::File = task(
        file::spec(),
        json!({"name": weird.to_string_lossy(), "state": "absent"}),
    )?;
    let before = host.snapshot();
    let first = preview(host.check(&gone).await?)?;
    assert_eq!(host.snapshot(), before);
    assert!(
        first
            .msg
            .unwrap_or_default()
            .ends_with("directory → absent")
    );
    host.converge(&gone).await?;
    assert!(!weird.exists());
    assert!(host.path("keep").exists());
    assert!(in_sync(&host.check(&gone).await?));

    let root: Result<file::File, _> = task(file::spec(), json!({"path": "/", "state": "absent"}));
    let msg = failure_msg(host.check(&root?).await)?;
    assert_eq!(msg, "refusing to remove /");
    Ok(())
}

#[tokio::test]
async fn file_touch_creates_then_always_updates_times() -> TestResult {
    let host = Host::local()?;
    let touch: file::File = task(
        file::spec(),
        json!({"path": host.arg("t"), "state": "touch", "mode": "0600"}),
    )?;
    host.converge(&touch).await?;
    assert_eq!(fs::read(host.path("t"))?, b"");
    assert_eq!(mode_of(&host.path("t"))?, 0o600);
    // Ansible's touch reports a change every time, unless both times are
    // preserved.
    assert!(!in_sync(&host.check(&touch).await?));
    let preserve: file::File = task(
        file::spec(),
        json!({"path": host.arg("t"), "state": "touch", "mode": "0600",
               "modification_time": "preserve", "access_time": "preserve"}),
    )?;
    assert!(in_sync(&host.check(&preserve).await?));
    Ok(())
}

#[tokio::test]
async fn file_link_creates_retargets_and_refuses_to_clobber() -> TestResult {
    let host = Host::local()?;
    fs::write(host.path("target1"), "1")?;
    fs::write(host.path("target2"), "2")?;
    let link = |src: &str| -> Result<file::File, Box<dyn Error>> {
        task(
            file::spec(),
            json!({"path": host.arg("link"), "src": src, "state": "link"}),
        )
    };
    let first = link("target1")?;
    let before = host.snapshot();
    let preview1 = preview(host.check(&first).await?)?;
    assert_eq!(host.snapshot(), before);
    assert!(
        preview1
            .msg
            .unwrap_or_default()
            .ends_with("absent → link to target1")
    );
    host.converge(&first).await?;
    assert_eq!(fs::read_link(host.path("link"))?, PathBuf::from("target1"));
    assert!(in_sync(&host.check(&first).await?));

    let second = link(&host.arg("target2"))?;
    host.converge(&second).await?;
    assert_eq!(fs::read_link(host.path("link"))?, host.path("target2"));
    assert!(leftovers(host.dir.path())?.is_empty());

    let missing = link("nowhere")?;
    let msg = failure_msg(host.check(&missing).await)?;
    assert!(msg.starts_with("src file does not exist"), "{msg}");

    let clobber: file::File = task(
        file::spec(),
        json!({"path": host.arg("target1"), "src": "target2", "state": "link"}),
    )?;
    let msg = failure_msg(host.check(&clobber).await)?;
    assert_eq!(
        msg,
        format!(
            "refusing to convert from file to symlink for {}",
            host.arg("target1")
        )
    );
    Ok(())
}

// ---------------------------------------------------------------- command / shell

#[tokio::test]
async fn command_runs_without_a_shell_and_registers_output() -> TestResult {
    let host = Host::local()?;
    let marker = host.path("pwned");
    let cmd = format!(
        "printf '%s|' 'a b' \"$(touch {m})\" '*' ';' {q}",
        m = marker.display(),
        q = shell_quote(WEIRD)
    );
    let command: command::Command = task(command::spec(), json!({"cmd": cmd}))?;
    let first = preview(host.check(&command).await?)?;
    assert_eq!(
        first.msg.as_deref(),
        Some(format!("would run: {cmd}").as_str())
    );

    let out = host.converge(&command).await?;
    assert!(out.changed);
    assert_eq!(
        data(&out, "stdout"),
        &json!(format!("a b|$(touch {})|*|;|{WEIRD}|", marker.display()))
    );
    assert!(!marker.exists(), "the command went through a shell");
    assert_eq!(data(&out, "rc"), &json!(0));
    assert_eq!(data(&out, "cmd")[0], json!("printf"));
    assert!(data(&out, "start").as_str().is_some_and(|s| s.len() == 26));
    assert!(
        data(&out, "delta")
            .as_str()
            .is_some_and(|s| s.starts_with("0:00:"))
    );
    Ok(())
}

#[tokio::test]
async fn command_expands_home_and_set_variables_only() -> TestResult {
    let host = Host::local()?;
    let command: command::Command = task(
        command::spec(),
        json!({"argv": ["printf", "%s|", "~", "$HOME/x", "$DTRPLAY_SURELY_UNSET", "${HOME}"],
               "chdir": host.arg("")}),
    )?;
    let out = host.converge(&command).await?;
    let home = std::env::var("HOME")?;
    assert_eq!(
        data(&out, "stdout"),
        &json!(format!("{home}|{home}/x|$DTRPLAY_SURELY_UNSET|{home}|"))
    );
    Ok(())
}

#[tokio::test]
async fn command_builtins_are_not_used() -> TestResult {
    let host = Host::local()?;
    // dash's builtin echo would turn `\n` into a newline; /bin/echo does not.
    let command: command::Command = task(command::spec(), json!({"cmd": r"echo 'a\nb'"}))?;
    let out = host.converge(&command).await?;
    assert_eq!(data(&out, "stdout"), &json!(r"a\nb"));
    Ok(())
}

#[tokio::test]
async fn command_creates_removes_and_chdir() -> TestResult {
    let mut host = Host::local()?;
    let dir = host.path(WEIRD);
    fs::create_dir(&dir)?;
    let args = json!({"cmd": "touch made", "chdir": dir.to_string_lossy(), "creates": "ma*"});
    let command: command::Command = task(command::spec(), args)?;

    assert!(!in_sync(&host.check(&command).await?));
    assert!(!dir.join("made").exists(), "the check ran the command");
    host.converge(&command).await?;
    assert!(dir.join("made").exists(), "chdir was not honoured");

    let skipped = host.check(&command).await?;
    let Check::InSync(outcome) = skipped else {
        return Err("creates did not skip".into());
    };
    assert_eq!(
        outcome.msg.as_deref(),
        Some("Did not run command since 'ma*' exists")
    );
    assert_eq!(
        data(&outcome, "stdout"),
        &json!("skipped, since ma* exists")
    );
    host.check_mode = true;
    let Check::InSync(outcome) = host.check(&command).await? else {
        return Err("creates did not skip in check mode".into());
    };
    assert_eq!(
        outcome.msg.as_deref(),
        Some("Would not run command since 'ma*' exists")
    );
    host.check_mode = false;

    let remove: command::Command = task(
        command::spec(),
        json!({"cmd": format!("rm {}", shell_quote(&dir.join("made").to_string_lossy())),
               "removes": dir.join("made").to_string_lossy()}),
    )?;
    host.converge(&remove).await?;
    assert!(!dir.join("made").exists());
    let Check::InSync(outcome) = host.check(&remove).await? else {
        return Err("removes did not skip".into());
    };
    assert!(outcome.msg.unwrap_or_default().ends_with("does not exist"));

    let bad: command::Command = task(
        command::spec(),
        json!({"cmd": "true", "chdir": host.arg("missing")}),
    )?;
    let msg = failure_msg(host.converge(&bad).await)?;
    assert!(
        msg.starts_with("Unable to change directory before execution: "),
        "{msg}"
    );
    Ok(())
}

#[tokio::test]
async fn command_non_zero_rc_fails_with_the_output_registered() -> TestResult {
    let host = Host::local()?;
    let shell: command::Shell = task(
        command::shell_spec(),
        json!({"cmd": "echo out; echo err >&2; exit 3"}),
    )?;
    let result = host.converge(&shell).await;
    let Err(TaskError::Failed { msg, data }) = result else {
        return Err(format!("expected a failure, got {result:?}").into());
    };
    assert_eq!(msg, "non-zero return code");
    assert_eq!(data.get("rc"), Some(&json!(3)));
    assert_eq!(data.get("stdout"), Some(&json!("out")));
    assert_eq!(data.get("stderr"), Some(&json!("err")));
    assert_eq!(data.get("stdout_lines"), Some(&json!(["out"])));
    Ok(())
}

#[tokio::test]
async fn shell_runs_pipes_with_stdin_and_executable() -> TestResult {
    let host = Host::local()?;
    let shell: command::Shell = task(
        command::shell_spec(),
        json!({"cmd": "tr a-z A-Z | sed 's/$/!/'", "stdin": "hello"}),
    )?;
    let out = host.converge(&shell).await?;
    assert_eq!(data(&out, "stdout"), &json!("HELLO!"));
    assert_eq!(data(&out, "cmd"), &json!("tr a-z A-Z | sed 's/$/!/'"));

    let bash: command::Shell = task(
        command::shell_spec(),
        json!({"cmd": "echo ${BASH_VERSION:+bash}", "executable": "/bin/bash"}),
    )?;
    let out = host.converge(&bash).await?;
    assert_eq!(data(&out, "stdout"), &json!("bash"));
    Ok(())
}

// ---------------------------------------------------------------- debug / assert / set_fact / fail

fn vars(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn debug_shows_messages_and_variables() -> TestResult {
    let host = Host::with(
        Box::new(LocalConnection::new("local")),
        vars(json!({"port": 8080, "ansible_verbosity": 0})),
    )?;
    let msg: debug::Debug = task(debug::spec(), json!({"msg": "hello"}))?;
    let Check::InSync(out) = host.check(&msg).await? else {
        return Err("debug drifted".into());
    };
    assert_eq!(out.msg.as_deref(), Some("hello"));
    assert!(!out.changed);

    let var: debug::Debug = task(debug::spec(), json!({"var": "port"}))?;
    let Check::InSync(out) = host.check(&var).await? else {
        return Err("debug drifted".into());
    };
    assert_eq!(out.msg.as_deref(), Some("port: 8080"));
    assert_eq!(data(&out, "port"), &json!(8080));

    let undefined: debug::Debug = task(debug::spec(), json!({"var": "nope"}))?;
    let Check::InSync(out) = host.check(&undefined).await? else {
        return Err("debug drifted".into());
    };
    assert_eq!(data(&out, "nope"), &json!("VARIABLE IS NOT DEFINED!"));

    let quiet: debug::Debug = task(debug::spec(), json!({"msg": "x", "verbosity": 2}))?;
    let Check::InSync(out) = host.check(&quiet).await? else {
        return Err("debug drifted".into());
    };
    assert_eq!(data(&out, "skipped"), &json!(true));
    Ok(())
}

#[tokio::test]
async fn assert_passes_or_names_the_failing_expression() -> TestResult {
    let host = Host::with(
        Box::new(LocalConnection::new("local")),
        vars(json!({"port": 8080, "name": "web"})),
    )?;
    let ok: assert::Assert = task(
        assert::spec(),
        json!({"that": ["port == 8080", "name in ['web', 'db']"]}),
    )?;
    let Check::InSync(out) = host.check(&ok).await? else {
        return Err("assert drifted".into());
    };
    assert_eq!(out.msg.as_deref(), Some("All assertions passed"));

    let bad: assert::Assert = task(
        assert::spec(),
        json!({"that": ["port == 8080", "port < 1024"]}),
    )?;
    let result = host.check(&bad).await;
    let Err(TaskError::Failed { msg, data }) = result else {
        return Err(format!("expected a failure, got {result:?}").into());
    };
    assert_eq!(msg, "Assertion failed: port < 1024");
    assert_eq!(data.get("assertion"), Some(&json!("port < 1024")));

    let custom: assert::Assert = task(
        assert::spec(),
        json!({"that": "port < 1024", "msg": "port must be privileged"}),
    )?;
    assert_eq!(
        failure_msg(host.check(&custom).await)?,
        "port must be privileged"
    );

    let broken: assert::Assert = task(assert::spec(), json!({"that": "missing_var > 1"}))?;
    let msg = failure_msg(host.check(&broken).await)?;
    assert!(
        msg.starts_with("The conditional check 'missing_var > 1' failed."),
        "{msg}"
    );
    Ok(())
}

#[tokio::test]
async fn set_fact_sets_facts_and_fail_fails() -> TestResult {
    let host = Host::local()?;
    let fact: set_fact::SetFact =
        serde_json::from_value(json!({"a": 1, "b": "no", "cacheable": true}))?;
    let Check::InSync(out) = host.check(&fact).await? else {
        return Err("set_fact drifted".into());
    };
    assert_eq!(Value::Object(out.facts), json!({"a": 1, "b": false}));
    assert!(!out.changed);

    let fail: fail::Fail = task(fail::spec(), json!({}))?;
    assert_eq!(
        failure_msg(host.check(&fail).await)?,
        "Failed as requested from task"
    );
    let fail: fail::Fail = task(fail::spec(), json!({"msg": "stop here"}))?;
    assert_eq!(failure_msg(host.check(&fail).await)?, "stop here");
    Ok(())
}

// ---------------------------------------------------------------- over SSH

/// A plain `ssh` client per script, enough to prove the scripts work
/// through a real sshd and a login shell, until the SSH transport lands.
struct SshCli {
    node: dtrplay_lab::node::Node,
}

#[async_trait]
impl Connection for SshCli {
    async fn run(
        &self,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        use tokio::io::AsyncWriteExt;
        let lost = |e: std::io::Error| ConnError::Lost {
            host: self.node.name.clone(),
            message: e.to_string(),
        };
        let mut command = tokio::process::Command::from(self.node.ssh_command());
        let mut child = command
            .arg(format!("sh -c {}", shell_quote(script)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(lost)?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin).await.map_err(lost)?;
        }
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| ConnError::Timeout {
                host: self.node.name.clone(),
                after: timeout,
            })?
            .map_err(lost)?;
        Ok(Output {
            status: out.status.code().unwrap_or(255),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn close(&self) {}
}

#[tokio::test]
async fn modules_work_over_real_ssh() -> TestResult {
    let lab = tempfile::tempdir()?;
    let fleet = dtrplay_lab::node::Fleet::start(&dtrplay_lab::node::FleetOptions::new(
        lab.path().join("fleet"),
        1,
    ))?;
    let node = fleet.nodes()[0].clone();
    let host = Host::with(Box::new(SshCli { node }), Map::new())?;
    let dest = host.path(WEIRD);

    let copy: copy::Copy = task(
        copy::spec(),
        json!({"content": "over ssh\n", "dest": dest.to_string_lossy(), "mode": "0600"}),
    )?;
    assert!(!in_sync(&host.check(&copy).await?));
    assert!(!dest.exists());
    host.converge(&copy).await?;
    assert_eq!(fs::read_to_string(&dest)?, "over ssh\n");
    assert_eq!(mode_of(&dest)?, 0o600);
    assert!(in_sync(&host.check(&copy).await?));

    let dir: file::File = task(
        file::spec(),
        json!({"path": host.arg("d/e"), "state": "directory", "mode": "0700"}),
    )?;
    host.converge(&dir).await?;
    assert_eq!(mode_of(&host.path("d/e"))?, 0o700);
    assert!(in_sync(&host.check(&dir).await?));

    let command: command::Command = task(
        command::spec(),
        json!({"cmd": format!("cat {}", shell_quote(&dest.to_string_lossy())),
               "creates": host.arg("never")}),
    )?;
    let out = host.converge(&command).await?;
    assert_eq!(data(&out, "stdout"), &json!("over ssh"));
    Ok(())
}
