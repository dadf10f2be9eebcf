//! dtrplay run with a terminal of its own, as a person at a keyboard runs
//! it: a real pseudo-terminal is the controlling terminal of the run
//! (`setsid --ctty`), so `-K` asks on it, while stdout and stderr stay pipes
//! the test reads as usual.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Project, Run};

/// The person's side of the terminal: what the run wrote on it, and a
/// keyboard.
pub struct Terminal {
    keyboard: File,
    screen: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl Terminal {
    /// Starts `dtrplay args` in `project` with a new terminal.
    pub fn run(project: &Project, args: &[&str]) -> Terminal {
        Terminal::start(project, args, false)
    }

    /// As `run`, with stderr on the terminal too, where live progress is
    /// drawn (stdout stays a pipe).
    pub fn run_with_stderr(project: &Project, args: &[&str]) -> Terminal {
        Terminal::start(project, args, true)
    }

    fn start(project: &Project, args: &[&str], stderr_on_terminal: bool) -> Terminal {
        let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
        let stderr = if stderr_on_terminal {
            Stdio::from(pty.slave.try_clone().expect("a second slave handle"))
        } else {
            Stdio::piped()
        };
        let dtrplay = project.command(args);
        let mut command = std::process::Command::new("setsid");
        command
            .arg("--ctty")
            .arg("--wait")
            .arg(dtrplay.get_program())
            .args(dtrplay.get_args())
            .current_dir(project.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::from(pty.slave))
            .stdout(Stdio::piped())
            .stderr(stderr);
        let child = command.spawn().expect("start dtrplay on a terminal");
        // Our copy of the terminal's slave side closes with `command`, so the
        // screen ends when the run does.
        drop(command);
        let master = File::from(pty.master);
        let mut reader = master.try_clone().expect("a second handle");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shared.lock().expect("screen").extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            keyboard: master,
            screen,
            child,
        }
    }

    /// What the run has written on the terminal so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().expect("screen")).into_owned()
    }

    /// Waits until `text` is on the screen.
    #[track_caller]
    pub fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.screen().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the terminal never showed {text:?}; it shows {:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until one of `texts` is on the screen.
    #[track_caller]
    pub fn wait_for_any(&self, texts: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !texts.iter().any(|t| self.screen().contains(t)) {
            assert!(
                Instant::now() < deadline,
                "the terminal never showed any of {texts:?}; it shows {:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses Ctrl-C: the terminal sends SIGINT to the run.
    pub fn press_ctrl_c(&mut self) {
        self.keyboard
            .write_all(b"\x03")
            .expect("type on the terminal");
    }

    /// Types a line, as at the keyboard.
    pub fn type_line(&mut self, line: &str) {
        self.keyboard
            .write_all(format!("{line}\n").as_bytes())
            .expect("type on the terminal");
    }

    /// Waits for the run to end; also returns everything the terminal
    /// showed.
    pub fn finish_with_screen(self, project: &Project) -> (Run, String) {
        let screen = Arc::clone(&self.screen);
        let run = self.finish(project);
        // The reader stops at the terminal's end, a moment after the run's.
        std::thread::sleep(Duration::from_millis(200));
        let shown = String::from_utf8_lossy(&screen.lock().expect("screen")).into_owned();
        (run, shown)
    }

    /// Waits for the run to end.
    pub fn finish(self, project: &Project) -> Run {
        let output = self.child.wait_with_output().expect("dtrplay ends");
        project.finished(output)
    }
}
