//! Every class of bad input gets a diagnostic with the file, line and
//! column, a label and a help line; nothing is run. One fixture per class in
//! `tests/fixtures/errors/`, each snapshotted.

use crate::harness::Project;

#[test]
fn every_error_class_points_at_its_span() {
    insta::glob!("fixtures/errors/*.yml", |path| {
        let project = Project::new();
        let fixtures = path.parent().expect("fixture directory");
        let run = project.run(&[
            "validate",
            path.to_str().expect("utf-8 path"),
            "-i",
            fixtures.join("inventory.ini").to_str().expect("utf-8 path"),
        ]);
        assert_eq!(run.status, 4, "invalid input exits 4\n{}", run.stderr);
        let stderr = run.stderr.replace(&fixtures.display().to_string(), "[FIXTURES]");
        insta::assert_snapshot!(stderr);
    });
}

#[test]
fn apply_refuses_invalid_input_before_contacting_any_host() {
    // The inventory points at a port nothing listens on: if validation let
    // the run start, the output would say "unreachable".
    let project = Project::new();
    project.file("inventory.ini", "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n");
    project.file("site.yml", "- hosts: web\n  tasks:\n    - shel: echo hi\n");
    let run = project.run(&["apply", "site.yml", "-i", "inventory.ini"]);
    run.status(4).stderr_has("unknown task keyword or module `shel`");
    assert!(!run.stdout.contains("unreachable"), "{}", run.stdout);
}
