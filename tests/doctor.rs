//! `doctor` against the lab: one verdict per trust link and per node, a
//! cause and a fix for each broken link, the push error each broken link
//! causes, and exit status 0 only when everything holds.

use dtrplay::connection::ConnError;
use dtrplay::connection::local::LocalConnection;
use dtrplay::doctor::{self, Health, Inputs, Link, NodeTarget, Verdict};
use dtrplay::error::ExitStatus;
use dtrplay_lab::Flavor;
use serde_json::{Value, json};

use crate::integration_tasks::{Lab, local, run_task};

/// Two local "nodes" sharing the lab's certs.d (they are the same machine),
/// plus the contract's variables.
fn inputs(lab: &Lab) -> Inputs {
    let certs = lab.certs_dir().display().to_string();
    let node = |name: &str| NodeTarget {
        name: name.to_string(),
        certs_dir: certs.clone(),
        conn: Ok(Box::new(LocalConnection::new(name))),
        trust: Default::default(),
        escalation: None,
    };
    Inputs {
        vars: lab.vars(),
        nodes: vec![node("node1"), node("node2")],
        unset_env: Vec::new(),
    }
}

async fn verdicts(inputs: &Inputs) -> Vec<Verdict> {
    let lookup = dtrplay::api::contract::map_lookup(&inputs.vars);
    doctor::diagnose(&lookup, &inputs.nodes).await
}

fn find(verdicts: &[Verdict], link: Link) -> &Verdict {
    verdicts
        .iter()
        .find(|v| v.link == link && v.health != Health::Warning)
        .unwrap_or_else(|| panic!("no verdict for {link:?} in {verdicts:#?}"))
}

async fn integrate(lab: &Lab) {
    let vars = lab.vars();
    for (module, args) in [
        ("upload-ca", json!({})),
        ("set-bypass-ca", json!({"ca": lab.ucp_ca_pem()})),
        ("copy-ca-crt", json!({})),
    ] {
        run_task(module, args, &vars, &local(), false)
            .await
            .unwrap_or_else(|e| panic!("{module}: {e}"));
    }
}

#[tokio::test]
async fn a_fresh_cluster_has_every_link_broken_with_causes_and_fixes() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let inputs = inputs(&lab);
    let all = verdicts(&inputs).await;
    assert_eq!(find(&all, Link::DtrCa).health, Health::Ok);
    let ucp = find(&all, Link::UcpKnowsDtr);
    assert_eq!(ucp.health, Health::Broken);
    assert!(ucp.fix.as_deref().is_some_and(|f| f.contains("upload-ca")));
    let bypass = find(&all, Link::DtrTrustsUcp);
    assert_eq!(bypass.health, Health::Broken);
    assert!(bypass.message.contains("authBypassCA"), "{bypass:?}");
    let nodes: Vec<&Verdict> = all
        .iter()
        .filter(|v| v.link == Link::NodeTrustsDtr)
        .collect();
    assert_eq!(nodes.len(), 2);
    assert!(
        nodes
            .iter()
            .all(|v| v.health == Health::Broken && v.message.contains("is missing"))
    );
    assert_eq!(doctor::exit_status(&all), ExitStatus::Unhealthy);

    // Each broken link names the push error it causes.
    let (text, status) = doctor::check(&inputs, true).await;
    assert_eq!(status, ExitStatus::Unhealthy);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let symptom = |link: &str| {
        lines
            .iter()
            .find(|l| l["link"] == link && l["status"] == "broken")
            .map(|l| l["symptom"].clone())
    };
    assert_eq!(
        symptom("dtr_trusts_ucp"),
        Some(json!(
            "denied: requested access to the resource is denied (Docker 1.11: unauthorized: authentication required)"
        ))
    );
    assert_eq!(
        symptom("node_trusts_dtr"),
        Some(json!("x509: certificate signed by unknown authority"))
    );
    let (human, _) = doctor::check(&inputs, false).await;
    assert!(
        human.contains("BROKEN  node1: node trusts DTR (step 5)"),
        "{human}"
    );
    assert!(human.contains("fix:"), "{human}");
}

#[tokio::test]
async fn an_integrated_cluster_is_healthy() {
    let lab = Lab::start(Flavor::Ucp1).await;
    integrate(&lab).await;
    let inputs = inputs(&lab);
    let all = verdicts(&inputs).await;
    let broken: Vec<&Verdict> = all.iter().filter(|v| v.health == Health::Broken).collect();
    assert!(broken.is_empty(), "{broken:#?}");
    let (text, status) = doctor::check(&inputs, false).await;
    assert_eq!(status, ExitStatus::Success, "{text}");
    assert!(text.contains("every trust link holds"), "{text}");
}

#[tokio::test]
async fn a_wrong_ca_crt_and_an_unreachable_node_are_per_node_verdicts() {
    let lab = Lab::start(Flavor::Ucp1).await;
    integrate(&lab).await;
    std::fs::write(lab.ca_crt(), lab.ucp_ca_pem()).expect("break ca.crt");
    let mut inputs = inputs(&lab);
    inputs.nodes.push(NodeTarget {
        name: "node3".into(),
        certs_dir: lab.certs_dir().display().to_string(),
        conn: Err(ConnError::Connect {
            host: "node3".into(),
            message: "Connection refused".into(),
            hint: None,
        }),
        trust: Default::default(),
        escalation: None,
    });
    let all = verdicts(&inputs).await;
    let node = |name: &str| {
        all.iter()
            .find(|v| v.node.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no verdict for {name}"))
    };
    let wrong = node("node1");
    assert_eq!(wrong.health, Health::Broken);
    assert!(wrong.message.contains("holds another CA"), "{wrong:?}");
    assert!(
        wrong
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("UCP Cluster Root CA") && c.contains("DTR CA")),
        "{wrong:?}"
    );
    let down = node("node3");
    assert_eq!(down.health, Health::Broken);
    assert!(down.message.contains("cannot be reached"), "{down:?}");
    // The API links still hold.
    assert_eq!(find(&all, Link::UcpKnowsDtr).health, Health::Ok);
    assert_eq!(find(&all, Link::DtrTrustsUcp).health, Health::Ok);
}

#[tokio::test]
async fn insecure_and_a_foreign_bypass_ca_are_broken_links() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let vars = lab.vars();
    run_task(
        "upload-ca",
        json!({"insecure": true}),
        &vars,
        &local(),
        false,
    )
    .await
    .expect("insecure upload");
    // DTR trusts DTR's own CA instead of UCP's: the wrong CA.
    run_task(
        "set-bypass-ca",
        json!({"ca": lab.dtr_ca_pem()}),
        &vars,
        &local(),
        false,
    )
    .await
    .expect("foreign bypass CA");
    let all = verdicts(&inputs(&lab)).await;
    let ucp = find(&all, Link::UcpKnowsDtr);
    assert_eq!(ucp.health, Health::Broken);
    assert!(
        ucp.cause
            .as_deref()
            .is_some_and(|c| c.contains("man-in-the-middle")),
        "{ucp:?}"
    );
    let bypass = find(&all, Link::DtrTrustsUcp);
    assert_eq!(bypass.health, Health::Broken);
    assert!(bypass.message.contains("another CA"), "{bypass:?}");
}

#[tokio::test]
async fn ucp3_trust_from_installation_is_reported_as_such() {
    let lab = Lab::start(Flavor::Ucp3).await;
    integrate(&lab).await;
    let all = verdicts(&inputs(&lab)).await;
    let bypass = find(&all, Link::DtrTrustsUcp);
    assert_eq!(bypass.health, Health::Ok);
    assert!(bypass.message.contains("--ucp-ca"), "{bypass:?}");
    assert_eq!(find(&all, Link::UcpKnowsDtr).health, Health::Ok, "{all:#?}");
    assert_eq!(doctor::exit_status(&all), ExitStatus::Success);
}
