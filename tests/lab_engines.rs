//! Real Docker engines on the lab's nodes: every node runs its own `dockerd`
//! (Debian's docker.io), which sees only that node's `/etc/docker` and keeps
//! its own images, and both docker clients on the node talk to it; push-test
//! and doctor, both through the binary, name the same broken link.

use dtrplay_lab::daemon::process;
use dtrplay_lab::{Flavor, Lab, LabOptions};

use crate::harness::Project;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_runs_its_own_engine_that_both_clients_reach() {
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
    let pids = lab.engine_pids();
    assert_eq!(pids.len(), 2);

    // Each node imports an image of its own (made locally, nothing is
    // pulled), then lists what its engine holds with both clients (beside
    // the lab's own hello-world, which every engine gets at `lab up`).
    project.file(
        "engines.yml",
        r#"
        - hosts: ucp
          gather_facts: false
          tasks:
            - name: Import a one-file image
              shell: |
                set -e
                printf 'made on {{ inventory_hostname }}\n' > "$TMPDIR/hello.txt"
                tar -C "$TMPDIR" -c hello.txt | /usr/bin/docker import - lab/hello:{{ inventory_hostname }}
            - name: List with Debian's client
              command: /usr/bin/docker images --filter reference=lab/hello --format {% raw %}'{{.Repository}}:{{.Tag}}'{% endraw %}
              register: debian
            - name: List with the newer client
              command: /usr/local/bin/docker images --filter reference=lab/hello --format {% raw %}'{{.Repository}}:{{.Tag}}'{% endraw %}
              register: newer
            - name: Ask the engine where it keeps its data
              command: /usr/bin/docker info --format {% raw %}'{{.DockerRootDir}} {{.ServerVersion}}'{% endraw %}
              register: info
            - assert:
                that:
                  - debian.stdout == 'lab/hello:' ~ inventory_hostname
                  - newer.stdout == debian.stdout
                  - info.stdout.endswith('/nodes/' ~ inventory_hostname ~ '/docker 20.10.24+dfsg1')
        "#,
    );
    let run = project.run(&[
        "apply",
        "engines.yml",
        "-i",
        &lab.inventory_path().display().to_string(),
    ]);
    run.success();

    // DTR is reached by its lab name, so the engines really verify it: a
    // fresh node fails with the engine's own x509 text (with both clients,
    // the text is the daemon's), and the proxy reaches nothing else.
    let dtr = lab.dtr_host();
    assert!(dtr.starts_with("dtr.lab.test:"), "{dtr}");
    let proxy = lab.https_proxy().expect("the lab's proxy");
    project.file(
        "pull.yml",
        r#"
        - hosts: ucp
          gather_facts: false
          tasks:
            - name: Pull from DTR by its name with Debian's client
              command: /usr/bin/docker pull {{ dtr }}/admin/hello-world:1
              register: debian
              failed_when: false
            - name: And with the newer client
              command: /usr/local/bin/docker pull {{ dtr }}/admin/hello-world:1
              register: newer
              failed_when: false
            - name: Anything but the lab is refused by its proxy
              command: /usr/bin/docker pull example.com/x:1
              register: other
              failed_when: false
            - assert:
                that:
                  - expected[inventory_hostname] in debian.stderr
                  - expected[inventory_hostname] in newer.stderr
                  - "'Forbidden' in other.stderr"
        "#,
    );
    let x509 = format!(
        "Error response from daemon: Get \"https://{dtr}/v2/\": x509: certificate signed by unknown authority"
    );
    let denied = "denied: requested access to the resource is denied";
    let pull = |expected: [&str; 2]| {
        let vars = serde_json::json!({
            "dtr": dtr,
            "expected": {"node1": expected[0], "node2": expected[1]},
        });
        project
            .command(&[
                "apply",
                "pull.yml",
                "-i",
                &lab.inventory_path().display().to_string(),
                "-e",
                &vars.to_string(),
            ])
            .env("HTTPS_PROXY", &proxy)
            .output()
            .expect("run dtrplay")
    };
    let before = project.finished(pull([&x509, &x509]));
    before.success();

    // Step 5 through dtrplay (its API clients reach DTR through the same
    // proxy), then node2's ca.crt removed by hand: node1's engine now
    // trusts DTR (the registry itself refuses the anonymous pull), node2's
    // fails with x509 again.
    let step5 = project
        .command(&[
            "apply",
            &format!("{}/playbooks/integrate.yml", env!("CARGO_MANIFEST_DIR")),
            "-i",
            &lab.inventory_path().display().to_string(),
            "--tags",
            "copy-ca-crt",
        ])
        .env("HTTPS_PROXY", &proxy)
        .output()
        .expect("run dtrplay");
    project.finished(step5).success();
    let node2 = &lab.nodes()[1];
    std::fs::remove_file(node2.path(&format!("/etc/docker/certs.d/{dtr}/ca.crt")))
        .expect("remove node2's ca.crt");
    project.finished(pull([denied, &x509])).success();

    // dockerd wrote key.json into the node's private /etc/docker, never the
    // machine's.
    for node in lab.nodes() {
        assert!(node.path("/etc/docker/key.json").is_file(), "{}", node.name);
    }
    assert!(!std::path::Path::new("/etc/docker/key.json").exists());

    // Stopping the lab stops every dockerd and its containerd.
    let children: Vec<u32> = pids
        .iter()
        .flat_map(|(_, pid)| process::descendants(*pid))
        .collect();
    assert!(!children.is_empty(), "each dockerd runs its own containerd");
    lab.stop().await.expect("stop the lab");
    for pid in pids.iter().map(|(_, pid)| *pid).chain(children) {
        assert!(!process::is_alive(pid), "pid {pid} is still alive");
    }
}

/// Runs the integration playbook (optionally one tag) through the lab's
/// proxy, as `. <lab>/env.sh` would.
pub(crate) fn integrate(
    project: &Project,
    lab: &Lab,
    tags: Option<&str>,
    extra: &[&str],
) -> crate::harness::Run {
    let playbook = format!("{}/playbooks/integrate.yml", env!("CARGO_MANIFEST_DIR"));
    let inventory = lab.inventory_path().display().to_string();
    let mut args = vec!["apply", playbook.as_str(), "-i", inventory.as_str()];
    if let Some(tags) = tags {
        args.extend(["--tags", tags]);
    }
    args.extend(extra);
    let output = project
        .command(&args)
        .env("HTTPS_PROXY", lab.https_proxy().expect("the lab's proxy"))
        .output()
        .expect("run dtrplay");
    project.finished(output)
}

/// The real docker client, with the lab admin's client bundle, talking to
/// the lab's UCP by its name: `DOCKER_HOST=tcp://ucp.lab.test:P`.
fn bundle_docker(lab: &Lab, bundle: &std::path::Path, args: &[&str]) -> std::process::Output {
    let host = lab.ucp_url().replace("https://", "tcp://");
    std::process::Command::new("/usr/bin/docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", bundle)
        .env("DOCKER_CONFIG", bundle.join("config"))
        .env("HTTPS_PROXY", lab.https_proxy().expect("the lab's proxy"))
        .output()
        .expect("run docker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_test_pushes_through_ucp_with_a_client_bundle_and_names_the_broken_link_ucp1() {
    push_through_ucp(Flavor::Ucp1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_test_pushes_through_ucp_with_a_client_bundle_and_names_the_broken_link_ucp3() {
    push_through_ucp(Flavor::Ucp3).await;
}

async fn push_through_ucp(flavor: Flavor) {
    let project = Project::new();
    let options = LabOptions::new(
        project.path().join("lab"),
        flavor,
        2,
        1,
        env!("CARGO_BIN_EXE_dtrplay"),
    );
    let lab = Lab::start(&options).await.expect("start the lab");
    assert!(lab.has_engines(), "{:?}", lab.engine_warning());
    let dtr = lab.dtr_host();
    let image = format!("{dtr}/admin/hello-world:1");

    // A fresh lab: every node's real engine fails the anonymous pull with
    // x509, and push-test names step 5 on each node.
    let run = integrate(&project, &lab, Some("push-test"), &[]);
    assert_ne!(run.status, 0, "{}", run.stdout);
    for node in ["node1", "node2"] {
        assert!(
            run.stdout.contains(&format!("failed: [{node}]")),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("x509: certificate signed by unknown authority`: this node's engine does not trust DTR's CA"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("is missing (step 5"), "{}", run.stdout);

    // Step 5 alone: the nodes trust DTR, but UCP neither knows DTR nor is
    // trusted by it, so the engine UCP pushes from gets no credentials and
    // DTR refuses it, in the current engine's words.
    integrate(&project, &lab, Some("copy-ca-crt"), &[]).success();
    let run = integrate(&project, &lab, Some("push-test"), &[]);
    assert_ne!(run.status, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "the push through UCP with a client bundle failed with `denied: requested access to the resource is denied`"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(steps 3–4)"), "{}", run.stdout);

    // The plan shows the run's new tag once, on the first node, not once
    // per node.
    let playbook = format!("{}/playbooks/integrate.yml", env!("CARGO_MANIFEST_DIR"));
    let inventory = lab.inventory_path().display().to_string();
    let plan = project.finished(
        project
            .command(&["plan", playbook.as_str(), "-i", inventory.as_str()])
            .env("HTTPS_PROXY", lab.https_proxy().expect("the lab's proxy"))
            .output()
            .expect("run dtrplay plan"),
    );
    plan.success();
    assert_eq!(
        plan.stdout
            .matches("+++ after: DTR tag admin/hello-world:1")
            .count(),
        1,
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("ok: [node2]: push "),
        "{}",
        plan.stdout
    );

    // Every step: the push goes through UCP with no docker login, and a
    // second run changes nothing. The run's change is reported by the
    // first node, whichever node's request made it.
    let run = integrate(&project, &lab, None, &[]);
    run.success();
    assert!(
        run.stdout.contains(&format!(
            "changed: [node1]: pushed {image} from node1 (tag 1 now at"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("ok: [node2]: pushed {image} from node2\n")),
        "{}",
        run.stdout
    );
    let again = integrate(&project, &lab, None, &[]);
    again.success();
    assert!(again.stdout.contains("changed=0"), "{}", again.stdout);
    assert!(!again.stdout.contains("changed=1"), "{}", again.stdout);

    // DTR lists the tag to a plain client built on public crates.
    dtrplay::api::tls::install_provider();
    let ca =
        reqwest::Certificate::from_pem(lab.pki().dtr_ca().cert_pem().as_bytes()).expect("DTR's CA");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .proxy(reqwest::Proxy::https(lab.https_proxy().unwrap()).expect("the proxy"))
        .build()
        .expect("a client");
    let config = lab.config();
    let tags: serde_json::Value = client
        .get(format!(
            "{}/api/v0/repositories/admin/hello-world/tags",
            lab.dtr_url()
        ))
        .basic_auth(&config.admin_user, Some(&config.admin_password))
        .send()
        .await
        .expect("list tags")
        .json()
        .await
        .expect("JSON tags");
    assert_eq!(tags[0]["name"], "1", "{tags}");

    // The real docker client with the bundle, through UCP: a pull reaches
    // every node's engine, each with the token UCP obtained from DTR.
    let bundle = project.path().join("bundle");
    std::fs::create_dir_all(&bundle).expect("bundle dir");
    let pki = lab.pki();
    std::fs::write(bundle.join("ca.pem"), pki.cluster_root_ca().cert_pem()).unwrap();
    std::fs::write(bundle.join("cert.pem"), pki.admin_client().cert_pem()).unwrap();
    std::fs::write(bundle.join("key.pem"), pki.admin_client().key_pem()).unwrap();
    let pulled = bundle_docker(&lab, &bundle, &["pull", &image]);
    let text = String::from_utf8_lossy(&pulled.stdout);
    assert!(
        pulled.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    for node in ["node1", "node2"] {
        assert!(text.contains(&format!("{node}: Status: ")), "{text}");
    }

    // node2's ca.crt removed by hand: node1 still pushes through UCP, node2
    // fails with the step 5 verdict naming its own ca.crt.
    let node2 = &lab.nodes()[1];
    std::fs::remove_file(node2.path(&format!("/etc/docker/certs.d/{dtr}/ca.crt")))
        .expect("remove node2's ca.crt");
    let run = integrate(&project, &lab, Some("push-test"), &[]);
    assert_ne!(run.status, 0, "{}", run.stdout);
    assert!(run.stdout.contains("failed: [node2]"), "{}", run.stdout);
    assert!(!run.stdout.contains("failed: [node1]"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("anonymous `docker pull {image}` on node2 failed")),
        "{}",
        run.stdout
    );

    lab.stop().await.expect("stop the lab");
}

/// `dtrplay doctor` over the lab inventory, through the lab's proxy.
pub(crate) fn doctor(project: &Project, lab: &Lab) -> crate::harness::Run {
    let inventory = lab.inventory_path().display().to_string();
    let output = project
        .command(&["doctor", "-i", inventory.as_str()])
        .env("HTTPS_PROXY", lab.https_proxy().expect("the lab's proxy"))
        .output()
        .expect("run dtrplay doctor");
    let run = project.finished(output);
    // Fingerprints are folded onto lines of their own, so no line that
    // shows one runs far off a terminal (a fingerprint is 95 columns).
    for line in run.stdout.lines().filter(|l| l.contains("SHA-256")) {
        assert!(line.chars().count() <= 120, "too wide: {line:?}");
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_and_push_test_name_the_same_broken_link_ucp1() {
    doctor_agrees_with_push_test(Flavor::Ucp1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_and_push_test_name_the_same_broken_link_ucp3() {
    doctor_agrees_with_push_test(Flavor::Ucp3).await;
}

/// Each link broken by hand, one at a time, on real engines: push-test
/// (through UCP, then each node's engine) and doctor (the APIs, each node's
/// files, each node's engine) name the same link.
async fn doctor_agrees_with_push_test(flavor: Flavor) {
    let project = Project::new();
    let options = LabOptions::new(
        project.path().join("lab"),
        flavor,
        2,
        1,
        env!("CARGO_BIN_EXE_dtrplay"),
    );
    let lab = Lab::start(&options).await.expect("start the lab");
    assert!(lab.has_engines(), "{:?}", lab.engine_warning());
    let dtr = lab.dtr_host();
    let refused = "(steps 3–4)";

    // No step 3: UCP gets no credentials for the engine, which DTR
    // refuses; doctor names step 3 alone, and each engine verifies DTR.
    integrate(
        &project,
        &lab,
        Some("dump-certs,set-bypass-ca,copy-ca-crt"),
        &[],
    )
    .success();
    let push = integrate(&project, &lab, Some("push-test"), &[]);
    assert_ne!(push.status, 0, "{}", push.stdout);
    assert!(push.stdout.contains(refused), "{}", push.stdout);
    let doc = doctor(&project, &lab);
    assert_ne!(doc.status, 0, "{}", doc.stdout);
    assert!(
        doc.stdout.contains("BROKEN  UCP knows DTR (step 3)"),
        "{}",
        doc.stdout
    );
    assert!(
        !doc.stdout.contains("BROKEN  DTR trusts UCP"),
        "{}",
        doc.stdout
    );
    assert!(!doc.stdout.contains("BROKEN  node"), "{}", doc.stdout);
    assert_eq!(
        doc.stdout.matches("the node's engine verifies DTR").count(),
        2,
        "{}",
        doc.stdout
    );

    // Every step: both agree that everything holds.
    integrate(&project, &lab, Some("upload-ca"), &[]).success();
    integrate(&project, &lab, Some("push-test"), &[]).success();
    doctor(&project, &lab).success();

    // No step 4 (UCP 1.x + DTR 2.0 only: DTR 2.4+ takes UCP's CA at
    // installation, which no API changes): DTR trusts another CA.
    if flavor == Flavor::Ucp1 {
        set_bypass_ca(&lab, lab.pki().dtr_ca().cert_pem()).await;
        let push = integrate(&project, &lab, Some("push-test"), &[]);
        assert_ne!(push.status, 0, "{}", push.stdout);
        assert!(push.stdout.contains(refused), "{}", push.stdout);
        let doc = doctor(&project, &lab);
        assert_ne!(doc.status, 0, "{}", doc.stdout);
        assert!(
            doc.stdout.contains("BROKEN  DTR trusts UCP (step 4)"),
            "{}",
            doc.stdout
        );
        assert!(
            !doc.stdout.contains("BROKEN  UCP knows DTR"),
            "{}",
            doc.stdout
        );
        integrate(&project, &lab, Some("dump-certs,set-bypass-ca"), &[]).success();
        doctor(&project, &lab).success();
    } else {
        let doc = doctor(&project, &lab);
        assert!(doc.stdout.contains("--ucp-ca"), "{}", doc.stdout);
    }

    // No step 5 on node2: push-test fails there alone, doctor too, and
    // node2's engine confirms with its own x509 text.
    let ca_crt = lab.nodes()[1].path(&format!("/etc/docker/certs.d/{dtr}/ca.crt"));
    std::fs::remove_file(&ca_crt).expect("remove node2's ca.crt");
    let x509 = "x509: certificate signed by unknown authority";
    let push = integrate(&project, &lab, Some("push-test"), &[]);
    assert!(push.stdout.contains("failed: [node2]"), "{}", push.stdout);
    assert!(!push.stdout.contains("failed: [node1]"), "{}", push.stdout);
    assert!(
        push.stdout.contains("is missing (step 5"),
        "{}",
        push.stdout
    );
    let doc = doctor(&project, &lab);
    assert_ne!(doc.status, 0, "{}", doc.stdout);
    assert!(
        doc.stdout.contains(&format!(
            "BROKEN  node2: node trusts DTR (step 5): /etc/docker/certs.d/{dtr}/ca.crt is missing"
        )),
        "{}",
        doc.stdout
    );
    assert!(
        doc.stdout.contains("the node's engine confirms: `"),
        "{}",
        doc.stdout
    );
    assert!(doc.stdout.contains(x509), "{}", doc.stdout);
    assert!(!doc.stdout.contains("BROKEN  node1"), "{}", doc.stdout);

    // A wrong CA on node2 (UCP's instead of DTR's): the same link, with
    // what the file holds.
    std::fs::write(&ca_crt, lab.pki().cluster_root_ca().cert_pem()).expect("write a wrong CA");
    let push = integrate(&project, &lab, Some("push-test"), &[]);
    assert!(push.stdout.contains("failed: [node2]"), "{}", push.stdout);
    assert!(
        push.stdout
            .contains("is different: it holds CN=UCP Cluster Root CA"),
        "{}",
        push.stdout
    );
    let doc = doctor(&project, &lab);
    assert!(
        doc.stdout.contains(&format!(
            "BROKEN  node2: node trusts DTR (step 5): /etc/docker/certs.d/{dtr}/ca.crt holds another CA"
        )),
        "{}",
        doc.stdout
    );
    assert!(
        doc.stdout.contains("the node's engine confirms: `"),
        "{}",
        doc.stdout
    );
    assert!(!doc.stdout.contains("BROKEN  node1"), "{}", doc.stdout);

    lab.stop().await.expect("stop the lab");
}

/// Sets DTR 2.0's `authBypassCA` by hand, as its administrator.
async fn set_bypass_ca(lab: &Lab, pem: &str) {
    dtrplay::api::tls::install_provider();
    let ca =
        reqwest::Certificate::from_pem(lab.pki().dtr_ca().cert_pem().as_bytes()).expect("DTR's CA");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .proxy(reqwest::Proxy::https(lab.https_proxy().unwrap()).expect("the proxy"))
        .build()
        .expect("a client");
    let config = lab.config();
    let response = client
        .post(format!("{}/api/v0/meta/settings", lab.dtr_url()))
        .basic_auth(&config.admin_user, Some(&config.admin_password))
        .json(&serde_json::json!({"authBypassCA": pem}))
        .send()
        .await
        .expect("set authBypassCA");
    assert!(response.status().is_success(), "{response:?}");
}
