//! Secrets are values tracked through templating (issue 11 §3): anything a
//! template computes from a secret is a secret, shown as `********`
//! wherever it would be shown, and still written exactly to hosts.

use crate::harness::{Nodes, Project};

const SECRETS: [&str; 6] = [
    "PlayTok3n-99",
    "S3cr3tPa55",
    "UcpAdminPass-77",
    "admin-pass-88",
    "pässwört-geheim",
    "S3cretPW-flag",
];

fn project(nodes: &Nodes, playbook: &str) -> Project {
    let project = Project::new();
    let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    project.file(
        "inventory.yml",
        &nodes.inventory(
            &[("nodes", &refs)],
            "api_password: S3cr3tPa55\nUCP_Admin_Pass: UcpAdminPass-77\nadmin_pass: admin-pass-88\nwifi_passphrase: \"pässwört-geheim\"",
        ),
    );
    project.file("site.yml", playbook);
    project
}

/// Every form a secret may take in output: as written, base64, JSON escapes.
fn leaked_forms(text: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut forms = Vec::new();
    for secret in SECRETS {
        let derived = [
            secret.to_string(),
            b64.encode(format!("root:{secret}")),
            secret.to_uppercase(),
            secret.chars().rev().collect(),
            secret.chars().skip(2).collect(),
            serde_json::to_string(secret).unwrap_or_default(),
            secret.replace('ä', "\\u00e4").replace('ö', "\\u00f6"),
        ];
        for form in derived {
            let form = form.trim_matches('"').to_string();
            if text.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

fn assert_no_leak(run: &crate::harness::Run, what: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let leaks = leaked_forms(text);
        assert!(leaks.is_empty(), "{what} {stream} leaks {leaks:?}:\n{text}");
    }
}

const PLAYBOOK: &str = r#"
    - name: "play of {{ play_token }}"
      hosts: nodes
      tasks:
        - name: "login {{ api_password }}"
          copy: {dest: "/srv/leak_{{ api_password }}", content: "pw={{ api_password }}\n"}
          notify: "handler {{ admin_pass }}"
        - name: derived
          debug:
            msg: >-
              {{ ('root:' ~ api_password) | b64encode }} {{ (' ' ~ api_password ~ ' ') | trim }}
              {{ api_password | upper }} {{ api_password | reverse }} {{ api_password[2:] }}
              {{ UCP_Admin_Pass }} {{ admin_pass }} {{ {'w': wifi_passphrase} | to_json }}
        - name: secret config
          copy: {dest: /srv/config.ini, content: "[auth]\npassword={{ api_password }}\nuser=admin\n"}
        - name: hidden
          command: echo {{ api_password }}
          register: hidden_out
          no_log: true
        - name: show hidden
          debug: var=hidden_out
        - set_fact: {copied: "{{ hidden_out.stdout | default('none') }}"}
          no_log: true
        - name: show copied
          debug: var=copied
        - name: flagged
          command: echo docker run ucp install --ucp-password S3cretPW-flag
      handlers:
        - name: "handler {{ admin_pass }}"
          debug: {msg: "handled"}
"#;

#[test]
fn secrets_never_show_through_names_diffs_derived_values_or_no_log() {
    let nodes = Nodes::start(1);
    let project = project(&nodes, PLAYBOOK);
    let plan = project.run(&[
        "plan",
        "site.yml",
        "-i",
        "inventory.yml",
        "-v",
        "-e",
        "play_token=PlayTok3n-99",
    ]);
    plan.success();
    assert_no_leak(&plan, "plan");
    assert!(
        plan.stdout.contains("/srv/leak_********"),
        "{}",
        plan.stdout
    );
    for output in ["human", "json"] {
        // A fresh node each time, so that the files are created again.
        for file in ["/srv/leak_S3cr3tPa55", "/srv/config.ini"] {
            let _ = std::fs::remove_file(nodes.node("node1").path(file));
        }
        let run = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--diff",
            "-v",
            "--output",
            output,
            "-e",
            "play_token=PlayTok3n-99",
        ]);
        run.success();
        assert_no_leak(&run, output);
        assert!(
            run.stdout.contains("secret content changed: sha256 "),
            "{output}: {}",
            run.stdout
        );
    }
    // Hosts still get the exact values.
    let node = nodes.node("node1");
    assert_eq!(
        std::fs::read_to_string(node.path("/srv/leak_S3cr3tPa55")).expect("written"),
        "pw=S3cr3tPa55\n"
    );
    assert_eq!(
        std::fs::read_to_string(node.path("/srv/config.ini")).expect("written"),
        "[auth]\npassword=S3cr3tPa55\nuser=admin\n"
    );
}

/// A YAML error in a vars file shows the key of a secret-named line next
/// to it, never its value.
#[test]
fn error_snippets_never_show_secret_values() {
    let project = Project::new();
    project.file("inventory/hosts.ini", "node1 ansible_host=127.0.0.1\n");
    project.file(
        "inventory/group_vars/all.yml",
        "dtr_admin_password: \"GroupVarsSecret-1212\"\nbad: [unclosed\nother: 1\n",
    );
    project.file(
        "site.yml",
        "- hosts: all\n  tasks:\n    - debug: {msg: hi}\n",
    );
    let run = project.run(&["validate", "site.yml", "-i", "inventory/hosts.ini"]);
    assert_ne!(run.status, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("GroupVarsSecret-1212")
            && !run.stdout.contains("GroupVarsSecret-1212"),
        "{}",
        run.stderr
    );
}

#[test]
fn vv_shows_the_scripts_sent_to_the_host_with_secrets_masked() {
    let nodes = Nodes::start(1);
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          gather_facts: false
          tasks:
            - name: Log in
              command: "echo login-with {{ api_password }}"
            - name: Hidden
              command: "echo hidden-step {{ api_password | upper }}"
              no_log: true
        "#,
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml", "-vv"]);
    run.success()
        .stdout_has("    script:")
        .stdout_has("login-with ********");
    assert_no_leak(&run, "-vv scripts");
    assert!(
        !run.stdout.contains("hidden-step"),
        "a no_log task's script is not shown:\n{}",
        run.stdout
    );
    // Without -vv no script is shown.
    let quiet = project.run(&["apply", "site.yml", "-i", "inventory.yml", "-v"]);
    quiet.success();
    assert!(!quiet.stdout.contains("script:"), "{}", quiet.stdout);
}

/// What a `no_log` task registered stays secret however a later template
/// takes it apart: next to other expressions, turned into text whole, or
/// uppercased beside values that are masked already.
#[test]
fn values_derived_from_a_no_log_result_are_masked_whole() {
    let nodes = Nodes::start(1);
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          gather_facts: false
          tasks:
            - command: echo Hidd3n-words Sec0nd-piece
              register: hidden
              no_log: true
            - debug:
                msg: "{{ hidden.stdout | length }} {{ hidden.stdout | upper }} {{ hidden.cmd }}"
            - debug:
                msg: "{{ hidden | string | upper }}"
            - debug:
                msg: "{{ hidden.stdout.split(' ') | map('upper') | join(', ') }}"
        "#,
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.success();
    for word in [
        "Hidd3n", "HIDD3N", "Sec0nd", "SEC0ND", "-words", "-WORDS", "-piece", "-PIECE",
    ] {
        assert!(!run.stdout.contains(word), "{word} shown:\n{}", run.stdout);
    }
    assert_eq!(
        run.stdout.matches("ok: [node1]: ********").count(),
        3,
        "{}",
        run.stdout
    );
}
