//! Reports people and CI systems read: JUnit XML with one test case per
//! host and task, checked by parsing it with Python's XML parser.

use crate::harness::{Nodes, Project};

/// The test cases of a JUnit document as `suite|name|outcome|message`
/// lines, read with a real XML parser (Python's), so malformed XML fails.
fn cases(xml: &str) -> Vec<String> {
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == "testsuites", root.tag
print("totals", root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped"))
for suite in root.findall("testsuite"):
    for case in suite.findall("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            el = case.find(kind)
            if el is not None:
                outcome, message = kind, el.get("message") or ""
        print("|".join([suite.get("name"), case.get("name"), outcome, message]))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(xml.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "not valid JUnit XML: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn junit_has_one_case_per_host_and_task_with_failures_and_skips() {
    let nodes = Nodes::start(2);
    let project = Project::new();
    project.file("inventory.yml", &nodes.inventory(&[], ""));
    project.file(
        "site.yml",
        r#"
        - name: Report <play> & co
          hosts: all
          gather_facts: false
          tasks:
            - name: Already fine
              command: "true"
              changed_when: false
            - name: Only on node2
              command: "true"
              when: inventory_hostname == 'node2'
            - name: Items
              command: "echo {{ item }}"
              loop: [a, b]
            - name: Fails on node1
              command: sh -c 'echo "bad <output>" >&2; exit 3'
              when: inventory_hostname == 'node1'
            - name: After the failure
              command: "true"
              changed_when: false
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "junit",
    ]);
    run.status(2);
    let cases = cases(&run.stdout);
    let play = "Report <play> & co";
    let expected = [
        "totals 9 1 0 2".to_string(),
        format!("{play}|[node1] Already fine|passed|"),
        format!("{play}|[node2] Already fine|passed|"),
        format!("{play}|[node1] Only on node2|skipped|Conditional result was False"),
        format!("{play}|[node2] Only on node2|passed|"),
        format!("{play}|[node1] Items|passed|"),
        format!("{play}|[node2] Items|passed|"),
    ];
    assert_eq!(&cases[..expected.len()], &expected[..], "{}", run.stdout);
    let failure = &cases[expected.len()];
    assert!(
        failure.starts_with(&format!("{play}|[node1] Fails on node1|failure|")),
        "{failure}"
    );
    assert!(
        run.stdout.contains("bad &lt;output&gt;"),
        "the failure carries the task's output:\n{}",
        run.stdout
    );
    assert_eq!(
        cases[expected.len() + 1],
        format!("{play}|[node2] Fails on node1|skipped|Conditional result was False")
    );
    assert_eq!(cases.len(), expected.len() + 3, "{cases:#?}");
    assert_eq!(
        cases[expected.len() + 2],
        format!("{play}|[node2] After the failure|passed|")
    );
}
