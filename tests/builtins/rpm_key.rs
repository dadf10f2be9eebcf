//! `rpm_key` with Debian's real rpm and gpg on a copy-on-write node, with
//! keys the test makes with gpg in a temporary GNUPGHOME: imported from a
//! file on the node and from a `file://` URL (fetched with the node's
//! curl), a wrong fingerprint refused, removed by its short key id. The
//! node's RPM database is its own (`rpm --eval %_dbpath` is under the
//! node's private HOME), so the machine's is never touched.

use std::process::Command;

use super::web::Web;
use super::{Lab, changed, results};

/// A new signing key's armored public key and its fingerprint.
fn make_key(home: &std::path::Path, name: &str) -> (String, String) {
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .env("GNUPGHOME", home)
            .args(["--batch", "--no-tty"])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    let uid = format!("{name} <{name}@example.test>");
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        &uid,
        "ed25519",
        "sign",
        "never",
    ]);
    let armored = gpg(&["--armor", "--export", &uid]);
    let listing = gpg(&["--with-colons", "--fingerprint", &uid]);
    let fpr = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|rest| rest.split(':').nth(8))
        .expect("a fingerprint")
        .to_string();
    (armored, fpr)
}

/// The short ids (`%{version}`) of the node's imported keys.
fn imported(lab: &Lab) -> String {
    lab.sh(
        "node1",
        "if rpm -q gpg-pubkey >/dev/null 2>&1; then rpm -q gpg-pubkey --qf '%{version}\\n'; else echo none; fi",
    )
}

#[test]
fn rpm_key_imports_checks_fingerprints_and_removes_keys() {
    let lab = Lab::copy_on_write(1);
    let dbpath = lab.sh("node1", "rpm --eval %_dbpath");
    let machine_home = std::env::var("HOME").unwrap_or_default();
    assert!(
        !dbpath.starts_with(&format!("{machine_home}/")),
        "the node's RPM database must be private: {dbpath}"
    );
    let home = tempfile::tempdir().expect("a GNUPGHOME");
    let (one, one_fpr) = make_key(home.path(), "one");
    let (two, two_fpr) = make_key(home.path(), "two");
    let one_short = one_fpr[32..].to_lowercase();
    let two_short = two_fpr[32..].to_lowercase();
    lab.sh(
        "node1",
        &format!(
            "mkdir -p /etc/pki/rpm-gpg /srv/keys && cat > /etc/pki/rpm-gpg/RPM-GPG-KEY-one <<'EOF'\n{one}EOF\n\
             cat > /srv/keys/two.asc <<'EOF'\n{two}EOF\n"
        ),
    );
    // Ansible's examples write fingerprints in groups of four.
    let spaced: Vec<String> = one_fpr
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    lab.play(&format!(
        r#"
        - name: the key from a file
          rpm_key:
            key: /etc/pki/rpm-gpg/RPM-GPG-KEY-one
            fingerprint: "{}"
        - name: the key from a URL
          ansible.builtin.rpm_key:
            key: file:///srv/keys/two.asc
            fingerprint: [{two_fpr}]
        "#,
        spaced.join(" ")
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(imported(&lab), "none\n");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    let mut keys: Vec<String> = imported(&lab).lines().map(str::to_string).collect();
    keys.sort();
    let mut wanted = vec![one_short.clone(), two_short.clone()];
    wanted.sort();
    assert_eq!(keys, wanted);
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // A key that is not imported yet, with a fingerprint it does not have.
    let (three, _) = make_key(home.path(), "three");
    lab.sh(
        "node1",
        &format!("cat > /srv/keys/three.asc <<'EOF'\n{three}EOF\n"),
    );
    lab.play(&format!(
        r#"
        - rpm_key:
            key: /srv/keys/three.asc
            fingerprint: {one_fpr}
        "#
    ));
    let refused = lab.apply(&[]);
    refused.status(2);
    let msg = results(&refused)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.starts_with(&format!(
            "The specified fingerprint, '{{'{one_fpr}'}}', does not match any key fingerprints in"
        )),
        "{msg}"
    );
    assert_eq!(imported(&lab).lines().count(), 2);

    // Removed by its short id, in check mode first; a key id that is not
    // imported is nothing to do, and cannot be imported.
    lab.play(&format!(
        r#"
        - rpm_key:
            key: "0x{}"
            state: absent
        - rpm_key:
            key: deadbeef
            state: absent
        "#,
        one_short.to_uppercase()
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(imported(&lab).lines().count(), 2);
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1, "{}", removed.stdout);
    assert_eq!(imported(&lab), format!("{two_short}\n"));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - rpm_key: {key: deadbeef}
        "#,
    );
    let refused = lab.apply(&[]);
    refused.status(2);
    assert_eq!(
        results(&refused)[0]["msg"],
        "When importing a key, a valid file must be given"
    );
}

#[test]
fn rpm_key_fetches_over_https_with_the_certificate_verified() {
    let lab = Lab::copy_on_write(1);
    let web = Web::start();
    let home = tempfile::tempdir().expect("a GNUPGHOME");
    let (key, fpr) = make_key(home.path(), "web");
    web.publish("RPM-GPG-KEY-web", key.as_bytes());
    web.publish("not-a-key", b"<html>no key here</html>\n");
    let url = format!("{}/files/RPM-GPG-KEY-web", web.base);

    // The server's CA is not in the node's trust store: verified TLS fails.
    lab.play(&format!(
        r#"
        - rpm_key: {{key: "{url}"}}
        "#
    ));
    let refused = lab.apply(&[]);
    refused.status(2);
    let msg = results(&refused)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.starts_with(&format!("failed to fetch key at {url} , error was:")),
        "{msg}"
    );
    assert_eq!(imported(&lab), "none\n");

    // A page that is not a key, and a missing one, are refused.
    lab.play(&format!(
        r#"
        - rpm_key: {{key: "{base}/files/not-a-key", validate_certs: false}}
          ignore_errors: true
        - rpm_key: {{key: "{base}/status/404", validate_certs: false}}
          ignore_errors: true
        "#,
        base = web.base
    ));
    let refused = lab.apply(&[]);
    refused.success();
    let msgs: Vec<String> = results(&refused)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        msgs[0],
        format!("Not a public key: {}/files/not-a-key", web.base)
    );
    assert!(
        msgs[1].starts_with(&format!(
            "failed to fetch key at {}/status/404 , error was: HTTP Error 404",
            web.base
        )),
        "{msgs:?}"
    );

    // With validate_certs: false the key is fetched (with a warning) and
    // imported; then it is there.
    lab.play(&format!(
        r#"
        - rpm_key:
            key: "{url}"
            validate_certs: false
            fingerprint: {fpr}
        "#
    ));
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert!(
        first.stdout.contains("validate_certs is false"),
        "{}",
        first.stdout
    );
    assert_eq!(imported(&lab), format!("{}\n", fpr[32..].to_lowercase()));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}
