//! `get_url` against a real HTTPS server on 127.0.0.1 (`web.rs`), run by
//! the nodes' own curl, verifying the server's certificate against the CA
//! file given as `ca_path`. Files land in the nodes' private `/srv`.

use sha2::Digest;

use super::web::Web;
use super::{Lab, changed, failed, results};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn msg(run: &crate::harness::Run, index: usize) -> String {
    results(run)[index]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn get_url_downloads_verifies_and_only_downloads_again_when_forced() {
    let web = Web::start();
    let lab = Lab::plain(1);
    web.publish("hello.txt", b"hello v1\n");
    let (base, ca) = (&web.base, web.ca.display());
    lab.play(&format!(
        r#"
        - get_url:
            url: {base}/files/hello.txt
            dest: /srv/hello.txt
            ca_path: {ca}
            mode: "0640"
            checksum: sha256:{sum}
          register: got
        - assert:
            that:
              - got.dest == '/srv/hello.txt'
              - got is changed or got.msg == 'file already exists'
              - got.status_code | default(200) == 200
              - got.size | default(9) == 9
        "#,
        sum = sha256(b"hello v1\n")
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "ls -A /srv; test -e /srv/hello.txt || echo none"),
        "none\n",
        "check mode downloads nothing and leaves nothing"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(results(&first)[0]["msg"], "OK (9 bytes)");
    assert_eq!(
        lab.sh("node1", "cat /srv/hello.txt; stat -c %a /srv/hello.txt"),
        "hello v1\n640\n"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    // A new version upstream: without force the existing file stays; with
    // force it is downloaded, replaced, and a third run downloads the same
    // bytes and changes nothing.
    web.publish("hello.txt", b"hello v2\n");
    lab.play(&format!(
        r#"
        - get_url: url={base}/files/hello.txt dest=/srv/hello.txt ca_path={ca}
        "#
    ));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    assert_eq!(lab.sh("node1", "cat /srv/hello.txt"), "hello v1\n");
    lab.play(&format!(
        r#"
        - get_url: url={base}/files/hello.txt dest=/srv/hello.txt ca_path={ca} force=true
        "#
    ));
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "ls -A /srv; cat /srv/hello.txt"),
        "hello.txt\nhello v1\n"
    );
    let forced = lab.apply(&[]);
    forced.success();
    assert_eq!(changed(&forced, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /srv/hello.txt; stat -c %a /srv/hello.txt"),
        "hello v2\n640\n",
        "the replaced file keeps its mode"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    assert_eq!(
        lab.sh("node1", "ls -A /srv"),
        "hello.txt\n",
        "no temporary file left"
    );

    // A checksum file, and a directory as dest.
    web.publish("data.bin", b"\x00\x01binary\xff");
    web.publish(
        "SHA256SUMS",
        format!(
            "{}  other.bin\n{}  data.bin\n",
            sha256(b"x"),
            sha256(b"\x00\x01binary\xff")
        )
        .as_bytes(),
    );
    lab.sh("node1", "mkdir /srv/dl");
    lab.play(&format!(
        r#"
        - get_url:
            url: {base}/files/data.bin
            dest: /srv/dl
            ca_path: {ca}
            checksum: sha256:{base}/files/SHA256SUMS
          register: got
        - assert:
            that: got.dest == '/srv/dl/data.bin'
        "#
    ));
    let dir = lab.apply(&[]);
    dir.success();
    assert_eq!(changed(&dir, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "sha256sum < /srv/dl/data.bin | cut -c1-8"),
        format!("{}\n", &sha256(b"\x00\x01binary\xff")[..8])
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn get_url_fails_on_bad_checksums_statuses_and_untrusted_certificates() {
    let web = Web::start();
    let lab = Lab::plain(1);
    web.publish("hello.txt", b"hello\n");
    let (base, ca) = (&web.base, web.ca.display());
    lab.play(&format!(
        r#"
        - get_url:
            url: {base}/files/hello.txt
            dest: /srv/a.txt
            ca_path: {ca}
            checksum: "sha256:{zero}"
          ignore_errors: true
        - get_url: url={base}/status/404 dest=/srv/b.txt ca_path={ca}
          ignore_errors: true
          register: missing
        - assert:
            that: missing.status_code == 404 and missing is failed
        - name: the system trust store does not know the lab's CA
          get_url: url={base}/files/hello.txt dest=/srv/c.txt
          ignore_errors: true
        - get_url: url={base}/redirect dest=/srv/d.txt validate_certs=false
        "#,
        zero = "0".repeat(64)
    ));
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(changed(&run, "node1"), 1);
    assert!(
        msg(&run, 0).starts_with("The checksum for /srv/a.txt did not match 0000"),
        "{}",
        msg(&run, 0)
    );
    assert_eq!(msg(&run, 1), "Request failed: HTTP Error 404");
    assert!(
        msg(&run, 3).starts_with("Request failed"),
        "{}",
        msg(&run, 3)
    );
    assert!(
        msg(&run, 3).contains("certificate"),
        "curl says why: {}",
        msg(&run, 3)
    );
    assert_eq!(
        lab.sh("node1", "ls -A /srv; cat /srv/d.txt"),
        "d.txt\nhello\n",
        "failures leave nothing behind; the redirect was followed"
    );
    let warned = run.events().iter().any(|e| {
        e["event"] == "warning"
            && e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("validate_certs is false")
    });
    assert!(warned, "turning verification off is warned about");
    assert_eq!(failed(&run, "node1"), 0, "all failures were ignored");
}
