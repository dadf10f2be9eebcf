//! Loops as real content writes them: `loop_control` (`loop_var`,
//! `index_var`, `label`, `pause`, `extended`) and the `with_*` family
//! mapped onto the one loop engine, through the binary on a real node.

use crate::harness::{Nodes, Project};

fn setup() -> (Nodes, Project) {
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("web", &["node1"])], ""),
    );
    (nodes, project)
}

fn read(nodes: &Nodes, path: &str) -> String {
    std::fs::read_to_string(nodes.node("node1").path(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn loop_control_index_var_loop_var_label_extended_and_pause() {
    let (nodes, project) = setup();
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - name: Files named by index and item
              copy:
                dest: "/srv/loop-{{ idx }}-{{ part }}.txt"
                mode: "0644"
                content: "{{ ansible_loop.index }}/{{ ansible_loop.length }} first={{ ansible_loop.first }} last={{ ansible_loop.last }} prev={{ ansible_loop.previtem | default('-') }} next={{ ansible_loop.nextitem | default('-') }} var={{ ansible_loop_var }}\n"
              loop: [a, b, c]
              loop_control:
                loop_var: part
                index_var: idx
                label: "part {{ part }}"
                extended: true
                pause: 0.3
              register: written
            - name: What was registered per item
              copy:
                dest: /srv/loop-registered.txt
                mode: "0644"
                content: "{% for r in written.results %}{{ r.part }}:{{ r.idx }}:{{ r.ansible_loop_var }}:{{ r.ansible_index_var }} {% endfor %}\n"
        "#,
    );
    let started = std::time::Instant::now();
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    let took = started.elapsed();
    run.success().stdout_has("(item=part b)");
    assert_eq!(
        read(&nodes, "/srv/loop-0-a.txt"),
        "1/3 first=True last=False prev=- next=b var=part\n"
    );
    assert_eq!(
        read(&nodes, "/srv/loop-2-c.txt"),
        "3/3 first=False last=True prev=b next=- var=part\n"
    );
    assert_eq!(
        read(&nodes, "/srv/loop-registered.txt"),
        // The newline after `{% endfor %}` is Jinja's last one, which
        // ansible-core gives back although trim_blocks ate it.
        "a:0:part:idx b:1:part:idx c:2:part:idx \n"
    );
    // Two pauses of 0.3 s between three items.
    assert!(took >= std::time::Duration::from_millis(600), "{took:?}");
}

#[test]
fn the_with_family_runs_on_the_loop_engine() {
    let (nodes, project) = setup();
    project.file("files/conf.d/a.conf", "a\n");
    project.file("files/conf.d/b.conf", "b\n");
    project.file("files/conf.d/skip.txt", "no\n");
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          vars:
            users:
              - {name: ann, keys: [k1, k2]}
              - {name: bob, keys: [k3]}
            ports: {http: 80, https: 443}
          tasks:
            - set_fact: {acc: []}
            - set_fact: {acc: "{{ acc + [item] }}"}
              with_items: [[1, 2], 3]
            - set_fact: {dict_items: "{{ (dict_items | default([])) + [item.key ~ '=' ~ item.value] }}"}
              with_dict: "{{ ports }}"
            - set_fact: {nested: "{{ (nested | default([])) + [item[0] ~ item[1]] }}"}
              with_nested: [[a, b], [1, 2]]
            - set_fact: {together: "{{ (together | default([])) + [item[0] ~ '-' ~ item[1]] }}"}
              with_together: [[x, y], [7, 8]]
            - set_fact: {subs: "{{ (subs | default([])) + [item.0.name ~ ':' ~ item.1] }}"}
              with_subelements: ["{{ users }}", keys]
            - set_fact: {seq: "{{ (seq | default([])) + [item] }}"}
              with_sequence: start=1 end=5 stride=2 format=n%02d
            - set_fact: {indexed: "{{ (indexed | default([])) + [item.0 ~ item.1] }}"}
              with_indexed_items: [p, q]
            - set_fact: {globbed: "{{ (globbed | default([])) + [item | basename] }}"}
              with_fileglob: ["conf.d/*.conf"]
            - set_fact: {listed: "{{ (listed | default([])) + [item] }}"}
              with_list: [[1, 2]]
            - copy:
                dest: /srv/with.txt
                mode: "0644"
                content: |
                  items={{ acc }}
                  dict={{ dict_items }}
                  nested={{ nested }}
                  together={{ together }}
                  subs={{ subs }}
                  seq={{ seq }}
                  indexed={{ indexed }}
                  globbed={{ globbed }}
                  listed={{ listed }}
        "#,
    );
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    let text = read(&nodes, "/srv/with.txt");
    for want in [
        "items=[1, 2, 3]",
        "dict=['http=80', 'https=443']",
        "nested=['a1', 'a2', 'b1', 'b2']",
        "together=['x-7', 'y-8']",
        "subs=['ann:k1', 'ann:k2', 'bob:k3']",
        "seq=['n01', 'n03', 'n05']",
        "indexed=['0p', '1q']",
        "globbed=['a.conf', 'b.conf']",
        "listed=[[1, 2]]",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
}

#[test]
fn a_bad_sequence_fails_the_task_clearly() {
    let (_nodes, project) = setup();
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - debug: {msg: "{{ item }}"}
              with_sequence: start=5 end=1
        "#,
    );
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .status(2)
        .stdout_has("to count backwards make stride negative");
}
