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
