//! Facts against the oracle: `ansible -m setup` and dtrplay's gathering on
//! the same node must agree on every fact dtrplay reports for the common
//! cases (issue 14's list), values and types alike.

use serde_json::{Value, json};

use super::ansible::Ansible;
use crate::harness::{Nodes, Project};

/// Facts compared as they are.
const EXACT: &[&str] = &[
    "hostname",
    "nodename",
    "fqdn",
    "domain",
    "system",
    "kernel",
    "kernel_version",
    "machine",
    "architecture",
    "machine_id",
    "os_family",
    "distribution",
    "distribution_version",
    "distribution_major_version",
    "distribution_release",
    "memtotal_mb",
    "swaptotal_mb",
    "processor",
    "processor_count",
    "processor_cores",
    "processor_threads_per_core",
    "processor_vcpus",
    "processor_nproc",
    "user_id",
    "user_uid",
    "user_gid",
    "user_gecos",
    "user_dir",
    "user_shell",
    "real_user_id",
    "effective_user_id",
    "real_group_id",
    "effective_group_id",
    "pkg_mgr",
    "service_mgr",
    "dns",
    "fips",
    "apparmor",
    "cmdline",
    "proc_cmdline",
    "default_ipv4",
    "default_ipv6",
    "lo",
    "ssh_host_key_ed25519_public",
    "ssh_host_key_ed25519_public_keytype",
];

/// Lists compared as sets (interfaces are listed in directory order by
/// Ansible, sorted by dtrplay).
const SETS: &[&str] = &["interfaces", "all_ipv4_addresses", "all_ipv6_addresses"];

fn sorted(value: &Value) -> Value {
    let mut items: Vec<String> = value
        .as_array()
        .map(|a| a.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    items.sort();
    json!(items)
}

/// What of a mount does not move while the test runs.
fn stable_mounts(value: &Value) -> Value {
    let mut mounts: Vec<Value> = value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    json!({
                        "mount": m["mount"], "device": m["device"], "fstype": m["fstype"],
                        "options": m["options"], "block_size": m["block_size"],
                        "block_total": m["block_total"], "inode_total": m["inode_total"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    mounts.sort_by_key(|m| m["mount"].to_string());
    Value::from(mounts)
}

#[test]
fn setup_facts_agree_with_ansible_on_the_same_node() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("nodes", &["node1"])], ""),
    );
    let ansible = Ansible::get();
    let output = ansible
        .command("ansible", &project.path().join(".ansible"))
        .current_dir(project.path())
        .args(["node1", "-i", "inventory.yml", "-m", "setup"])
        .output()
        .expect("run ansible -m setup");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ansible -m setup failed\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json_at = stdout.find('{').expect("JSON in ansible's output");
    let theirs: Value = serde_json::from_str(&stdout[json_at..]).expect("ansible's facts");
    let theirs = &theirs["ansible_facts"];

    project.file(
        "facts.yml",
        r#"
        - hosts: nodes
          gather_facts: true
          tasks:
            - copy:
                dest: "{{ out }}"
                content: "{{ ansible_facts | to_json }}"
              delegate_to: localhost
        "#,
    );
    let out = format!("out={}", project.path().join("ours.json").display());
    project
        .run(&["apply", "facts.yml", "-i", "inventory.yml", "-e", &out])
        .success();
    let text = std::fs::read_to_string(project.path().join("ours.json")).expect("our facts");
    let ours: Value = serde_json::from_str(&text).expect("our facts are JSON");

    let mut differences = Vec::new();
    let mut compare = |name: &str, theirs: Value, ours: Value| {
        if theirs != ours {
            differences.push(format!("{name}:\n  ansible: {theirs}\n  dtrplay: {ours}"));
        }
    };
    for name in EXACT {
        let key = format!("ansible_{name}");
        compare(name, theirs[&key].clone(), ours[*name].clone());
    }
    for name in SETS {
        let key = format!("ansible_{name}");
        compare(name, sorted(&theirs[&key]), sorted(&ours[*name]));
    }
    compare(
        "mounts",
        stable_mounts(&theirs["ansible_mounts"]),
        stable_mounts(&ours["mounts"]),
    );
    for var in ["HOME", "LOGNAME", "USER", "SHELL"] {
        compare(
            &format!("env.{var}"),
            theirs["ansible_env"][var].clone(),
            ours["env"][var].clone(),
        );
    }
    for field in ["tz", "tz_offset", "year", "epoch"] {
        let kind = |v: &Value| json!(v.is_string());
        compare(
            &format!("date_time.{field} is a string"),
            kind(&theirs["ansible_date_time"][field]),
            kind(&ours["date_time"][field]),
        );
    }
    compare(
        "date_time keys",
        sorted(&json!(
            theirs["ansible_date_time"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
        )),
        sorted(&json!(
            ours["date_time"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
        )),
    );
    compare(
        "python.version.major",
        theirs["ansible_python"]["version"]["major"].clone(),
        ours["python"]["version"]["major"].clone(),
    );
    compare(
        "python.version.minor",
        theirs["ansible_python"]["version"]["minor"].clone(),
        ours["python"]["version"]["minor"].clone(),
    );
    assert!(
        differences.is_empty(),
        "facts differ:\n{}",
        differences.join("\n")
    );
}
