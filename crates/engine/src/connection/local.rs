//! Running scripts on the control machine itself, for `localhost` and hosts
//! with `ansible_connection: local`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::connection::remote_shell::random_u64;
use crate::connection::{ConnError, Connection, Output};

pub struct LocalConnection {
    name: String,
}

impl LocalConnection {
    pub fn new(name: &str) -> LocalConnection {
        LocalConnection {
            name: name.to_string(),
        }
    }
}

#[async_trait]
impl Connection for LocalConnection {
    async fn run(
        &self,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        let lost = |e: std::io::Error| ConnError::Lost {
            host: self.name.clone(),
            message: e.to_string(),
        };
        let file = ScriptFile::write(script).map_err(lost)?;
        let mut child = Command::new("sh")
            .arg(&file.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(lost)?;
        if let Some(mut pipe) = child.stdin.take() {
            // A script that does not read its input closes the pipe early;
            // that is not an error.
            let _ = pipe.write_all(stdin).await;
        }
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(Output {
                status: exit_code(out.status),
                stdout: out.stdout,
                stderr: out.stderr,
            }),
            Ok(Err(e)) => Err(lost(e)),
            Err(_) => Err(ConnError::Timeout {
                host: self.name.clone(),
                after: timeout,
            }),
        }
    }

    async fn close(&self) {}

    fn describe(&self) -> String {
        "local".to_string()
    }
}

/// A script on disk for one run. Scripts are not passed with `sh -c`: an
/// argument is limited to 128 KiB on Linux (`copy` puts contents up to
/// 256 KiB in its script) and every user can read it with `ps`. The file is
/// private to us (0600, created new under a name nobody can guess) and
/// removed when the run ends, however it ends.
struct ScriptFile(PathBuf);

impl ScriptFile {
    fn write(script: &str) -> std::io::Result<ScriptFile> {
        let path = std::env::temp_dir().join(format!("dtrplay-local-{:016x}.sh", random_u64()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let file_guard = ScriptFile(path);
        file.write_all(script.as_bytes())?;
        Ok(file_guard)
    }
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
