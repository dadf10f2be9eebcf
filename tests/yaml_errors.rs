//! YAML the reader refuses: the frame of the error is at the real line and
//! column (a bracket closed by the wrong one, bad indentation, a tab, a
//! byte that is not UTF-8, lists nested too deep), and a valid file over
//! the reader's node budget says which limit it hit and how to raise it,
//! not that it is invalid (issue 11 §4).

use crate::harness::{Project, Run};

const INVENTORY: &str = "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n";

fn project(playbook: &str) -> Project {
    let project = Project::new();
    project.file("hosts.ini", INVENTORY);
    project.file("site.yml", playbook);
    project
}

#[track_caller]
fn refused(project: &Project) -> Run {
    let run = project.run(&["validate", "site.yml", "-i", "hosts.ini"]);
    run.status(4);
    run
}

/// The `file:line:column` of the error's frame, as miette prints it.
fn frame(run: &Run) -> String {
    let at = run.stderr.find("╭─[").map(|i| i + "╭─[".len());
    let at = at.unwrap_or_else(|| panic!("no frame in\n{}", run.stderr));
    let rest = &run.stderr[at..];
    let end = rest.find(']').unwrap_or(rest.len());
    let frame = &rest[..end];
    frame.rsplit('/').next().unwrap_or(frame).to_string()
}

#[test]
fn a_bracket_closed_by_the_wrong_one_is_framed_where_it_is() {
    let project =
        project("- hosts: all\n  tasks:\n    - name: unclosed list\n      debug: {msg: [1, 2}\n");
    let run = refused(&project);
    run.stderr_has("site.yml is not valid YAML");
    assert_eq!(frame(&run), "site.yml:4:20", "{}", run.stderr);
}

#[test]
fn bad_indentation_and_a_tab_are_framed_on_their_line() {
    let indented = project("- hosts: all\n  tasks:\n    - debug: msg=one\n   - debug: msg=two\n");
    let run = refused(&indented);
    assert!(frame(&run).starts_with("site.yml:4:"), "{}", run.stderr);

    let tabbed = project("- hosts: all\n  tasks:\n\t- debug: msg=one\n");
    let run = refused(&tabbed);
    assert!(frame(&run).starts_with("site.yml:3:"), "{}", run.stderr);
}

#[test]
fn a_byte_that_is_not_utf8_is_framed_at_that_byte() {
    let project = project("- hosts: all\n  tasks:\n    - debug: msg=hi\n");
    std::fs::create_dir_all(project.path().join("group_vars")).expect("group_vars");
    std::fs::write(
        project.path().join("group_vars/all.yml"),
        b"greeting: hello\nplace: caf\xe9\n",
    )
    .expect("write group_vars");
    let run = refused(&project);
    run.stderr_has("all.yml is not valid UTF-8 text")
        .stderr_has("this byte is not UTF-8");
    assert_eq!(frame(&run), "all.yml:2:11", "{}", run.stderr);
    // The same in an INI inventory.
    std::fs::remove_file(project.path().join("group_vars/all.yml")).expect("remove");
    std::fs::write(project.path().join("hosts.ini"), b"[web]\nweb\xff1\n").expect("write");
    let run = refused(&project);
    run.stderr_has("hosts.ini is not valid UTF-8 text");
    assert_eq!(frame(&run), "hosts.ini:2:4", "{}", run.stderr);
}

#[test]
fn lists_nested_too_deep_are_framed_where_the_limit_is_reached() {
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let project = project(&format!(
        "- hosts: all\n  vars:\n    deep: {deep}\n  tasks:\n    - debug: msg=hi\n"
    ));
    let run = refused(&project);
    run.stderr_has("site.yml nests flow lists or mappings")
        .stderr_has("more than 255 levels deep");
    // The first bracket past the limit: 10 columns of `    deep: `, 256 brackets.
    assert_eq!(frame(&run), "site.yml:3:266", "{}", run.stderr);
}

#[test]
fn block_lists_nested_too_deep_name_the_depth_limit() {
    let mut text = String::from("- hosts: all\n  vars:\n    deep:\n");
    for level in 0..80 {
        text.push_str(&format!("{}-\n", "  ".repeat(level + 3)));
    }
    text.push_str(&format!("{}x\n  tasks: []\n", "  ".repeat(83)));
    let project = project(&text);
    let run = refused(&project);
    run.stderr_has("nests lists and mappings 65 levels deep, more than dtrplay's limit of 64");
    assert!(frame(&run).starts_with("site.yml:65:"), "{}", run.stderr);
}

#[test]
fn a_valid_file_over_the_node_budget_names_the_limit_and_how_to_raise_it() {
    let project = project("- hosts: all\n  tasks:\n    - debug: msg=hi\n");
    let mut vars = String::new();
    for i in 0..130_000 {
        vars.push_str(&format!("key{i}: value{i}\n"));
    }
    project.file("group_vars/all.yml", &vars);
    let run = refused(&project);
    run.stderr_has("all.yml has more than 250000 YAML nodes")
        .stderr_has("DTRPLAY_YAML_MAX_NODES=1000000");
    assert!(!run.stderr.contains("not valid YAML"), "{}", run.stderr);
    assert!(frame(&run).starts_with("all.yml:"), "{}", run.stderr);
    // Raised as the help says, the same file is read.
    let output = project
        .command(&["validate", "site.yml", "-i", "hosts.ini"])
        .env("DTRPLAY_YAML_MAX_NODES", "1000000")
        .output()
        .expect("run dtrplay");
    project.finished(output).success();
}
