//! Reports people and CI systems read: JUnit XML with one test case per
//! host and task, checked by parsing it with Python's XML parser, and the
//! HTML page of `--report run.html`, checked by rendering it in a real
//! browser (Debian's Chromium, headless, which `scripts/prepare --tests`
//! installs).

use crate::harness::{Nodes, Project};

/// The test cases of a JUnit document as `suite|name|outcome|message`
/// lines, read with a real XML parser (Python's), so malformed XML fails.
pub(crate) fn cases(xml: &str) -> Vec<String> {
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

/// Runs headless Chromium on `page` with its own profile directory (so the
/// machine's own browser state is never touched) and returns what it wrote
/// to standard output.
fn chromium(profile: &std::path::Path, args: &[&str], page: &std::path::Path) -> String {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", profile)
        .output()
        .expect("chromium runs (scripts/prepare --tests installs Debian's chromium)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many pixels of a PNG file have exactly this colour.
fn pixels_of(png_path: &std::path::Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG file");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = info.color_type.samples();
    assert!(step >= 3, "an RGB screenshot, got {:?}", info.color_type);
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| p[..3] == rgb)
        .count()
}

#[test]
fn html_report_renders_in_chromium_with_recap_timeline_results_and_diffs() {
    let nodes = Nodes::start(2);
    let project = Project::new();
    project.file("inventory.yml", &nodes.inventory(&[], ""));
    project.file(
        "site.yml",
        r#"
        - name: Report page
          hosts: all
          gather_facts: false
          tasks:
            - name: Make the directory
              file: {path: /srv/report, state: directory, mode: "0755"}
            - name: Write the motd
              copy:
                dest: /srv/report/motd.txt
                content: "hello <b>world</b>\n"
            - name: Only on node2
              command: "true"
              when: inventory_hostname == 'node2'
            - name: Fails on node1
              command: sh -c 'echo "bad <script>alert(1)</script>" >&2; exit 3'
              when: inventory_hostname == 'node1'
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--diff",
        "--report",
        "run.html",
        "--report",
        "run.xml",
    ]);
    run.status(2).stdout_has("PLAY RECAP");

    // The JUnit file of the same run is complete and valid.
    let xml = std::fs::read_to_string(project.path().join("run.xml")).expect("run.xml");
    assert_eq!(cases(&xml)[0], "totals 8 1 0 2", "{xml}");

    // The page holds host output as text, never as markup.
    let page = project.path().join("run.html");
    let html = std::fs::read_to_string(&page).expect("run.html");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        !html.contains("<script"),
        "host output became markup:\n{html}"
    );
    assert!(
        html.contains("bad &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );

    // What the browser builds from it: the recap, the timeline lanes, a
    // result per host and task, and the diff inside the result it belongs to.
    let profile = project.path().join("chromium");
    let dom = chromium(&profile, &["--dump-dom"], &page);
    for wanted in [
        "<h2>Recap</h2>",
        "<h2>Timeline</h2>",
        "<h2>Play: Report page</h2>",
        "Write the motd",
        "<span class=\"host\">node1</span>",
        "<span class=\"host\">node2</span>",
        "<span class=\"badge failed\">failed</span>",
        "<span class=\"badge skipped\">skipped</span>",
        "<h4>diff: /srv/report/motd.txt</h4>",
        "<span class=\"add\">+hello &lt;b&gt;world&lt;/b&gt;</span>",
    ] {
        assert!(
            dom.contains(wanted),
            "no {wanted:?} in the rendered page:\n{dom}"
        );
    }
    assert_eq!(
        dom.matches("<details class=\"result\">").count(),
        8,
        "four diffs, a command's rc, a failure and two skip reasons open to details:\n{dom}"
    );
    assert!(!dom.contains("<script"), "{dom}");

    // The screenshot shows the status colours: changed results, the failure
    // and the skips are drawn, not only present in the markup.
    let shot = project.path().join("run.png");
    chromium(
        &profile,
        &[&format!("--screenshot={}", shot.display())],
        &page,
    );
    for (status, rgb) in [
        ("changed", [0xd9, 0xa4, 0x00]),
        ("failed", [0xd3, 0x2f, 0x2f]),
        ("skipped", [0x26, 0xa6, 0xb8]),
    ] {
        let count = pixels_of(&shot, rgb);
        assert!(count > 200, "{status}: only {count} pixels of its colour");
    }
}

#[test]
fn a_report_file_without_a_known_extension_is_refused_before_any_connection() {
    let project = Project::new();
    project.file(
        "inventory.yml",
        "all:\n  hosts:\n    nowhere:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n",
    );
    project.file(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks: [{ping: {}}]\n",
    );
    project
        .run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--report",
            "run.txt",
        ])
        .status(4)
        .stderr_has("--report run.txt")
        .stderr_has(".html");
    assert!(!project.path().join("run.txt").exists());
}
