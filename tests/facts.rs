//! Facts: gathered by default as "Gathering Facts" in one round trip, read
//! as `ansible_facts.x` and as `ansible_x`, `setup` with `filter` and
//! `gather_subset`, check mode, facts as host data, and `validate`'s
//! error for a fact read by a play that gathers none.

use crate::harness::{Nodes, Project};

fn setup(count: usize) -> (Nodes, Project) {
    let nodes = Nodes::start(count);
    let project = Project::new();
    let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    project.file("inventory.yml", &nodes.inventory(&[("web", &refs)], ""));
    (nodes, project)
}

fn read(nodes: &Nodes, name: &str, path: &str) -> String {
    std::fs::read_to_string(nodes.node(name).path(path))
        .unwrap_or_else(|e| panic!("{path} on {name}: {e}"))
}

/// The value of `KEY=value` in the node's `/etc/os-release`.
fn os_release(nodes: &Nodes, key: &str) -> String {
    let text = nodes.sh("node1", "cat /etc/os-release");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{key} in /etc/os-release"))
}

#[test]
fn plays_gather_facts_by_default_and_templates_read_them_both_ways() {
    let (nodes, project) = setup(2);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          tasks:
            - name: Write what the facts say
              copy:
                dest: /srv/facts.txt
                mode: "0644"
                content: |
                  family={{ ansible_os_family }}/{{ ansible_facts.os_family }}
                  distribution={{ ansible_distribution }}/{{ ansible_facts['distribution'] }}
                  release={{ ansible_distribution_release }}
                  major={{ ansible_distribution_major_version }}
                  hostname={{ ansible_hostname }}
                  user={{ ansible_user_id }}
                  home={{ ansible_env.HOME }}
                  arch={{ ansible_architecture }}
                  kernel={{ ansible_kernel }}
                  vcpus_number={{ ansible_processor_vcpus is number }}
                  memtotal_positive={{ ansible_memtotal_mb > 0 }}
                  pkg_mgr={{ ansible_pkg_mgr }}
                  service_mgr_set={{ ansible_service_mgr | length > 0 }}
                  ipv4={{ ansible_default_ipv4.address | default('none') }}
                  ipv4_listed={{ ansible_default_ipv4.address | default('none') in (ansible_all_ipv4_addresses + ['none']) }}
                  interfaces_has_lo={{ 'lo' in ansible_interfaces }}
                  lo={{ ansible_lo.ipv4.address }}
                  machine_id_length={{ ansible_machine_id | length }}
                  year_is_string={{ ansible_date_time.year is string }}
                  mounts_list={{ ansible_mounts is sequence }}
                  other={{ hostvars['node2'].ansible_facts.hostname }}
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    // Gathering is a task of its own, counted as ok on every host.
    let events = run.events();
    let gathering: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "task_start" && e["name"] == "Gathering Facts")
        .collect();
    assert_eq!(gathering.len(), 1, "{}", run.stdout);
    assert_eq!(run.recap()["node1"]["ok"], 2, "{}", run.stdout);
    assert_eq!(run.recap()["node1"]["changed"], 1, "{}", run.stdout);
    let text = read(&nodes, "node1", "/srv/facts.txt");
    let id = os_release(&nodes, "ID");
    let family = if id == "debian" || id == "ubuntu" {
        "Debian"
    } else {
        "RedHat"
    };
    let hostname = nodes.sh("node1", "cat /proc/sys/kernel/hostname");
    let hostname = hostname.trim().split('.').next().unwrap_or_default();
    let user = nodes.sh("node1", "id -un");
    let home = nodes.node("node1").root.join("home");
    for want in [
        format!("family={family}/{family}"),
        format!("user={}", user.trim()),
        format!("hostname={hostname}"),
        format!("home={}", home.display()),
        format!("arch={}", nodes.sh("node1", "uname -m").trim()),
        format!("kernel={}", nodes.sh("node1", "uname -r").trim()),
        format!(
            "major={}",
            os_release(&nodes, "VERSION_ID")
                .split('.')
                .next()
                .unwrap_or("")
        ),
        "vcpus_number=True".to_string(),
        "memtotal_positive=True".to_string(),
        "service_mgr_set=True".to_string(),
        "ipv4_listed=True".to_string(),
        "interfaces_has_lo=True".to_string(),
        "lo=127.0.0.1".to_string(),
        "machine_id_length=32".to_string(),
        "year_is_string=True".to_string(),
        "mounts_list=True".to_string(),
        format!("other={hostname}"),
    ] {
        assert!(text.contains(&want), "{want} missing in:\n{text}");
    }
    if family == "Debian" {
        assert!(text.contains("pkg_mgr=apt"), "{text}");
        assert!(
            text.contains(&format!(
                "release={}",
                os_release(&nodes, "VERSION_CODENAME")
            )),
            "{text}"
        );
    }
}

#[test]
fn plays_that_read_no_fact_skip_gathering_and_say_so() {
    let (_nodes, project) = setup(1);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          tasks:
            - debug: {msg: "no facts here"}
        - hosts: web
          gather_facts: true
          tasks:
            - debug: {msg: "asked for them"}
        "#,
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml", "-v"]);
    run.success()
        .stdout_has("facts not gathered: no template of this play reads a fact");
    // Only the second play gathers.
    assert_eq!(
        run.stdout.matches("Gathering Facts").count(),
        1,
        "{}",
        run.stdout
    );
}

#[test]
fn setup_tasks_filter_and_subset_and_check_mode_gathers() {
    let (nodes, project) = setup(1);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - name: Only the distribution facts
              setup:
                filter: ["ansible_distribution*"]
              register: only_dist
            - name: The minimal subset
              setup:
                gather_subset: ["!all"]
              register: min
            - name: Write what each gathering gave
              copy:
                dest: /srv/setup.txt
                mode: "0644"
                content: |
                  dist_keys={{ only_dist.ansible_facts.keys() | map('regex_replace', '^ansible_distribution.*$', 'd') | unique | list }}
                  min_has_hardware={{ 'ansible_memtotal_mb' in min.ansible_facts }}
                  min_has_user={{ 'ansible_user_id' in min.ansible_facts }}
                  subset={{ min.ansible_facts.gather_subset }}
                  injected={{ ansible_distribution == ansible_facts.distribution }}
        "#,
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.success();
    let text = read(&nodes, "node1", "/srv/setup.txt");
    for want in [
        "dist_keys=['d']",
        "min_has_hardware=False",
        "min_has_user=True",
        "subset=['!all']",
        "injected=True",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
    // Check mode still gathers (setup only reads), so the facts are there.
    project.file(
        "check.yml",
        r#"
        - hosts: web
          tasks:
            - assert:
                that:
                  - ansible_facts.os_family | length > 0
                  - ansible_check_mode
        "#,
    );
    project
        .run(&["apply", "check.yml", "-i", "inventory.yml", "--check"])
        .success()
        .stdout_has("Gathering Facts");
}

#[test]
fn facts_are_host_data_never_rendered() {
    let nodes = Nodes::start_copy_on_write(1);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("web", &["node1"])], ""),
    );
    // The node's (private, copy-on-write) os-release holds a version that
    // looks like a template; the facts must carry it as text.
    nodes.sh(
        "node1",
        "rm -f /etc/os-release && printf 'ID=evil\\nVERSION_ID=\"{{ 7 * 7 }}\"\\n' > /etc/os-release",
    );
    project.file(
        "site.yml",
        r#"
        - hosts: web
          tasks:
            - copy:
                dest: /srv/evil.txt
                mode: "0644"
                content: "{{ ansible_distribution }} {{ ansible_facts.distribution_version }}"
            - set_fact:
                evil_copy: "{{ ansible_distribution_version }}"
            - debug: {msg: "[{{ evil_copy }}]"}
        "#,
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.success().stdout_has("[{{ 7 * 7 }}]");
    assert_eq!(read(&nodes, "node1", "/srv/evil.txt"), "Evil {{ 7 * 7 }}");
}

#[test]
fn validate_refuses_a_fact_read_when_facts_are_off() {
    let (_nodes, project) = setup(1);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - debug:
                msg: "{{ ansible_os_family }}"
        "#,
    );
    let run = project.run(&["validate", "site.yml", "-i", "inventory.yml"]);
    run.status(4)
        .stderr_has("`ansible_os_family` is a fact, but this play does not gather facts")
        .stderr_has("site.yml:5:")
        .stderr_has("remove `gather_facts: false`");
    // A setup task before the read makes it valid, as does an earlier
    // play that gathered.
    project.file(
        "ok.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - setup:
                gather_subset: [min]
            - debug:
                msg: "{{ ansible_os_family }}"
        - hosts: web
          gather_facts: false
          tasks:
            - debug:
                msg: "{{ ansible_facts.distribution }}"
        "#,
    );
    project
        .run(&["validate", "ok.yml", "-i", "inventory.yml"])
        .success();
}
