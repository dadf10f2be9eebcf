//! `validate` refuses filters, tests and lookups dtrplay does not have
//! (issue 11 §4): each is an input error (exit 4) at the name, with "did
//! you mean" where a known name is close, before any host is contacted,
//! instead of a task failing at run time with no location. The
//! inventory's host listens on no port, so a run that started would say
//! "unreachable".

use crate::harness::{Project, Run};

fn refused(playbook: &str) -> Run {
    let project = Project::new();
    project.file(
        "hosts.ini",
        "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    project.file("site.yml", playbook);
    let run = project.run(&["validate", "site.yml", "-i", "hosts.ini"]);
    run.status(4);
    let apply = project.run(&["apply", "site.yml", "-i", "hosts.ini"]);
    apply.status(4);
    assert!(!apply.stdout.contains("unreachable"), "{}", apply.stdout);
    run
}

#[test]
fn unknown_filters_and_tests_are_refused_at_the_name_with_did_you_mean() {
    let run = refused(
        r#"
        - hosts: all
          gather_facts: false
          vars:
            shout: "{{ 'hi' | uppr }}"
          tasks:
            - debug: {msg: "{{ '10.0.0.1' | community.general.json_query('a') }}"}
              when: "'x' is sting"
        "#,
    );
    run.stderr_has("found 3 problems")
        .stderr_has("unknown filter `uppr`")
        .stderr_has("site.yml:4:23")
        .stderr_has("did you mean `upper`?")
        .stderr_has("unknown filter `community.general.json_query`")
        .stderr_has("site.yml:6:37")
        .stderr_has("collections' filters")
        .stderr_has("unknown test `sting`")
        .stderr_has("site.yml:7:21")
        .stderr_has("did you mean `string`?");
}

#[test]
fn unsupported_lookups_are_refused_naming_the_ones_there_are() {
    let run = refused(
        r#"
        - hosts: all
          gather_facts: false
          tasks:
            - debug: {msg: "{{ lookup('pipe', 'id') }}"}
            - debug: {msg: "{{ lookup('fileglob', '*.yml') }}"}
        "#,
    );
    run.stderr_has("unknown lookup plugin `pipe`")
        .stderr_has("site.yml:4:32")
        .stderr_has("unknown lookup plugin `fileglob`")
        .stderr_has("dtrplay's lookups are `env`, `file`, `first_found`");
}

#[test]
fn names_inside_strings_comments_and_raw_blocks_are_not_names() {
    let project = Project::new();
    project.file(
        "hosts.ini",
        "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          tasks:
            - debug: {msg: "{{ 'a|nope' | upper }} {# x | nope #} {% raw %}{{ y | nope }}{% endraw %} | nope"}
              when: "'is nope' is string and lookup('env', 'HOME') is truthy"
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "hosts.ini"])
        .success();
}
