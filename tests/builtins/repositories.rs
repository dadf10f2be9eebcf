//! `apt_repository` and `apt_key` on copy-on-write nodes: a local apt
//! repository the test builds (`packages::publish`, a `file:` source) is
//! added with `apt_repository` and then installed from with `apt`; a key
//! the test generates with gpg (in a private home, no network) is served
//! by the local HTTPS server and given to `apt_key`. No downloads.

use std::process::Command;

use super::packages::publish;
use super::web::Web;
use super::{Lab, changed, diffs, failed, results};

/// A node without apt sources or lists, whose apt downloads as root (the
/// repository sits in the test run's private temporary directory, which
/// apt's `_apt` user cannot enter).
fn bare_apt_node() -> Lab {
    let lab = Lab::copy_on_write(1);
    lab.sh(
        "node1",
        "echo 'APT::Sandbox::User \"root\";' > /etc/apt/apt.conf.d/99dtrplay-test-sandbox && \
         rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && \
         rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp",
    );
    lab
}

/// The file name Ansible derives from a `file:` source.
fn derived_name(dir: &str) -> String {
    let text = format!("file:{dir}");
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("/etc/apt/sources.list.d/{}.list", words.join("_"))
}

fn msg(run: &crate::harness::Run, index: usize) -> String {
    results(run)[index]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn apt_repository_adds_a_source_that_apt_installs_from_and_removes_it_everywhere() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-repo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    let dir = repo.path().display().to_string();
    let line = format!("deb [trusted=yes] file:{dir} ./");
    let list = derived_name(&dir);
    let lab = bare_apt_node();
    lab.play(&format!(
        r#"
        - apt_repository:
            repo: "{line}"
          register: added
        - copy:
            content: "{{{{ added.sources_added | join(',') }}}} {{{{ added.repo }}}}\n"
            dest: /srv/apt_repository-result
          when: added is changed
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert!(
        diffs(&check).contains(&format!("+{line}")),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        lab.sh("node1", &format!("test -e {list} && echo yes || echo no")),
        "no\n",
        "check mode writes nothing"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        lab.sh("node1", &format!("cat {list}; stat -c %a {list}")),
        format!("{line}\n644\n")
    );
    assert_eq!(
        lab.sh("node1", "cat /srv/apt_repository-result"),
        format!("{list} {line}\n")
    );
    // The cache was updated after the change: apt knows the package.
    assert!(
        lab.sh("node1", "apt-cache policy dtrplay-hello")
            .contains("Candidate: 1.0"),
        "update_cache ran"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play("- apt: name=dtrplay-hello\n");
    let install = lab.apply(&[]);
    install.success();
    assert_eq!(changed(&install, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /usr/share/dtrplay-hello/version"),
        "1.0\n"
    );

    // The same source in sources.list, spaced differently and commented
    // out: it is enabled there rather than added to the named file.
    lab.sh(
        "node1",
        &format!("rm {list}; printf '# a comment\\n#%s\\n' 'deb  [trusted=yes]   file:{dir} ./' > /etc/apt/sources.list"),
    );
    lab.play(&format!(
        r#"
        - apt_repository:
            repo: "{line}"
            filename: other
            update_cache: false
        "#
    ));
    let enabled = lab.apply(&["--diff"]);
    enabled.success();
    assert_eq!(changed(&enabled, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "cat /etc/apt/sources.list; ls /etc/apt/sources.list.d"
        ),
        format!("# a comment\n{line}\n")
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Absent removes it from every file; a file left empty goes.
    lab.sh(
        "node1",
        &format!("echo '{line}' > /etc/apt/sources.list.d/copy.list"),
    );
    lab.play(&format!(
        r#"
        - apt_repository:
            repo: "{line}"
            state: absent
        "#
    ));
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1);
    assert!(lab.sh("node1", "cat /etc/apt/sources.list").contains(&line));
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "cat /etc/apt/sources.list; ls /etc/apt/sources.list.d"
        ),
        "# a comment\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn apt_repository_refuses_ppas_and_puts_files_back_when_the_update_fails() {
    let lab = bare_apt_node();
    lab.play(
        r##"
        - apt_repository:
            repo: ppa:nginx/stable
          ignore_errors: true
        - apt_repository:
            repo: deb [trusted=yes] file:/nonexistent/dtrplay ./
            filename: broken
            update_cache_retries: 1
          ignore_errors: true
        - apt_repository:
            repo: "# deb http://example.com/ x y"
          ignore_errors: true
        "##,
    );
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(changed(&run, "node1"), 0, "{}", run.stdout);
    assert!(msg(&run, 0).contains("Launchpad"), "{}", msg(&run, 0));
    assert!(
        msg(&run, 1).starts_with("Failed to update apt cache"),
        "{}",
        msg(&run, 1)
    );
    assert_eq!(
        lab.sh(
            "node1",
            "test -e /etc/apt/sources.list.d/broken.list && echo kept || echo reverted"
        ),
        "reverted\n"
    );
    assert!(
        msg(&run, 2).starts_with("Invalid repository string"),
        "{}",
        msg(&run, 2)
    );
    assert_eq!(failed(&run, "node1"), 0, "all failures were ignored");

    // A sources file that is a link is written where it points.
    lab.sh(
        "node1",
        "printf '# kept\\n' > /srv/real.list && ln -s /srv/real.list /etc/apt/sources.list.d/linked.list",
    );
    lab.play(
        r#"
        - apt_repository:
            repo: deb http://deb.example.com/debian stable main
            filename: linked
            update_cache: false
        "#,
    );
    let linked = lab.apply(&[]);
    linked.success();
    assert_eq!(changed(&linked, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "cat /srv/real.list; readlink /etc/apt/sources.list.d/linked.list"
        ),
        "# kept\ndeb http://deb.example.com/debian stable main\n/srv/real.list\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

/// A signing key made with gpg in a private home: its armored public key
/// and fingerprint.
fn generate_key() -> (String, String) {
    let home = tempfile::Builder::new()
        .prefix("dtrplay-gpg-")
        .tempdir()
        .expect("gpg home");
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .env("GNUPGHOME", home.path())
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    gpg(&[
        "--quick-gen-key",
        "dtrplay test <test@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    let armored = gpg(&["--armor", "--export"]);
    let listing = gpg(&["--with-colons", "--list-keys"]);
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .map(|rest| rest.trim_matches(':').to_string())
        .expect("a fingerprint");
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home.path())
        .args(["--kill", "all"])
        .output();
    (armored, fingerprint)
}

#[test]
fn apt_key_adds_a_key_from_a_url_checks_its_id_and_removes_it() {
    let (armored, fpr) = generate_key();
    let long = &fpr[fpr.len() - 16..];
    let ring = format!("/etc/apt/trusted.gpg.d/{long}.gpg");
    let web = Web::start();
    web.publish("key.asc", armored.as_bytes());
    let lab = Lab::copy_on_write(1);
    let (base, ca) = (&web.base, web.ca.display());
    let show = format!(
        "h=$(mktemp -d); GNUPGHOME=$h gpg --batch --show-keys --with-colons {ring} | grep -c '^fpr:.*{fpr}:$'; \
         head -c 5 {ring} | grep -c -- ----- ; stat -c %a {ring}; rm -rf $h"
    );
    lab.play(&format!(
        r#"
        - apt_key:
            url: {base}/files/key.asc
            id: "0x{fpr}"
          environment:
            CURL_CA_BUNDLE: {ca}
          register: key
        - copy:
            content: "{{{{ key.fp }}}} {{{{ key.short_id }}}} {{{{ key.key_id }}}}\n"
            dest: /srv/apt_key-result
        "#
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(
        lab.sh("node1", &format!("test -e {ring} && echo yes || echo no")),
        "no\n"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    // The key is there, dearmored (binary, as apt wants a .gpg), readable.
    assert_eq!(lab.sh("node1", &show), "1\n0\n644\n");
    assert_eq!(
        lab.sh("node1", "cat /srv/apt_key-result"),
        format!("{long} {} {fpr}\n", &fpr[fpr.len() - 8..])
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // The same key as data, without an id: known by its fingerprint.
    lab.project.file("key.asc", &armored);
    lab.play(
        r#"
        - apt_key:
            data: "{{ lookup('file', 'key.asc') }}"
        "#,
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A wrong id fails before anything is written.
    lab.play(&format!(
        r#"
        - apt_key:
            url: {base}/files/key.asc
            id: 0123456789ABCDEF
            keyring: /etc/apt/keyrings/wrong.gpg
          environment:
            CURL_CA_BUNDLE: {ca}
        "#
    ));
    let wrong = lab.apply(&[]);
    wrong.status(2);
    let m = msg(&wrong, 0);
    assert!(
        m.contains(&fpr) && m.contains("not the id 0123456789ABCDEF"),
        "{m}"
    );
    assert_eq!(
        lab.sh(
            "node1",
            "test -e /etc/apt/keyrings/wrong.gpg && echo yes || echo no"
        ),
        "no\n"
    );

    lab.play(&format!("- apt_key: id={long} state=absent\n"));
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(
        lab.sh("node1", &format!("test -e {ring} && echo yes")),
        "yes\n"
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(
        lab.sh("node1", &format!("test -e {ring} && echo yes || echo gone")),
        "gone\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn apt_key_merges_keys_into_one_keyring_and_removes_one_of_them() {
    let (a, a_fpr) = generate_key();
    let (b, b_fpr) = generate_key();
    let ring = "/etc/apt/keyrings/two.gpg";
    let lab = Lab::copy_on_write(1);
    lab.sh(
        "node1",
        &format!("mkdir -p /etc/apt/keyrings; printf '%s' '{a}' > /srv/a.asc"),
    );
    lab.project.file("b.asc", &b);
    let listing = |path: &str| {
        lab.sh(
            "node1",
            &format!(
                "h=$(mktemp -d); GNUPGHOME=$h gpg --batch --show-keys --with-colons {path} | grep '^pub' -A1 | \
                 sed -n 's/^fpr:*\\([0-9A-F]*\\):$/\\1/p' | sort | tr '\\n' ' '; rm -rf $h"
            ),
        )
    };
    lab.play(&format!(
        r#"
        - apt_key:
            file: /srv/a.asc
            keyring: {ring}
        - apt_key:
            data: "{{{{ lookup('file', 'b.asc') }}}}"
            keyring: {ring}
        - apt_key:
            data: "{{{{ lookup('file', 'b.asc') }}}}"
            keyring: /etc/apt/keyrings/b.asc
        "#
    ));
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 3, "{}", first.stdout);
    let mut both = [a_fpr.clone(), b_fpr.clone()];
    both.sort();
    assert_eq!(listing(ring), format!("{} {} ", both[0], both[1]));
    assert_eq!(
        lab.sh("node1", "head -n 1 /etc/apt/keyrings/b.asc"),
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
        "a keyring named .asc stays armored"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(&format!(
        r#"
        - apt_key:
            id: {a_fpr}
            keyring: {ring}
            state: absent
        "#
    ));
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(listing(ring), format!("{b_fpr} "), "the other key stays");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn deb822_repository_writes_a_sources_file_and_its_key_that_apt_installs_from() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-repo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    let dir = repo.path().display().to_string();
    let (armored, _) = generate_key();
    let web = Web::start();
    web.publish("key.asc", armored.as_bytes());
    let (base, ca) = (&web.base, web.ca.display());
    let lab = bare_apt_node();
    let sources = "/etc/apt/sources.list.d/dtrplay-test.sources";
    let key = "/etc/apt/keyrings/dtrplay-test.asc";
    lab.play(&format!(
        r#"
        - deb822_repository:
            name: dtrplay_test
            uris: "file:{dir}"
            suites: ./
            trusted: true
            signed_by: {base}/files/key.asc
          environment:
            CURL_CA_BUNDLE: {ca}
          register: source
        - apt:
            name: dtrplay-hello
            update_cache: true
          when: source is changed
        "#
    ));
    let wanted = format!(
        "X-Repolib-Name: dtrplay_test\nSigned-By: {key}\nSuites: ./\nTrusted: yes\nTypes: deb\nURIs: file:{dir}\n"
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert!(
        diffs(&check).contains(&format!("+URIs: file:{dir}")),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        lab.sh(
            "node1",
            &format!("ls {sources} {key} 2>/dev/null; echo end")
        ),
        "end\n",
        "check mode writes nothing"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        lab.sh(
            "node1",
            &format!("cat {sources}; stat -c %a {sources} {key}")
        ),
        format!("{wanted}644\n644\n")
    );
    assert_eq!(lab.sh("node1", &format!("cat {key}")), armored);
    assert_eq!(
        lab.sh("node1", "cat /usr/share/dtrplay-hello/version"),
        "1.0\n",
        "apt installs from the new source"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play("- deb822_repository: name=dtrplay_test state=absent\n");
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            &format!("ls {sources} {key} 2>/dev/null; echo end")
        ),
        "end\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}
