//! The workspace's shape, as a user and a packager see it: the engine
//! crate builds without the lab, and the `dtrplay` binary still has
//! `dtrplay lab` in its help, its completions and its manual page.

use std::error::Error;
use std::process::Command;

type TestResult = Result<(), Box<dyn Error>>;

/// The crates that only the lab needs. Were the engine to depend on any of
/// them again, every user of the extension API would build the simulator.
const LAB_ONLY: [&str; 4] = ["dtrplay-lab", "axum", "axum-server", "rcgen"];

#[test]
fn the_engine_crate_does_not_depend_on_the_lab() -> TestResult {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "dtrplay-engine",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout)?;
    assert!(
        tree.lines().any(|l| l.starts_with("dtrplay-engine ")),
        "{tree}"
    );
    for name in LAB_ONLY {
        let found: Vec<&str> = tree
            .lines()
            .filter(|l| l.split(' ').next() == Some(name))
            .collect();
        assert!(found.is_empty(), "the engine depends on {name}: {found:?}");
    }
    Ok(())
}

#[test]
fn the_binary_lists_lab_in_help_completions_and_manual() -> TestResult {
    let run = |args: &[&str]| -> Result<String, Box<dyn Error>> {
        let out = Command::new(env!("CARGO_BIN_EXE_dtrplay"))
            .args(args)
            .output()?;
        assert!(out.status.success(), "dtrplay {args:?} failed");
        Ok(String::from_utf8(out.stdout)?)
    };
    let help = run(&["--help"])?;
    assert!(
        help.lines()
            .any(|l| l.trim_start().starts_with("lab ") && l.contains("rehearsal cluster")),
        "{help}"
    );
    let lab = run(&["lab", "--help"])?;
    for sub in ["up", "status", "down"] {
        assert!(
            lab.lines().any(|l| l.trim_start().starts_with(sub)),
            "lab --help lacks {sub}: {lab}"
        );
    }
    let bash = run(&["completions", "bash"])?;
    assert!(
        bash.contains("dtrplay__subcmd__lab__subcmd__up"),
        "bash completions lack `lab up`"
    );
    let man = run(&["man"])?;
    assert!(man.contains("DTRPLAY LAB"), "the manual has no lab section");
    // A bad lab command line is invalid input, like any other.
    let bad = Command::new(env!("CARGO_BIN_EXE_dtrplay"))
        .args(["lab", "sideways"])
        .output()?;
    assert_eq!(bad.status.code(), Some(4), "{bad:?}");
    Ok(())
}
