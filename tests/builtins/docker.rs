//! The Docker modules (`docker_volume`, `docker_image`, ...) against each
//! node's own real engine (`lab::engine`: Debian's dockerd, which only that
//! node sees), through the node's `docker` command line. Nothing is pulled
//! from a registry: images are made on the node from the machine's own
//! `dash` and `sleep` with `docker import`.

use super::{Lab, changed, diffs, failed, results};

/// Makes `lab/dash:1` on a node's engine: dash, sleep and the libraries
/// they load, with `sleep 1000` as the command.
pub fn dash_image(lab: &Lab, node: &str) {
    lab.sh(
        node,
        "set -e; d=$(mktemp -d); mkdir -p \"$d/bin\"; cp /usr/bin/dash /usr/bin/sleep \"$d/bin/\"; \
         for f in $(ldd /usr/bin/dash /usr/bin/sleep | grep -o '/[^ :]*'); do cp --parents \"$f\" \"$d\"; done; \
         tar -C \"$d\" -c . | docker import -c 'CMD [\"/bin/sleep\",\"1000\"]' - lab/dash:1 >/dev/null; rm -rf \"$d\"",
    );
}

fn msgs(run: &crate::harness::Run) -> Vec<String> {
    results(run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn volumes_are_created_recreated_on_request_and_removed() {
    let lab = Lab::with_engines(1);
    lab.play(
        r#"
        - community.docker.docker_volume:
            name: dtr-data
            driver_options:
              type: tmpfs
              device: tmpfs
            labels:
              team: dtr
          register: vol
        - assert:
            that:
              - ansible_check_mode or vol.volume.Name == 'dtr-data'
              - vol.actions == ['Created volume dtr-data with driver local']
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+labels.team: dtr"),
        "{}",
        diffs(&check)
    );
    assert_eq!(lab.sh("node1", "docker volume ls -q"), "");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "docker volume inspect --format '{{.Labels.team}} {{.Options.type}}' dtr-data"
        ),
        "dtr tmpfs\n"
    );
    lab.play(
        r#"
        - docker_volume:
            name: dtr-data
            driver_options:
              type: tmpfs
              device: tmpfs
            labels:
              team: dtr
        "#,
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Other options leave an existing volume alone unless asked.
    lab.play(
        r#"
        - docker_volume:
            name: dtr-data
            labels:
              team: ucp
        "#,
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    lab.play(
        r#"
        - docker_volume:
            name: dtr-data
            labels:
              team: ucp
            recreate: options-changed
        "#,
    );
    let recreate = lab.apply(&["--diff"]);
    recreate.success();
    assert_eq!(changed(&recreate, "node1"), 1);
    assert!(
        diffs(&recreate).contains("-labels.team: dtr"),
        "{}",
        diffs(&recreate)
    );
    assert_eq!(
        lab.sh(
            "node1",
            "docker volume inspect --format '{{.Labels.team}} {{len .Options}}' dtr-data"
        ),
        "ucp 0\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - docker_volume:
            name: dtr-data
            state: absent
        "#,
    );
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(lab.sh("node1", "docker volume ls -q"), "dtr-data\n");
    let removed = lab.apply(&[]);
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(msgs(&removed), ["Removed volume dtr-data"]);
    assert_eq!(lab.sh("node1", "docker volume ls -q"), "");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn images_are_loaded_built_tagged_archived_and_removed() {
    let lab = Lab::with_engines(1);
    dash_image(&lab, "node1");
    lab.sh(
        "node1",
        "set -e; docker save -o /srv/dash.tar lab/dash:1; docker rmi lab/dash:1 >/dev/null; \
         mkdir -p /srv/ctx; printf 'FROM lab/dash:1\\nCOPY motd /motd\\n' > /srv/ctx/Dockerfile; echo built > /srv/ctx/motd",
    );

    lab.play(
        r#"
        - name: A missing local image is an error
          docker_image:
            name: lab/dash
            tag: "1"
            source: local
          ignore_errors: true
        - community.docker.docker_image:
            name: lab/dash:1
            source: load
            load_path: /srv/dash.tar
          register: loaded
        - assert:
            that:
              - not loaded.changed or loaded.actions == ['Loaded image lab/dash:1 from /srv/dash.tar']
              - ansible_check_mode or loaded.image.RepoTags == ['lab/dash:1']
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        msgs(&check).contains(&"Cannot find the image lab/dash:1 locally.".to_string()),
        "{:?}",
        msgs(&check)
    );
    assert!(
        diffs(&check).contains("-state: absent"),
        "{}",
        diffs(&check)
    );
    assert_eq!(lab.sh("node1", "docker images -q lab/dash"), "");
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_ne!(lab.sh("node1", "docker images -q lab/dash:1"), "");
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    lab.play(
        r#"
        - docker_image:
            name: lab/motd
            tag: v1
            source: build
            build:
              path: /srv/ctx
              labels:
                made-by: dtrplay
            repository: registry.lab.test/lab/motd
            archive_path: /srv/motd.tar
          register: built
        - assert:
            that: ansible_check_mode or built.image.Config.Labels['made-by'] == 'dtrplay'
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(
        msgs(&check)[0],
        "Built image lab/motd:v1 from /srv/ctx; Tagged image lab/motd:v1 to registry.lab.test/lab/motd:v1; Archived image lab/motd:v1 to /srv/motd.tar"
    );
    let built = lab.apply(&[]);
    built.success();
    assert_eq!(changed(&built, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "docker run --rm registry.lab.test/lab/motd:v1 /bin/dash -c 'read l < /motd; echo $l'; tar -tf /srv/motd.tar manifest.json"
        ),
        "built\nmanifest.json\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A stale archive is written again; a forced build that produces the
    // same image is no change.
    lab.sh("node1", "docker save -o /srv/motd.tar lab/dash:1");
    let stale = lab.apply(&[]);
    assert_eq!(changed(&stale, "node1"), 1);
    assert_eq!(
        msgs(&stale)[0],
        "Archived image lab/motd:v1 to /srv/motd.tar"
    );

    lab.play(
        r#"
        - docker_image:
            name: lab/motd:v1
            state: absent
        - docker_image:
            name: lab/dash
            tag: "1"
            state: absent
            force_absent: true
        "#,
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 2);
    assert_eq!(
        lab.sh(
            "node1",
            "docker images -q lab/motd; docker images -q lab/dash"
        ),
        ""
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Nothing is pulled from outside; a pull that fails says why in the
    // engine's own words.
    lab.play(
        r#"
        - docker_image:
            name: 127.0.0.1:9/lab/nowhere
            tag: "1"
            source: pull
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    let msg = &msgs(&run)[0];
    assert!(msg.starts_with("docker pull failed: "), "{msg}");
    assert!(msg.contains("127.0.0.1:9"), "{msg}");
}

#[test]
fn docker_errors_name_the_missing_client_the_silent_engine_and_the_registry() {
    // No engine runs on these nodes.
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - docker_volume:
            name: data
          environment:
            PATH: /nonexistent
          ignore_errors: true
        - docker_volume:
            name: data
          ignore_errors: true
        - docker_image:
            name: lab/app
          ignore_errors: true
        - docker_volume:
            name: --rm
          ignore_errors: true
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(failed(&run, "node1"), 0);
    let msgs = msgs(&run);
    assert!(
        msgs[0].starts_with("the docker command line is not installed on the host"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("the host's Docker engine does not answer: ")
            && msgs[1].contains("Cannot connect to the Docker daemon"),
        "{msgs:?}"
    );
    assert!(msgs[2].contains("`source` is missing"), "{msgs:?}");
    assert!(msgs[3].contains("not start with `-`"), "{msgs:?}");

    // Arguments community.docker has and dtrplay does not are refused
    // before any connection.
    lab.play(
        r#"
        - docker_image:
            name: lab/app
            source: pull
            tls_hostname: registry.lab.test
        "#,
    );
    let refused = lab
        .project
        .run(&["validate", "site.yml", "-i", "inventory.yml"]);
    refused.status(4);
    refused.stderr_has("unknown argument `tls_hostname` for `docker_image`");
}

#[test]
fn containers_are_started_recreated_stopped_run_attached_and_removed() {
    let lab = Lab::with_engines(1);
    dash_image(&lab, "node1");
    let web = |role: &str, state: &str| {
        format!(
            r#"
        - community.docker.docker_container:
            name: web
            image: lab/dash:1
            command: sleep 300
            env:
              ROLE: {role}
            labels:
              team: dtr
            volumes:
              - /srv:/data
            restart_policy: unless-stopped
            stop_timeout: 1
            state: {state}
          register: web
        - assert:
            that: ansible_check_mode or web.container.Config.Labels.team == 'dtr'
        "#
        )
    };
    let inspect = "docker inspect --format '{{.State.Status}} {{.Config.Env}} {{.HostConfig.Binds}} {{.HostConfig.RestartPolicy.Name}} {{.Config.Cmd}}' web";
    lab.play(&web("web", "started"));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+state: running"),
        "{}",
        diffs(&check)
    );
    assert_eq!(lab.sh("node1", "docker ps -aq"), "");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        msgs(&first)[0],
        "created container web; started container web"
    );
    assert_eq!(
        lab.sh("node1", inspect),
        "running [ROLE=web] [/srv:/data] unless-stopped [sleep 300]\n"
    );
    let id = lab.sh("node1", "docker inspect --format '{{.Id}}' web");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Another environment recreates it.
    lab.play(&web("api", "started"));
    let recreated = lab.apply(&["--diff"]);
    recreated.success();
    assert_eq!(changed(&recreated, "node1"), 1);
    assert!(
        msgs(&recreated)[0].starts_with("recreated container web (env)"),
        "{:?}",
        msgs(&recreated)
    );
    assert!(diffs(&recreated).contains("ROLE"), "{}", diffs(&recreated));
    assert_ne!(lab.sh("node1", "docker inspect --format '{{.Id}}' web"), id);
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(&web("api", "stopped"));
    let stopped = lab.apply(&[]);
    stopped.success();
    assert_eq!(msgs(&stopped)[0], "stopped container web");
    assert!(lab.sh("node1", inspect).starts_with("exited "));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    lab.play(&web("api", "started"));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert!(lab.sh("node1", inspect).starts_with("running "));

    // Attached runs register the exit status and output; a failing one
    // fails the task.
    lab.play(
        r#"
        - docker_container:
            name: job
            image: lab/dash:1
            command: ["/bin/dash", "-c", "echo hello from job"]
            detach: false
            cleanup: true
          register: job
        - assert:
            that:
              - job.status == 0
              - job.output == 'hello from job'
        - docker_container:
            name: job
            image: lab/dash:1
            command: ["/bin/dash", "-c", "echo broken; exit 3"]
            detach: false
            cleanup: true
        "#,
    );
    let jobs = lab.apply(&[]);
    jobs.status(2);
    assert_eq!(
        msgs(&jobs)[2],
        "container job exited with status 3: broken",
        "{:?}",
        msgs(&jobs)
    );
    assert_eq!(lab.sh("node1", "docker ps -aq --filter name=job"), "");

    lab.play(
        r#"
        - docker_container:
            name: web
            state: absent
            stop_timeout: 1
        - docker_container:
            name: missing
            image: lab/none:1
            pull: never
          ignore_errors: true
        "#,
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(
        msgs(&removed),
        [
            "removed container web",
            "Cannot find the image lab/none:1 locally, and `pull` is never"
        ]
    );
    assert_eq!(lab.sh("node1", "docker ps -aq"), "");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

/// The lab's engines run without bridges (`--bridge=none`), and a bridge
/// network would add an interface to this machine, so the networks here
/// are configuration-only ones: the engine keeps their IPAM configuration
/// and labels, and nothing outside it changes.
#[test]
fn networks_are_created_recreated_when_their_pools_change_and_removed() {
    let lab = Lab::with_engines(1);
    let net = |subnet: &str| {
        format!(
            r#"
        - community.docker.docker_network:
            name: dtr-net
            config_only: true
            ipam_config:
              - subnet: {subnet}
                gateway: 10.98.0.1
            labels:
              team: dtr
          register: net
        - assert:
            that: ansible_check_mode or net.network.Labels.team == 'dtr'
        "#
        )
    };
    let inspect = "docker network inspect --format '{{.ConfigOnly}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' dtr-net";
    lab.play(&net("10.98.0.0/24"));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+ipam_config: subnet=10.98.0.0/24,gateway=10.98.0.1"),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        lab.sh("node1", "docker network ls -q --filter name=dtr-net"),
        ""
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(msgs(&first)[0], "created network dtr-net");
    assert_eq!(lab.sh("node1", inspect), "true 10.98.0.0/24 10.98.0.1\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(&net("10.98.0.0/16"));
    let recreated = lab.apply(&["--diff"]);
    recreated.success();
    assert_eq!(
        msgs(&recreated)[0],
        "recreated network dtr-net (ipam_config)"
    );
    assert!(
        diffs(&recreated).contains("-ipam_config: subnet=10.98.0.0/24"),
        "{}",
        diffs(&recreated)
    );
    assert_eq!(lab.sh("node1", inspect), "true 10.98.0.0/16 10.98.0.1\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - docker_network:
            name: dtr-net
            state: absent
        - docker_network:
            name: odd
            ipam_config:
              - subnet: 10.97.0.0/24
                aux_addresses: {}
          ignore_errors: true
        "#,
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(msgs(&removed)[0], "removed network dtr-net");
    assert!(
        msgs(&removed)[1].contains("`aux_addresses` is not supported"),
        "{:?}",
        msgs(&removed)
    );
    assert_eq!(
        lab.sh("node1", "docker network ls -q --filter name=dtr-net"),
        ""
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

/// The lab's engines have no bridge, so a container on the default network
/// has no network of its own: the engine stores and reports the bindings
/// (`HostConfig.PortBindings`) and runs the container, but binds nothing on
/// this machine, so reaching a published port is what cannot be tested
/// here.
#[test]
fn container_ports_are_published_exposed_compared_and_recreated() {
    let lab = Lab::with_engines(1);
    dash_image(&lab, "node1");
    let web = |port: &str, all: bool| {
        format!(
            r#"
        - community.docker.docker_container:
            name: web
            image: lab/dash:1
            published_ports:
              - "127.0.0.1:{port}:80"
              - "8443:443/udp"
              - "9000-9001:9100-9101"
              - 7000
            expose:
              - "6000"
            publish_all_ports: {all}
            stop_timeout: 1
          register: web
        - assert:
            that: ansible_check_mode or web.container.HostConfig.PortBindings['80/tcp'][0].HostPort == '{port}'
        "#
        )
    };
    let inspect = "docker inspect --format '{{.State.Status}} {{json .HostConfig.PortBindings}} {{.HostConfig.PublishAllPorts}}' web";
    let exposed =
        "docker inspect --format '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}' web";
    lab.play(&web("18080", false));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+state: running"),
        "{}",
        diffs(&check)
    );
    assert_eq!(lab.sh("node1", "docker ps -aq"), "");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh("node1", inspect),
        "running {\"443/udp\":[{\"HostIp\":\"\",\"HostPort\":\"8443\"}],\
         \"7000/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"\"}],\
         \"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"18080\"}],\
         \"9100/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"9000\"}],\
         \"9101/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"9001\"}]} false\n"
    );
    assert_eq!(
        lab.sh("node1", exposed),
        "443/udp 6000/tcp 7000/tcp 80/tcp 9100/tcp 9101/tcp \n"
    );
    let id = lab.sh("node1", "docker inspect --format '{{.Id}}' web");
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    // Another host port: check mode shows it and leaves the container.
    lab.play(&web("18081", false));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    let diff = diffs(&check);
    assert!(
        diff.contains(
            "-published_ports: [\"8443:443/udp\", \"7000/tcp\", \"127.0.0.1:18080:80/tcp\", \"9000:9100/tcp\", \"9001:9101/tcp\"]"
        ),
        "{diff}"
    );
    assert!(diff.contains("127.0.0.1:18081:80/tcp"), "{diff}");
    assert_eq!(lab.sh("node1", "docker inspect --format '{{.Id}}' web"), id);
    let moved = lab.apply(&["--diff"]);
    moved.success();
    assert_eq!(changed(&moved, "node1"), 1);
    assert_eq!(
        msgs(&moved)[0],
        "recreated container web (published_ports); started container web"
    );
    assert_ne!(lab.sh("node1", "docker inspect --format '{{.Id}}' web"), id);
    assert!(lab.sh("node1", inspect).contains("\"HostPort\":\"18081\""));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(&web("18081", true));
    let all = lab.apply(&["--diff"]);
    all.success();
    assert!(
        msgs(&all)[0].starts_with("recreated container web (publish_all_ports)"),
        "{:?}",
        msgs(&all)
    );
    assert!(
        diffs(&all).contains("+publish_all_ports: true"),
        "{}",
        diffs(&all)
    );
    assert!(lab.sh("node1", inspect).ends_with(" true\n"));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A malformed entry is refused with what to write instead.
    lab.play(
        r#"
        - docker_container:
            name: bad
            image: lab/dash:1
            ports:
              - "1-3:4-5"
        "#,
    );
    let bad = lab.apply(&[]);
    bad.status(2);
    assert!(
        msgs(&bad)[0].contains("ranges must have the same length"),
        "{:?}",
        msgs(&bad)
    );
}

#[test]
fn container_mounts_are_made_compared_and_recreated() {
    let lab = Lab::with_engines(1);
    dash_image(&lab, "node1");
    lab.sh(
        "node1",
        "mkdir -p /srv/site && echo hello > /srv/site/index",
    );
    let web = |size: &str| {
        format!(
            r#"
        - community.docker.docker_container:
            name: web
            image: lab/dash:1
            mounts:
              - type: bind
                source: /srv/site
                target: /site
                read_only: true
                propagation: rprivate
              - source: web-data
                target: /data
                volume_driver: local
              - type: tmpfs
                target: /cache
                tmpfs_size: {size}
                tmpfs_mode: "1770"
            volumes:
              - /srv:/srv-rw
            stop_timeout: 1
          register: web
        - assert:
            that: ansible_check_mode or web.container.HostConfig.Mounts | length == 3
        "#
        )
    };
    let mounts = "docker inspect --format '{{range .HostConfig.Mounts}}{{.Type}} {{.Source}} {{.Target}} {{.ReadOnly}}; {{end}}{{.HostConfig.Binds}}' web";
    lab.play(&web("1m"));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(lab.sh("node1", "docker ps -aq; docker volume ls -q"), "");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh("node1", mounts),
        "bind /srv/site /site true; volume web-data /data false; tmpfs  /cache false; [/srv:/srv-rw]\n"
    );
    // The mounts are real: the bind is read-only, the tmpfs has its mode.
    assert_eq!(
        lab.sh(
            "node1",
            "docker exec web /bin/dash -c 'read l < /site/index; echo $l; echo x > /site/new || echo refused; echo y > /cache/f && echo cached'"
        ),
        "hello\nrefused\ncached\n"
    );
    let id = lab.sh("node1", "docker inspect --format '{{.Id}}' web");
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    lab.play(&web("2m"));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    let diff = diffs(&check);
    assert!(
        diff.contains("-mounts: ") && diff.contains("tmpfs-size=1048576"),
        "{diff}"
    );
    assert!(
        diff.contains("+mounts: ") && diff.contains("tmpfs-size=2097152"),
        "{diff}"
    );
    assert_eq!(lab.sh("node1", "docker inspect --format '{{.Id}}' web"), id);
    let resized = lab.apply(&[]);
    resized.success();
    assert_eq!(
        msgs(&resized)[0],
        "recreated container web (mounts); started container web"
    );
    assert_eq!(
        lab.sh(
            "node1",
            "docker inspect --format '{{range .HostConfig.Mounts}}{{with .TmpfsOptions}}{{.SizeBytes}} {{printf \"%o\" .Mode}}{{end}}{{end}}' web"
        ),
        "2097152 1770\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - docker_container:
            name: bad
            image: lab/dash:1
            mounts:
              - type: bind
                source: relative/dir
                target: /x
        "#,
    );
    let bad = lab.apply(&[]);
    bad.status(2);
    assert!(
        msgs(&bad)[0].contains("needs an absolute `source`"),
        "{:?}",
        msgs(&bad)
    );
}

/// Without bridges the only networks a container can join are `none`,
/// `host` and configuration-only ones, which the engine attaches to a
/// created container (address, aliases, links stored) but refuses to
/// start on; so the networks are checked on created (`state: present`)
/// containers, and `network_mode` on running ones.
#[test]
fn container_networks_are_attached_compared_reconnected_and_purged() {
    let lab = Lab::with_engines(1);
    dash_image(&lab, "node1");
    lab.sh(
        "node1",
        "set -e; for n in a:91 b:92 c:93; do docker network create --config-only --subnet 10.${n#*:}.0.0/24 cfg-${n%:*} >/dev/null; done; \
         docker run -d --name other --network none lab/dash:1 >/dev/null",
    );
    let app = |ip: &str, purge: bool| {
        format!(
            r#"
        - community.docker.docker_container:
            name: app
            image: lab/dash:1
            state: present
            networks:
              - name: cfg-a
                ipv4_address: {ip}
                aliases: [db]
                links: ["other:o"]
              - name: cfg-b
                aliases: [z]
            purge_networks: {purge}
          register: app
        - assert:
            that: ansible_check_mode or 'db' in app.container.NetworkSettings.Networks['cfg-a'].Aliases
        "#
        )
    };
    let nets = "docker inspect --format '{{.HostConfig.NetworkMode}} {{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{with $e.IPAMConfig}}{{.IPv4Address}}{{end}}/{{index $e.Aliases 0}}/{{$e.Links}} {{end}}' app";
    lab.play(&app("10.91.0.5", false));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+state: created"),
        "{}",
        diffs(&check)
    );
    assert_eq!(lab.sh("node1", "docker ps -aq --filter name=app"), "");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh("node1", nets),
        "cfg-a cfg-a=10.91.0.5/db/[other:o] cfg-b=/z/[] \n"
    );
    let id = lab.sh("node1", "docker inspect --format '{{.Id}}' app");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Another address: check mode shows it, the apply recreates.
    lab.play(&app("10.91.0.6", false));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    let diff = diffs(&check);
    assert!(
        diff.contains("-networks: [\"cfg-a,ipv4_address=10.91.0.5"),
        "{diff}"
    );
    assert!(
        diff.contains("+networks: [\"cfg-a,ipv4_address=10.91.0.6"),
        "{diff}"
    );
    assert_eq!(lab.sh("node1", "docker inspect --format '{{.Id}}' app"), id);
    // As in community.docker, only the networks change: the container is
    // disconnected and connected again, not recreated.
    let moved = lab.apply(&[]);
    moved.success();
    assert_eq!(msgs(&moved)[0], "changed the networks of container app");
    assert!(
        lab.sh("node1", nets)
            .contains("cfg-a=10.91.0.6/db/[other:o]")
    );
    assert_eq!(lab.sh("node1", "docker inspect --format '{{.Id}}' app"), id);
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A network attached by hand stays unless purge_networks says so.
    lab.sh("node1", "docker network connect cfg-c app");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    lab.play(&app("10.91.0.6", true));
    let purged = lab.apply(&["--diff"]);
    purged.success();
    assert_eq!(changed(&purged, "node1"), 1);
    assert!(diffs(&purged).contains("cfg-c"), "{}", diffs(&purged));
    assert!(!lab.sh("node1", nets).contains("cfg-c"));
    assert_eq!(lab.sh("node1", "docker inspect --format '{{.Id}}' app"), id);
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A recreated container gets every network back: the first at
    // `docker create`, the others connected before anything else.
    lab.play(&app("10.91.0.6", true).replace("purge_networks: true", "recreate: true"));
    let recreated = lab.apply(&[]);
    recreated.success();
    assert_eq!(msgs(&recreated)[0], "recreated container app (recreate)");
    assert_ne!(lab.sh("node1", "docker inspect --format '{{.Id}}' app"), id);
    assert_eq!(
        lab.sh("node1", nets),
        "cfg-a cfg-a=10.91.0.6/db/[other:o] cfg-b=/z/[] \n"
    );

    // network_mode on a running container.
    let moded = |mode: &str| {
        format!(
            r#"
        - docker_container:
            name: solo
            image: lab/dash:1
            network_mode: {mode}
            stop_timeout: 1
        "#
        )
    };
    lab.play(&moded("none"));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    lab.play(&moded("host"));
    let host = lab.apply(&["--diff"]);
    host.success();
    assert!(
        diffs(&host).contains("+network_mode: host"),
        "{}",
        diffs(&host)
    );
    assert_eq!(
        lab.sh(
            "node1",
            "docker inspect --format '{{.HostConfig.NetworkMode}} {{.State.Status}}' solo"
        ),
        "host running\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}
