//! `dtrplay doctor` reports through the same reporters as `apply`: JSON
//! Lines with `version` and `event` on stdout, JUnit with `--output junit`,
//! and `--report FILE` in every format (HTML, JUnit, JSON Lines), on a lab
//! with real sshd nodes and real engines. A broken link is a failure in
//! each format; an integrated cluster passes in each.

use std::path::Path;

use dtrplay_lab::{Flavor, Lab, LabOptions};
use serde_json::Value;

use crate::harness::{Project, Run};
use crate::lab_engines::integrate;
use crate::reports::cases;

/// `dtrplay doctor` over the lab inventory, through the lab's proxy, with
/// more arguments.
fn doctor(project: &Project, lab: &Lab, args: &[&str]) -> Run {
    let inventory = lab.inventory_path().display().to_string();
    let mut all = vec!["doctor", "-i", inventory.as_str()];
    all.extend(args);
    let output = project
        .command(&all)
        .env("HTTPS_PROXY", lab.https_proxy().expect("the lab's proxy"))
        .output()
        .expect("run dtrplay doctor");
    project.finished(output)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The verdict events of JSON Lines, as `link|node|status`, after checking
/// that every line has the schema's version and that the summary is last.
fn verdicts(events: &[Value]) -> Vec<String> {
    assert!(events.iter().all(|e| e["version"] == 1), "{events:#?}");
    assert_eq!(
        events.last().map(|e| e["event"].clone()),
        Some("summary".into())
    );
    events
        .iter()
        .filter(|e| e["event"] == "verdict")
        .map(|e| {
            format!(
                "{}|{}|{}",
                e["link"].as_str().unwrap_or(""),
                e["node"].as_str().unwrap_or("-"),
                e["status"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_broken_and_healthy_links_in_json_junit_and_html() {
    let project = Project::new();
    let options = LabOptions::new(
        project.path().join("lab"),
        Flavor::Ucp1,
        2,
        1,
        env!("CARGO_BIN_EXE_dtrplay"),
    );
    let lab = Lab::start(&options).await.expect("start the lab");
    assert!(lab.has_engines(), "{:?}", lab.engine_warning());
    let dir = project.path();
    let (html, xml, jsonl) = (
        dir.join("doctor.html"),
        dir.join("doctor.xml"),
        dir.join("doctor.json"),
    );
    let reports = |format: &'static str| -> Vec<String> {
        vec![
            "--output".into(),
            format.into(),
            "--report".into(),
            html.display().to_string(),
            "--report".into(),
            xml.display().to_string(),
            "--report".into(),
            jsonl.display().to_string(),
        ]
    };

    // A fresh cluster: steps 3, 4 and 5 are broken, DTR's CA holds.
    let args = reports("junit");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = doctor(&project, &lab, &args);
    run.status(6);
    let on_stdout = cases(&run.stdout);
    assert_eq!(on_stdout, cases(&read(&xml)), "the same document twice");
    let expected_cases = [
        "doctor|DTR's CA (step 2)|passed|",
        "doctor|UCP knows DTR (step 3)|failure|",
        "doctor|DTR trusts UCP (step 4)|failure|",
        "doctor|[node1] node trusts DTR (step 5)|failure|",
        "doctor|[node2] node trusts DTR (step 5)|failure|",
    ];
    for case in expected_cases {
        assert!(
            on_stdout.iter().any(|c| c.starts_with(case)),
            "no case {case:?} in {on_stdout:#?}\n{}",
            run.stdout
        );
    }
    let total = on_stdout.len() - 1;
    let failures = on_stdout.iter().filter(|c| c.contains("|failure|")).count();
    assert_eq!(
        on_stdout[0],
        format!("totals {total} {failures} 0 0"),
        "{on_stdout:#?}"
    );
    // The failure's message is the verdict's finding.
    assert!(
        on_stdout.iter().any(
            |c| c.starts_with("doctor|[node1] node trusts DTR (step 5)|failure|")
                && c.contains("ca.crt")
        ),
        "{on_stdout:#?}"
    );

    let file_verdicts = verdicts(&json_lines(&read(&jsonl)));
    for verdict in [
        "dtr_ca|-|ok",
        "ucp_knows_dtr|-|broken",
        "dtr_trusts_ucp|-|broken",
        "node_trusts_dtr|node1|broken",
        "node_trusts_dtr|node2|broken",
    ] {
        assert!(
            file_verdicts.iter().any(|v| v == verdict),
            "no {verdict} in {file_verdicts:#?}"
        );
    }
    let summary = json_lines(&read(&jsonl)).pop().expect("a summary");
    assert_eq!(summary["healthy"], false, "{summary}");
    assert_eq!(summary["nodes"]["node1"], "broken", "{summary}");

    let page = read(&html);
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<h1>dtrplay doctor</h1>"), "{page}");
    assert!(
        page.contains("<tr class=\"host-failed\"><td>[node2] node trusts DTR (step 5)</td>"),
        "{page}"
    );
    assert!(
        page.contains("<tr class=\"host-ok\"><td>DTR&apos;s CA (step 2)</td>"),
        "{page}"
    );
    assert!(
        page.contains("broken: UCP knows DTR (step 3); DTR trusts UCP (step 4); node trusts DTR (step 5) on 2 of 2 nodes"),
        "{page}"
    );

    // JSON Lines on stdout are the report file's lines.
    let args = reports("json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = doctor(&project, &lab, &args);
    run.status(6);
    assert_eq!(verdicts(&run.events()), file_verdicts, "{}", run.stdout);

    // Integrated: every check passes in every format, and doctor exits 0.
    integrate(
        &project,
        &lab,
        Some("dump-certs,upload-ca,set-bypass-ca,copy-ca-crt"),
        &[],
    )
    .success();
    let args = reports("json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = doctor(&project, &lab, &args);
    run.success();
    let events = run.events();
    assert!(
        verdicts(&events).iter().all(|v| v.ends_with("|ok")),
        "{}",
        run.stdout
    );
    assert_eq!(
        events.last().map(|e| e["healthy"].clone()),
        Some(true.into())
    );
    let healthy = cases(&read(&xml));
    assert!(
        healthy[1..].iter().all(|c| c.contains("|passed|")),
        "{healthy:#?}"
    );
    assert_eq!(healthy[0], format!("totals {} 0 0 0", healthy.len() - 1));
    let page = read(&html);
    assert!(!page.contains("<tr class=\"host-failed\""), "{page}");
    assert!(
        page.contains("every trust link holds on every node"),
        "{page}"
    );
    assert_eq!(verdicts(&json_lines(&read(&jsonl))), verdicts(&events));

    lab.stop().await.expect("stop the lab");
}
