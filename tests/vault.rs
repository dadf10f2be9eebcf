//! Ansible Vault: `dtrplay vault` and `ansible-vault` (the oracle's, from
//! PyPI) read what the other writes, and a playbook with vaulted data fails
//! cleanly, before any connection, when the password is missing or wrong.
//! Running vaulted data against nodes is the oracle case `vault`.

use std::process::Stdio;

use crate::harness::Project;
use crate::oracle::ansible::Ansible;

fn ansible_vault(project: &Project, args: &[&str]) -> (bool, String, String) {
    let output = Ansible::get()
        .command("ansible-vault", &project.path().join(".ansible"))
        .current_dir(project.path())
        .args(args)
        .output()
        .expect("run ansible-vault");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn passwords(project: &Project) {
    project.file("pass.txt", "one password\n");
    project.file("other.txt", "another password\n");
    let script = project.file(
        "prod-client.sh",
        "#!/bin/sh\n[ \"$1\" = --vault-id ] && [ \"$2\" = prod ] && echo 'prod password'\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn files_written_by_either_tool_are_read_by_the_other() {
    let project = Project::new();
    passwords(&project);
    // dtrplay encrypts, ansible-vault decrypts.
    project.file("ours.yml", "db_password: from dtrplay\n");
    project
        .run(&[
            "vault",
            "encrypt",
            "ours.yml",
            "--vault-password-file",
            "pass.txt",
        ])
        .success();
    let text = std::fs::read_to_string(project.path().join("ours.yml")).expect("read");
    assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{text}");
    let (ok, out, err) = ansible_vault(
        &project,
        &["view", "ours.yml", "--vault-password-file", "pass.txt"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "db_password: from dtrplay\n");

    // ansible-vault encrypts with a vault id from a client script, dtrplay reads it.
    project.file("theirs.txt", "from ansible-vault\n");
    let (ok, _, err) = ansible_vault(
        &project,
        &["encrypt", "theirs.txt", "--vault-id", "prod@prod-client.sh"],
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(project.path().join("theirs.txt")).expect("read");
    assert!(
        text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{text}"
    );
    project
        .run(&[
            "vault",
            "view",
            "theirs.txt",
            "--vault-id",
            "dev@other.txt",
            "--vault-id",
            "prod@prod-client.sh",
        ])
        .success()
        .stdout_has("from ansible-vault\n");

    // dtrplay rekeys to another id; ansible-vault reads the result.
    project
        .run(&[
            "vault",
            "rekey",
            "theirs.txt",
            "--vault-id",
            "prod@prod-client.sh",
            "--new-vault-id",
            "dev@other.txt",
        ])
        .success();
    let text = std::fs::read_to_string(project.path().join("theirs.txt")).expect("read");
    assert!(
        text.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"),
        "{text}"
    );
    let (ok, out, err) = ansible_vault(
        &project,
        &[
            "decrypt",
            "theirs.txt",
            "--output",
            "-",
            "--vault-id",
            "dev@other.txt",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "from ansible-vault\n");

    // dtrplay decrypts in place what ansible-vault encrypted.
    project.file("plain.txt", "round trip\n");
    let (ok, _, err) = ansible_vault(
        &project,
        &["encrypt", "plain.txt", "--vault-password-file", "pass.txt"],
    );
    assert!(ok, "{err}");
    project
        .run(&[
            "vault",
            "decrypt",
            "plain.txt",
            "--vault-password-file",
            "pass.txt",
        ])
        .success();
    assert_eq!(
        std::fs::read_to_string(project.path().join("plain.txt")).expect("read"),
        "round trip\n"
    );
}

#[test]
fn encrypted_strings_work_in_both_directions() {
    let project = Project::new();
    passwords(&project);
    // dtrplay's encrypt_string output is a YAML value ansible-playbook reads.
    let ours = project.run(&[
        "vault",
        "encrypt_string",
        "s3cret value",
        "--name",
        "api_token",
        "--vault-id",
        "prod@prod-client.sh",
    ]);
    ours.success();
    assert!(
        ours.stdout
            .starts_with("api_token: !vault |\n          $ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{}",
        ours.stdout
    );
    project.file("vars.yml", &ours.stdout);
    project.file(
        "show.yml",
        r#"
        - hosts: localhost
          gather_facts: false
          vars_files: [vars.yml]
          tasks:
            - copy:
                content: "{{ api_token }}"
                dest: "{{ playbook_dir }}/shown.txt"
        "#,
    );
    let output = Ansible::get()
        .command("ansible-playbook", &project.path().join(".ansible"))
        .current_dir(project.path())
        .args([
            "show.yml",
            "-c",
            "local",
            "-i",
            "localhost,",
            "--vault-id",
            "prod@prod-client.sh",
        ])
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .output()
        .expect("run ansible-playbook");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("shown.txt")).expect("read"),
        "s3cret value"
    );

    // ansible-vault's encrypt_string output is read by dtrplay validate.
    let (ok, theirs, err) = ansible_vault(
        &project,
        &[
            "encrypt_string",
            "their value",
            "--name",
            "their_token",
            "--vault-password-file",
            "pass.txt",
        ],
    );
    assert!(ok, "{err}");
    project.file("theirs.yml", &theirs);
    project.file(
        "uses.yml",
        r#"
        - hosts: localhost
          gather_facts: false
          vars_files: [theirs.yml]
          tasks:
            - debug:
                msg: "{{ their_token }}"
        "#,
    );
    project
        .run(&["validate", "uses.yml", "--vault-password-file", "pass.txt"])
        .success();
}

#[test]
fn a_wrong_or_missing_password_stops_before_anything_runs() {
    let project = Project::new();
    passwords(&project);
    project.file("group_vars/all.yml", "db_password: hidden\n");
    project
        .run(&[
            "vault",
            "encrypt",
            "group_vars/all.yml",
            "--vault-password-file",
            "pass.txt",
        ])
        .success();
    project.file(
        "inventory.yml",
        "all:\n  hosts:\n    unreachable1:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n",
    );
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          tasks:
            - debug:
                msg: "{{ db_password }}"
        "#,
    );
    let wrong = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--vault-password-file",
        "other.txt",
    ]);
    wrong
        .status(4)
        .stderr_has("no vault password decrypts")
        .stderr_has("group_vars/all.yml")
        .stderr_has("other.txt");
    assert!(!wrong.stdout.contains("PLAY"), "{}", wrong.stdout);
    let missing = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    missing
        .status(4)
        .stderr_has(
            "group_vars/all.yml is encrypted with Ansible Vault, and no vault password was given",
        )
        .stderr_has("--vault-password-file");

    // An inline value without a password is a validate error at its span.
    let value = project.run(&[
        "vault",
        "encrypt_string",
        "inline secret",
        "--name",
        "token",
        "--vault-password-file",
        "pass.txt",
    ]);
    value.success();
    project.file(
        "inline.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  vars:\n{}\n  tasks:\n    - debug:\n        msg: hi\n",
            value
                .stdout
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    project
        .run(&["validate", "inline.yml"])
        .status(4)
        .stderr_has("this value is encrypted with Ansible Vault, and no vault password was given")
        .stderr_has("inline.yml:5:")
        .stderr_has("--vault-password-file");
}

#[test]
fn decrypted_values_are_masked_in_output() {
    let project = Project::new();
    passwords(&project);
    project.file("vars.yml", "plain_name: the-hidden-value\n");
    project
        .run(&[
            "vault",
            "encrypt",
            "vars.yml",
            "--vault-password-file",
            "pass.txt",
        ])
        .success();
    project.file(
        "site.yml",
        r#"
        - hosts: localhost
          gather_facts: false
          vars_files: [vars.yml]
          tasks:
            - debug:
                msg: "value is {{ plain_name }}"
        "#,
    );
    project.file(
        "inventory.yml",
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--vault-password-file",
        "pass.txt",
        "-v",
    ]);
    run.success();
    assert!(
        !run.stdout.contains("the-hidden-value") && !run.stderr.contains("the-hidden-value"),
        "{}",
        run.stdout
    );
    run.stdout_has("value is ********");
    // The password comes from the environment too, as in Ansible.
    let output = project
        .command(&["apply", "site.yml", "-i", "inventory.yml"])
        .env(
            "ANSIBLE_VAULT_PASSWORD_FILE",
            project.path().join("pass.txt"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("run dtrplay");
    assert!(output.status.success());
}

/// `--ask-vault-pass` asks on the terminal the way `-K` does (the same
/// code): without echo, and what it encrypts is what ansible-vault reads.
#[test]
fn the_vault_password_is_asked_on_the_terminal() {
    use crate::escalation::terminal::Terminal;
    let project = Project::new();
    passwords(&project);
    project.file("new.yml", "token: typed at the keyboard\n");
    // No password given: a new one is asked for twice, as ansible-vault does.
    let mut terminal = Terminal::run(&project, &["vault", "encrypt", "new.yml"]);
    terminal.wait_for("New Vault password: ");
    terminal.type_line("Typed-Vault-Pass");
    terminal.wait_for("Confirm New Vault password: ");
    terminal.type_line("Typed-Vault-Pass");
    let screen = terminal.screen();
    terminal.finish(&project).success();
    assert!(!screen.contains("Typed-Vault-Pass"), "echoed: {screen:?}");
    project.file("typed.txt", "Typed-Vault-Pass\n");
    let (ok, out, err) = ansible_vault(
        &project,
        &["view", "new.yml", "--vault-password-file", "typed.txt"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "token: typed at the keyboard\n");

    // Reading asks once; an empty answer is refused, saying what to do.
    let mut terminal = Terminal::run(&project, &["vault", "view", "new.yml", "--ask-vault-pass"]);
    terminal.wait_for("Vault password: ");
    terminal.type_line("Typed-Vault-Pass");
    let run = terminal.finish(&project);
    run.success();
    assert_eq!(run.stdout, "token: typed at the keyboard\n");
    let mut terminal = Terminal::run(&project, &["vault", "view", "new.yml", "--ask-vault-pass"]);
    terminal.wait_for("Vault password: ");
    terminal.type_line("");
    terminal
        .finish(&project)
        .status(4)
        .stderr_has("the password is empty")
        .stderr_has("--vault-password-file");
}
