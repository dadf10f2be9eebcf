//! `npm` with the node's real npm and no network: the test packs a tiny
//! package (`npm pack`) in the node's private `/srv` and installs the
//! tarball into a project directory and globally, where npm's prefix is
//! `/usr`, the node's own copy-on-write `/usr`. npm's cache is kept in the
//! node's `/srv` too, so nothing on this machine changes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::{Lab, changed, failed, results};

const ENV: &str = "npm_config_cache: /srv/npm-cache";

/// Packs `dtrplay-demo` at `version` into `/srv/dtrplay-demo-<version>.tgz`.
fn pack(lab: &Lab, version: &str) -> String {
    let src = format!("/srv/src-{version}");
    lab.sh(
        "node1",
        &format!(
            "set -e; mkdir -p {src}; cd {src}\n\
             printf '%s\\n' '{{\"name\":\"dtrplay-demo\",\"version\":\"{version}\",\"bin\":{{\"dtrplay-demo\":\"cli.js\"}}}}' > package.json\n\
             printf '%s\\n' '#!/usr/bin/env node' 'console.log(\"demo {version}\")' > cli.js\n\
             npm_config_cache=/srv/npm-cache npm pack --pack-destination /srv >/dev/null 2>&1"
        ),
    );
    format!("/srv/dtrplay-demo-{version}.tgz")
}

/// The versions installed in the project and globally, `-` where none.
fn installed(lab: &Lab) -> String {
    lab.sh(
        "node1",
        "v() { node -p \"require('$1/package.json').version\" 2>/dev/null || echo -; }\n\
         echo \"$(v /srv/app/node_modules/dtrplay-demo) $(v /usr/lib/node_modules/dtrplay-demo)\"",
    )
}

fn play(lab: &Lab, name: &str, state: &str) {
    lab.play(&format!(
        r#"
        - npm:
            name: {name}
            path: /srv/app
            state: {state}
          environment:
            {ENV}
        - community.general.npm:
            name: {name}
            global: true
            state: {state}
          environment:
            {ENV}
        "#
    ));
}

#[test]
fn npm_installs_local_tarballs_in_a_project_and_globally_and_removes_them() {
    let lab = Lab::copy_on_write(1);
    let one = pack(&lab, "1.0.0");
    assert_eq!(
        lab.sh("node1", &format!("test -f {one} && echo ok")),
        "ok\n"
    );
    // The global prefix is the node's copy-on-write /usr, not the machine's.
    assert_eq!(
        lab.sh("node1", "npm_config_cache=/srv/npm-cache npm prefix -g"),
        "/usr\n"
    );
    play(&lab, &one, "present");
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(installed(&lab), "- -\n", "check mode installs nothing");
    assert_eq!(
        lab.sh("node1", "test -e /srv/app && echo yes || echo no"),
        "no\n",
        "check mode creates no project directory"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(installed(&lab), "1.0.0 1.0.0\n");
    assert_eq!(lab.sh("node1", "dtrplay-demo"), "demo 1.0.0\n");
    assert!(
        !std::path::Path::new("/usr/lib/node_modules/dtrplay-demo").exists(),
        "the global install stays inside the node"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // A newer tarball of the same package is a change, once.
    let two = pack(&lab, "2.0.0");
    play(&lab, &two, "present");
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(installed(&lab), "1.0.0 1.0.0\n");
    let upgrade = lab.apply(&[]);
    upgrade.success();
    assert_eq!(changed(&upgrade, "node1"), 2, "{}", upgrade.stdout);
    assert_eq!(installed(&lab), "2.0.0 2.0.0\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // The registered package name, with a version it has, is in sync.
    lab.play(&format!(
        r#"
        - npm:
            name: dtrplay-demo
            version: 2.0.0
            global: true
          environment:
            {ENV}
        "#
    ));
    let named = lab.apply(&[]);
    named.success();
    assert_eq!(changed(&named, "node1"), 0, "{}", named.stdout);

    play(&lab, "dtrplay-demo", "absent");
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(
        installed(&lab),
        "2.0.0 2.0.0\n",
        "check mode removes nothing"
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 2, "{}", removed.stdout);
    assert_eq!(installed(&lab), "- -\n");
    assert_eq!(
        lab.sh(
            "node1",
            "test -e /usr/bin/dtrplay-demo && echo yes || echo no"
        ),
        "no\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn npm_installs_a_package_json_and_fails_clearly_on_unknown_packages() {
    let lab = Lab::copy_on_write(1);
    let one = pack(&lab, "1.0.0");
    lab.sh("node1", "mkdir -p /srv/proj");
    lab.play(&format!(
        r#"
        - copy:
            dest: /srv/proj/package.json
            content: '{{"name": "proj", "version": "1.0.0", "dependencies": {{"dtrplay-demo": "file:{one}"}}}}'
        - npm:
            path: /srv/proj
          environment:
            {ENV}
          register: deps
        - copy:
            content: "{{{{ deps.changed }}}} {{{{ 'added 1 package' in (deps.stdout | default('')) }}}}\n"
            dest: /srv/npm-result
        "#
    ));
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 3, "{}", first.stdout);
    assert_eq!(
        lab.sh("node1", "cat /srv/npm-result"),
        "True True\n",
        "registers npm's own output"
    );
    assert_eq!(
        lab.sh(
            "node1",
            "node -p \"require('/srv/proj/node_modules/dtrplay-demo/package.json').version\""
        ),
        "1.0.0\n"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(
        changed(&again, "node1"),
        1,
        "only the result file: {}",
        again.stdout
    );
    assert_eq!(lab.sh("node1", "cat /srv/npm-result"), "False False\n");

    // A package the (unreachable) registry cannot give fails with npm's
    // own words, and installs nothing.
    lab.play(&format!(
        r#"
        - npm:
            name: dtrplay-no-such-package
            global: true
            registry: http://127.0.0.1:9
          environment:
            {ENV}
            npm_config_fetch_retries: 0
        "#
    ));
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    let unknown = lab.apply(&[]);
    assert_eq!(failed(&unknown, "node1"), 1, "{}", unknown.stdout);
    let msg = results(&unknown)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("npm could not install dtrplay-no-such-package")
            && msg.contains("ECONNREFUSED"),
        "{msg}"
    );

    // Without a path or global there is nowhere to install.
    lab.play("- npm:\n    name: dtrplay-demo\n");
    let refused = lab.apply(&[]);
    assert_eq!(failed(&refused, "node1"), 1, "{}", refused.stdout);
    assert_eq!(
        results(&refused)[0]["msg"],
        "path must be specified when not using global"
    );
}

/// A registry on 127.0.0.1 that serves fixed files by URL path, as far as
/// npm needs one: the package document and its tarballs.
struct Registry {
    port: u16,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Registry {
    fn start() -> Registry {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("the address").port();
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let body = served.lock().expect("files").get(&path).cloned();
                let (status, body) = match body {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"{}".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Registry { port, files }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Publishes the node's tarballs of `dtrplay-demo` at these versions,
    /// the last one `latest`.
    fn publish(&self, lab: &Lab, versions: &[&str]) {
        let mut documents = Vec::new();
        for version in versions {
            let tarball = pack(lab, version);
            let text = lab.sh("node1", &format!("base64 -w0 {tarball}"));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .expect("the tarball");
            let file = format!("/dtrplay-demo-{version}.tgz");
            self.files
                .lock()
                .expect("files")
                .insert(file.clone(), bytes);
            documents.push(format!(
                r#""{version}":{{"name":"dtrplay-demo","version":"{version}","bin":{{"dtrplay-demo":"cli.js"}},"dist":{{"tarball":"{}{file}"}}}}"#,
                self.url()
            ));
        }
        let latest = versions.last().expect("a version");
        let document = format!(
            r#"{{"name":"dtrplay-demo","dist-tags":{{"latest":"{latest}"}},"versions":{{{}}}}}"#,
            documents.join(",")
        );
        self.files
            .lock()
            .expect("files")
            .insert("/dtrplay-demo".to_string(), document.into_bytes());
    }
}

#[test]
fn npm_installs_and_upgrades_registry_packages_globally_with_latest() {
    let lab = Lab::copy_on_write(1);
    let registry = Registry::start();
    registry.publish(&lab, &["1.0.0"]);
    let play = |state: &str| {
        lab.play(&format!(
            r#"
            - community.general.npm:
                name: dtrplay-demo
                global: true
                state: {state}
                registry: {}
              environment:
                {ENV}
            "#,
            registry.url()
        ))
    };
    play("latest");
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(installed(&lab), "- -\n");
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert!(
        first.stdout.contains(r#""runner":"natively""#),
        "community.general.npm is native: {}",
        first.stdout
    );
    assert_eq!(installed(&lab), "- 1.0.0\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A newer version published: present keeps what is there, latest
    // upgrades once, and check mode upgrades nothing.
    registry.publish(&lab, &["1.0.0", "1.1.0"]);
    play("present");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    play("latest");
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(installed(&lab), "- 1.0.0\n");
    let upgrade = lab.apply(&[]);
    upgrade.success();
    assert_eq!(changed(&upgrade, "node1"), 1, "{}", upgrade.stdout);
    assert_eq!(installed(&lab), "- 1.1.0\n");
    assert_eq!(lab.sh("node1", "dtrplay-demo"), "demo 1.1.0\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // geerlingguy.nodejs's task: a pinned version under its own prefix.
    lab.play(&format!(
        r#"
        - name: Ensure npm global packages are installed.
          npm:
            name: "{{{{ item.name | default(item) }}}}"
            version: "{{{{ item.version | default(omit) }}}}"
            global: true
            state: "{{{{ item.state | default('present') }}}}"
            registry: {}
          environment:
            {ENV}
            NPM_CONFIG_PREFIX: /srv/npm-global
            NODE_PATH: /srv/npm-global/lib/node_modules
            NPM_CONFIG_UNSAFE_PERM: "false"
          loop:
            - name: dtrplay-demo
              version: 1.0.0
        "#,
        registry.url()
    ));
    let pinned = lab.apply(&[]);
    pinned.success();
    assert_eq!(changed(&pinned, "node1"), 1, "{}", pinned.stdout);
    assert_eq!(
        lab.sh("node1", "/srv/npm-global/bin/dtrplay-demo"),
        "demo 1.0.0\n"
    );
    assert_eq!(
        installed(&lab),
        "- 1.1.0\n",
        "the default prefix is untouched"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}
