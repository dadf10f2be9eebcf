//! Real Docker engines on the lab's nodes: every node runs its own `dockerd`
//! (Debian's docker.io), which sees only that node's `/etc/docker` and keeps
//! its own images, and both docker clients on the node talk to it.

use dtrplay::lab::daemon::process;
use dtrplay::lab::{Flavor, Lab, LabOptions};

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
    // pulled), then lists what its engine holds with both clients.
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
              command: /usr/bin/docker images --format {% raw %}'{{.Repository}}:{{.Tag}}'{% endraw %}
              register: debian
            - name: List with the newer client
              command: /usr/local/bin/docker images --format {% raw %}'{{.Repository}}:{{.Tag}}'{% endraw %}
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
