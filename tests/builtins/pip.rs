//! `pip` with the node's real pip, in a virtualenv the task creates with
//! `python3 -m venv` (Debian's bundled pip, no network) in the node's
//! private `/srv`, installing wheels the test builds into a directory
//! (`--no-index --find-links`): no downloads.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use sha2::Digest;

use super::{Lab, changed, failed, results};

/// Writes the wheel of `name` (a Python module of the same name, `-`
/// made `_`) at `version` into `dir`.
pub(super) fn wheel(dir: &Path, name: &str, version: &str) {
    let module = name.replace('-', "_");
    let info = format!("{module}-{version}.dist-info");
    let files: Vec<(String, String)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("VERSION = '{version}'\n"),
        ),
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: a test package of dtrplay\n"),
        ),
        (
            format!("{info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: dtrplay-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_string(),
        ),
    ];
    let mut record = String::new();
    for (path, content) in &files {
        let digest = sha2::Sha256::digest(content.as_bytes());
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        record.push_str(&format!("{path},sha256={hash},{}\n", content.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    let path = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("the wheel"));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (path, content) in files
        .iter()
        .chain(std::iter::once(&(format!("{info}/RECORD"), record)))
    {
        zip.start_file(path.as_str(), options).expect("an entry");
        zip.write_all(content.as_bytes()).expect("write");
    }
    zip.finish().expect("the wheel is written");
}

const VENV: &str = "/srv/venv";

/// The versions the virtualenv's Python imports, or `none`.
fn imported(lab: &Lab) -> String {
    lab.sh(
        "node1",
        &format!(
            "{VENV}/bin/python -c 'import dtrplay_demo, dtrplay_extra; print(dtrplay_demo.VERSION, dtrplay_extra.VERSION)' 2>/dev/null || echo none"
        ),
    )
}

#[test]
fn pip_creates_a_virtualenv_installs_upgrades_and_removes_local_wheels() {
    let wheels = tempfile::Builder::new()
        .prefix("dtrplay-wheels-")
        .tempdir()
        .expect("wheel dir");
    wheel(wheels.path(), "dtrplay-demo", "1.0");
    wheel(wheels.path(), "dtrplay-extra", "1.0");
    let links = wheels.path().display().to_string();
    let lab = Lab::plain(1);
    // `pip uninstall` takes no index options, in Ansible as here.
    let play = |state: &str, names: &str| {
        let extra = match state {
            "absent" => String::new(),
            _ => format!("extra_args: --no-index --find-links {links}"),
        };
        lab.play(&format!(
            r#"
            - pip:
                name: {names}
                state: {state}
                virtualenv: {VENV}
                virtualenv_command: /usr/bin/python3 -m venv
                {extra}
              register: installed
            - copy:
                content: "{{{{ installed.cmd | join(' ') }}}}\n"
                dest: /srv/pip-result
              when: installed is changed
            "#
        ))
    };
    play("present", "[dtrplay-demo, dtrplay_extra==1.0]");
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(
        lab.sh("node1", &format!("test -e {VENV} && echo yes || echo no")),
        "no\n",
        "check mode creates no virtualenv"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(imported(&lab), "1.0 1.0\n");
    assert_eq!(
        lab.sh("node1", "cat /srv/pip-result"),
        format!(
            "{VENV}/bin/pip3 install --no-index --find-links {links} dtrplay-demo dtrplay_extra==1.0\n"
        ),
        "one pip call for every name"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A newer version published: `present` keeps 1.0, a specifier it does
    // not meet is a change, `latest` upgrades once.
    wheel(wheels.path(), "dtrplay-demo", "2.0");
    play("present", "dtrplay-demo");
    let present = lab.apply(&[]);
    present.success();
    assert_eq!(changed(&present, "node1"), 0, "{}", present.stdout);
    play("present", "'dtrplay-demo>=1.5,<3'");
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(imported(&lab), "1.0 1.0\n");
    play("latest", "dtrplay-demo");
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(imported(&lab), "1.0 1.0\n");
    let latest = lab.apply(&[]);
    latest.success();
    assert_eq!(changed(&latest, "node1"), 2, "{}", latest.stdout);
    assert_eq!(imported(&lab), "2.0 1.0\n");
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    play("absent", "[dtrplay-demo, dtrplay-extra]");
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 2);
    assert_eq!(imported(&lab), "2.0 1.0\n");
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 2);
    assert_eq!(imported(&lab), "none\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A requirements file: pip's dry run tells check mode what would
    // change, and a second run changes nothing.
    lab.sh(
        "node1",
        "printf 'dtrplay-demo==1.0\\ndtrplay-extra\\n' > /srv/requirements.txt",
    );
    lab.play(&format!(
        r#"
        - pip:
            requirements: /srv/requirements.txt
            virtualenv: {VENV}
            extra_args: --no-index --find-links {links}
        "#
    ));
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(imported(&lab), "none\n");
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert_eq!(imported(&lab), "1.0 1.0\n");
    let again = lab.apply(&["--check"]);
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A package no index has fails with pip's own words.
    play("present", "dtrplay-no-such-package");
    let missing = lab.apply(&[]);
    missing.status(2);
    assert_eq!(failed(&missing, "node1"), 1);
    let msg = results(&missing)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("No matching distribution found for dtrplay-no-such-package"),
        "{msg}"
    );
}

#[test]
fn pip_installs_for_the_interpreter_executable_names() {
    let wheels = tempfile::Builder::new()
        .prefix("dtrplay-wheels-")
        .tempdir()
        .expect("wheel dir");
    wheel(wheels.path(), "dtrplay-demo", "1.0");
    let links = wheels.path().display().to_string();
    // The system Python's site directories are under the node's own
    // copy-on-write /usr, so this machine's Python never changes.
    let lab = Lab::copy_on_write(1);
    let version = "/usr/bin/python3 -c 'import dtrplay_demo; print(dtrplay_demo.VERSION)' 2>/dev/null || echo none";
    lab.play(&format!(
        r#"
        - pip:
            name: dtrplay-demo==1.0
            executable: /usr/bin/pip3
            break_system_packages: true
            extra_args: --no-index --find-links {links}
        "#
    ));
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert_eq!(lab.sh("node1", version), "1.0\n");
    let host = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import dtrplay_demo"])
        .output()
        .expect("run python3");
    assert!(!host.status.success(), "this machine's Python is untouched");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    lab.play("- pip: name=dtrplay-demo executable=/usr/bin/pip3 break_system_packages=true state=absent\n");
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(lab.sh("node1", version), "none\n");
}
