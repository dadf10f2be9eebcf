//! Inventories: YAML, INI, directories and variable files read as Ansible
//! reads them, checked against output recorded from ansible-core (see
//! tests/fixtures/inventory/README.md), plus the diagnostics for broken
//! inventories and unknown host patterns.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dtrplay::connection::Transport;
use dtrplay::error::InputError;
use dtrplay::inventory::{Inventory, Pattern};
use dtrplay::source::SourceFile;
use dtrplay::yaml;
use serde_json::{Value, json};

const FIXTURES: &str = "tests/fixtures/inventory";

/// The `-i` sources of each recorded case, as `tools/record.py` passes them.
const CASES: [(&str, &[&str]); 6] = [
    ("yaml_nested", &["hosts.yml"]),
    ("ini_basic", &["hosts.ini"]),
    ("vars_files", &["hosts.yml"]),
    ("precedence", &["hosts.yml"]),
    ("dir_inventory", &["inventory"]),
    ("two_sources", &["a/hosts.yml", "b/hosts.ini"]),
];

fn case_dir(case: &str) -> PathBuf {
    Path::new(FIXTURES).join(case)
}

fn load_case(case: &str) -> Inventory {
    let sources = CASES
        .iter()
        .find(|(name, _)| *name == case)
        .map(|(_, sources)| *sources)
        .unwrap_or_default();
    let paths: Vec<PathBuf> = sources.iter().map(|s| case_dir(case).join(s)).collect();
    match Inventory::load(&paths) {
        Ok(inv) => inv,
        Err(errors) => panic!("{case} should load:\n{}", render_all(&errors)),
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Renders a diagnostic the way the CLI does, without colours.
fn render(err: &InputError) -> String {
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    if let Err(e) = handler.render_report(&mut out, err) {
        return format!("could not render: {e}");
    }
    out
}

fn render_all(errors: &[InputError]) -> String {
    errors.iter().map(render).collect::<Vec<_>>().join("\n")
}

fn load_errors(paths: &[&str]) -> String {
    let paths: Vec<PathBuf> = paths.iter().map(|p| Path::new(FIXTURES).join(p)).collect();
    match Inventory::load(&paths) {
        Ok(_) => "loaded without errors".to_string(),
        Err(errors) => render_all(&errors),
    }
}

macro_rules! assert_diagnostic {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "fixtures/inventory/snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

#[test]
fn list_output_matches_ansible_inventory() {
    for (case, _) in CASES {
        let inv = load_case(case);
        let expected = read_json(&case_dir(case).join("expected.json"));
        let ours = inv.to_list_json();
        assert_eq!(
            ours,
            expected,
            "{case}: ours\n{}\nansible's\n{}",
            serde_json::to_string_pretty(&ours).unwrap_or_default(),
            serde_json::to_string_pretty(&expected).unwrap_or_default()
        );
    }
}

#[test]
fn list_output_is_formatted_like_ansible_inventory() {
    // Same bytes as ansible-inventory prints, so users can diff the two.
    for (case, _) in CASES {
        let inv = load_case(case);
        let expected =
            std::fs::read_to_string(case_dir(case).join("expected.json")).unwrap_or_default();
        assert_eq!(inv.to_list_string(), expected.trim_end(), "{case}");
    }
}

#[test]
fn patterns_select_what_ansible_selects() {
    for case in ["yaml_nested", "ini_basic"] {
        let inv = load_case(case);
        let expected = read_json(&case_dir(case).join("patterns.json"));
        let Some(expected) = expected.as_object() else {
            panic!("{case}: patterns.json is not an object");
        };
        for (text, hosts) in expected {
            let pattern =
                Pattern::parse(text, None).unwrap_or_else(|e| panic!("{text}: {}", render(&e)));
            assert_eq!(
                json!(inv.select(&pattern)),
                *hosts,
                "{case}: pattern {text:?}"
            );
        }
    }
}

#[test]
fn host_json_is_the_merged_variables() {
    let inv = load_case("precedence");
    assert_eq!(
        inv.host_json("h2"),
        Some(json!({"who": "host", "region_only": true}))
    );
    assert_eq!(inv.host_json("nosuch"), None);
    // The implicit localhost has `all`'s variables and a local connection.
    assert_eq!(
        inv.host_json("localhost"),
        Some(json!({"who": "all", "ansible_connection": "local"}))
    );
}

#[test]
fn variables_remember_where_they_were_written() {
    let inv = load_case("vars_files");
    let vars = inv.host_vars("web1");
    let level = &vars["level"];
    assert_eq!(level.value(), &json!("file-host"));
    assert!(level.origin().src.name().ends_with("host_vars/web1.yml"));
    assert_eq!(level.origin().raw(), "file-host");

    let inv = load_case("ini_basic");
    let vars = inv.host_vars("ucp-extra.example.com");
    assert_eq!(vars["role"].origin().raw(), "\"manager node\"");
    assert_eq!(vars["weight"].origin().raw(), "3.5");
    let (line, col) = vars["weight"]
        .origin()
        .src
        .line_col(vars["weight"].origin().span.offset());
    assert_eq!((line, col), (8, 55));
}

#[test]
fn group_names_and_groups_follow_ansible() {
    let inv = load_case("yaml_nested");
    assert_eq!(
        inv.groups_of("ucp1.example.com"),
        ["monitoring", "ucp", "ucp_managers"]
    );
    assert_eq!(inv.groups_of("bastion.example.com"), ["ungrouped"]);
    assert_eq!(
        inv.group_hosts("ucp")[..3],
        ["ucp1.example.com", "ucp2.example.com", "ucp3.example.com"]
    );
    let groups = inv.groups_dict();
    assert_eq!(groups["dtr"].len(), 4);
    assert_eq!(groups["empty_group"].len(), 0);
    let hosts: Vec<&str> = inv.hosts().map(|h| h.name()).collect();
    assert_eq!(hosts.first(), Some(&"bastion.example.com"));
    assert_eq!(hosts.len(), 15);
    assert!(inv.host("localhost").is_some_and(|h| h.is_implicit()));
}

#[test]
fn connection_variables_become_a_target() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("hosts.yml");
    let text = r#"
all:
  hosts:
    node1:
      ansible_host: 10.0.0.5
      ansible_port: "2222"
      ansible_user: admin
      ansible_ssh_private_key_file: keys/id_ed25519
      ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o 'ProxyCommand=ssh -W %h:%p bastion'"
    node2:
      ansible_connection: docker
    node3:
      ansible_port: 99999
"#;
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    let inv = Inventory::load(&[path]).unwrap_or_else(|e| panic!("{}", render_all(&e)));

    let target = inv
        .target("node1", &inv.host_vars("node1"))
        .unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_eq!(target.address, "10.0.0.5");
    assert_eq!(target.port, Some(2222));
    assert_eq!(target.user.as_deref(), Some("admin"));
    assert_eq!(target.transport, Transport::Ssh);
    assert_eq!(
        target.ssh_args,
        [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "ProxyCommand=ssh -W %h:%p bastion"
        ]
    );
    let key = target.key_file.unwrap_or_default();
    assert!(
        key.is_absolute() && key.ends_with("keys/id_ed25519"),
        "{}",
        key.display()
    );

    let local = inv
        .target("localhost", &inv.host_vars("localhost"))
        .unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_eq!(
        (local.address.as_str(), local.transport),
        ("localhost", Transport::Local)
    );

    let docker = inv
        .target("node2", &inv.host_vars("node2"))
        .map_err(|e| e.message);
    assert_eq!(
        docker,
        Err("connection type `docker` is not supported".to_string())
    );
    let port = inv
        .target("node3", &inv.host_vars("node3"))
        .map_err(|e| e.location());
    assert!(port.is_err_and(|loc| loc.ends_with("hosts.yml:13:21")));
}

#[test]
fn diagnostic_for_invalid_yaml() {
    assert_diagnostic!("bad_yaml", load_errors(&["errors/bad_yaml.yml"]));
}

#[test]
fn diagnostic_for_unknown_group_key() {
    assert_diagnostic!("unknown_key", load_errors(&["errors/unknown_key.yml"]));
}

#[test]
fn diagnostics_for_bad_ini_lines() {
    assert_diagnostic!("bad_line", load_errors(&["errors/bad_line.ini"]));
}

#[test]
fn diagnostic_for_bad_range() {
    assert_diagnostic!("bad_range", load_errors(&["errors/bad_range.yml"]));
}

#[test]
fn diagnostic_for_group_vars_that_is_a_list() {
    assert_diagnostic!(
        "group_vars_list",
        load_errors(&["errors/group_vars_list/hosts.yml"])
    );
}

#[test]
fn diagnostic_for_missing_inventory() {
    assert_diagnostic!("missing", load_errors(&["errors/no-such-inventory.yml"]));
}

#[test]
fn diagnostics_for_unknown_pattern_names() {
    let inv = load_case("yaml_nested");
    let src = SourceFile::new(
        "site.yml",
        "- hosts: ucp_manager:&dtr:!wrker*\n  tasks: []\n",
    );
    let play = yaml::parse(&src).unwrap_or_else(|e| panic!("{}", render(&e)));
    let hosts = play
        .as_seq()
        .and_then(|plays| plays.first())
        .and_then(|p| p.get("hosts"))
        .unwrap_or_else(|| panic!("no hosts"));
    let pattern = Pattern::from_node(hosts).unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_diagnostic!("unknown_pattern", render_all(&inv.unknown_names(&pattern)));

    let limit = Pattern::parse("dtr[7]", None).unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_diagnostic!(
        "pattern_out_of_range",
        render_all(&inv.unknown_names(&limit))
    );

    let known = Pattern::parse("ucp,&monitoring,!nosuch_host,localhost,empty_group", None)
        .unwrap_or_else(|e| panic!("{}", render(&e)));
    let names: Vec<String> = inv
        .unknown_names(&known)
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(names, ["no host or group is named `nosuch_host`"]);
}

#[test]
fn bad_patterns_are_errors() {
    for (text, message) in [
        ("", "the host pattern is empty"),
        ("web:!", "`!` names no host or group"),
        ("~web(", "`~web(` is not a valid regular expression"),
    ] {
        let err = Pattern::parse(text, None)
            .map(|_| ())
            .map_err(|e| e.message);
        assert_eq!(err, Err(message.to_string()), "{text:?}");
    }
}

/// A 1000-host inventory like a large UCP cluster: nested groups, group and
/// host variables, group_vars/ and host_vars/ files.
fn write_large_inventory(dir: &Path, hosts: usize) {
    let mut yaml = String::from("all:\n  vars:\n    ntp: pool.ntp.org\n  children:\n");
    for rack in 0..10 {
        yaml.push_str(&format!(
            "    rack{rack}:\n      vars:\n        rack: {rack}\n      children:\n        rack{rack}_workers:\n          hosts:\n"
        ));
        for n in 0..hosts / 10 {
            yaml.push_str(&format!(
                "            node{rack}-{n:03}.example.com:\n              ansible_host: 10.{rack}.{}.{}\n",
                n / 250,
                n % 250
            ));
        }
    }
    yaml.push_str("    ucp:\n      children:\n        rack0_workers:\n");
    let write = |path: PathBuf, text: &str| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    };
    write(dir.join("hosts.yml"), &yaml);
    write(
        dir.join("group_vars/all.yml"),
        "docker_certs_dir: /etc/docker/certs.d\n",
    );
    write(dir.join("group_vars/rack3/main.yml"), "rack_name: three\n");
    write(
        dir.join("host_vars/node1-001.example.com.yml"),
        "special: true\n",
    );
}

#[test]
fn large_inventories_load_and_resolve_quickly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    write_large_inventory(dir.path(), 1000);
    let started = Instant::now();
    let inv = Inventory::load(&[dir.path().join("hosts.yml")])
        .unwrap_or_else(|e| panic!("{}", render_all(&e)));
    let mut vars = 0;
    for host in inv.hosts() {
        vars += inv.host_vars(host.name()).len();
    }
    let selected = inv
        .select(&Pattern::parse("rack*:!rack0", None).unwrap_or_else(|e| panic!("{}", render(&e))));
    let elapsed = started.elapsed();
    assert_eq!(inv.hosts().count(), 1000);
    assert_eq!(selected.len(), 900);
    assert!(vars > 4000);
    // A release build takes about 10 ms here (5 of them parsing the YAML);
    // this bound is for unoptimised test builds on a busy machine, and still
    // catches quadratic work.
    assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
}

#[test]
fn inventory_command_prints_like_ansible_inventory() {
    let paths = [case_dir("precedence").join("hosts.yml")];
    let host = dtrplay::inventory::cli_output(&paths, Some("h2")).map_err(|e| e.to_string());
    // `ansible-inventory -i precedence/hosts.yml --host h2`, verbatim.
    let expected = "{\n    \"region_only\": true,\n    \"who\": \"host\"\n}";
    assert_eq!(host.as_deref(), Ok(expected));

    let list = dtrplay::inventory::cli_output(&paths, None).map_err(|e| e.to_string());
    let recorded =
        std::fs::read_to_string(case_dir("precedence").join("expected.json")).unwrap_or_default();
    assert_eq!(list.as_deref(), Ok(recorded.trim_end()));

    match dtrplay::inventory::cli_output(&paths, Some("h22")) {
        Err(dtrplay::error::Error::Usage { message, help }) => {
            assert_eq!(message, "`h22` is not a host of the inventory");
            assert_eq!(help.as_deref(), Some("did you mean `h2`?"));
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
}
