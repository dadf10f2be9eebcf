//! Every class of bad input gets a diagnostic with the file, line and
//! column, a label and a help line; nothing is run. One fixture per class in
//! `tests/fixtures/errors/`, each snapshotted.

use crate::harness::Project;

#[test]
fn every_error_class_points_at_its_span() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors");
    let mut cases: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("the fixtures directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "fixtures are missing");
    let project = Project::new();
    let inventory = fixtures.join("inventory.ini");
    for case in cases {
        let name = case
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a file name");
        let run = project.run(&[
            "validate",
            case.to_str().expect("utf-8 path"),
            "-i",
            inventory.to_str().expect("utf-8 path"),
        ]);
        assert_eq!(
            run.status, 4,
            "{name}: invalid input exits 4\n{}",
            run.stderr
        );
        let stderr = run
            .stderr
            .replace(&fixtures.display().to_string(), "[FIXTURES]");
        insta::with_settings!({ snapshot_suffix => name, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("diagnostic", stderr);
        });
    }
}

#[test]
fn apply_refuses_invalid_input_before_contacting_any_host() {
    // The inventory points at a port nothing listens on: if validation let
    // the run start, the output would say "unreachable".
    let project = Project::new();
    project.file(
        "inventory.ini",
        "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    project.file("site.yml", "- hosts: web\n  tasks:\n    - shel: echo hi\n");
    let run = project.run(&["apply", "site.yml", "-i", "inventory.ini"]);
    run.status(4)
        .stderr_has("unknown task keyword or module `shel`");
    assert!(!run.stdout.contains("unreachable"), "{}", run.stdout);
}
