//! YAML scalars read as Ansible (PyYAML, YAML 1.1) reads them: only
//! `yes/no/true/false/on/off` in their case variants are booleans; `y`, `n`,
//! `Y`, `N` stay strings, as values and as keys.

use crate::harness::Project;

#[test]
fn only_yaml_1_1_booleans_are_booleans() {
    let project = Project::new();
    project.file("inventory.ini", "localhost ansible_connection=local\n");
    project.file(
        "site.yml",
        r#"
        - hosts: localhost
          vars:
            opt: n
            big: Y
            n: 1
            flag: On
            off_flag: NO
          tasks:
            - debug:
                msg: "{{ opt }} {{ big }} {{ n }} {{ flag }} {{ off_flag }} {{ opt is string }}"
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.ini",
        "--output",
        "json",
    ]);
    run.success();
    let msgs: Vec<String> = run
        .events()
        .iter()
        .filter(|e| e["event"] == "host_result")
        .filter_map(|e| e["msg"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        msgs,
        vec!["n Y 1 True False True".to_string()],
        "{}",
        run.stdout
    );
}
