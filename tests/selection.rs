//! What a run selects: `--limit`, `--tags`/`--skip-tags` and the default
//! inventory. A selection that cannot be right is an input error (exit 4)
//! pointing at the option's value, before any host is contacted: the
//! inventory's host listens on no port, so a run that started would say
//! "unreachable" instead.

use crate::harness::Project;

fn project() -> Project {
    let project = Project::new();
    project.file(
        "inventory.ini",
        "[ucp]\nucp1 ansible_host=127.0.0.1 ansible_port=1\nucp2 ansible_host=127.0.0.1 ansible_port=1\n[dtr]\ndtr1 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    project.file(
        "site.yml",
        r#"
        - hosts: all
          tags: [play]
          tasks:
            - command: "true"
              tags: [certs, push]
        "#,
    );
    project
}

#[track_caller]
fn refused(project: &Project, args: &[&str]) -> crate::harness::Run {
    let mut all = vec!["apply", "site.yml", "-i", "inventory.ini"];
    all.extend_from_slice(args);
    let run = project.run(&all);
    run.status(4);
    assert!(!run.stdout.contains("unreachable"), "{}", run.stdout);
    run
}

#[test]
fn malformed_limit_patterns_are_errors_at_the_bracket() {
    let project = project();
    refused(&project, &["--limit", "ucp[0"])
        .stderr_has("`ucp[0` is not a valid host pattern")
        .stderr_has("--limit:1:4")
        .stderr_has("never closed");
    refused(&project, &["--limit", "~["]).stderr_has("not a valid host pattern");
    refused(&project, &["--limit", "ucp]"]).stderr_has("never opened");
}

#[test]
fn a_limit_that_matches_no_host_is_an_error_with_did_you_mean() {
    let project = project();
    refused(&project, &["--limit", "ucp3"])
        .stderr_has("leaves us with no hosts to target")
        .stderr_has("did you mean `ucp`?");
    refused(&project, &["--limit", "ucp:&dtr"]).stderr_has("leaves us with no hosts to target");
}

#[test]
fn unknown_tags_are_errors_with_did_you_mean() {
    let project = project();
    refused(&project, &["--tags", "certs,pussh"])
        .stderr_has("no task or play of the playbook is tagged `pussh`")
        .stderr_has("--tags:1:7")
        .stderr_has("did you mean `push`?");
    refused(&project, &["--skip-tags", "nosuchtag"])
        .stderr_has("tagged `nosuchtag`")
        .stderr_has("the playbook's tags are: certs, play, push");
    // Known and special tags pass validation (the run then fails to connect).
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.ini",
        "--tags",
        "push,always,untagged",
    ]);
    assert_eq!(run.status, 3, "{}{}", run.stdout, run.stderr);
}

#[test]
fn the_inventory_defaults_to_ansible_inventory_then_etc_ansible_hosts() {
    let project = project();
    // ANSIBLE_INVENTORY (comma-separated) is used when `-i` is not given.
    let output = project
        .command(&["apply", "site.yml", "--limit", "nosuch"])
        .env("ANSIBLE_INVENTORY", project.path().join("inventory.ini"))
        .output()
        .expect("run dtrplay");
    let run = project.finished(output);
    run.status(4)
        .stderr_has("leaves us with no hosts to target");
    // Neither: a clear error (this machine has no /etc/ansible/hosts).
    let output = project
        .command(&["apply", "site.yml"])
        .env_remove("ANSIBLE_INVENTORY")
        .output()
        .expect("run dtrplay");
    project
        .finished(output)
        .status(4)
        .stderr_has("no inventory")
        .stderr_has("/etc/ansible/hosts does not exist")
        .stderr_has("-i inventory.yml");
}
