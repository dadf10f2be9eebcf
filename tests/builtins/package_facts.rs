//! `package_facts` through the binary: the node's dpkg database as
//! `ansible_facts.packages`, read by later tasks, in check mode too.

use super::{Lab, changed, results};

#[test]
fn package_facts_lists_dpkg_packages_for_later_tasks() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - package_facts:
          register: gathered
        - assert:
            that:
              - "'bash' in ansible_facts.packages"
              - "'dtrplay-no-such-package' not in ansible_facts.packages"
              - ansible_facts.packages['bash'][0].name == 'bash'
              - ansible_facts.packages['bash'][0].source == 'apt'
              - ansible_facts.packages['bash'] | length == 1
              - gathered.ansible_facts.packages['bash'][0].version == ansible_facts.packages.bash[0].version
        - copy:
            content: "{{ ansible_facts.packages['bash'][0].version }} {{ ansible_facts.packages['bash'][0].arch }} {{ ansible_facts.packages['bash'][0].category }}\n"
            dest: /opt/dtrplay-bash-package
        - ansible.builtin.package_facts:
            manager: [apt]
            strategy: all
        "#,
    );
    let validate = lab
        .project
        .run(&["validate", "site.yml", "-i", "inventory.yml"]);
    validate.success();

    // Check mode gathers as well, so the assert passes before the copy
    // that it does not make.
    let check = lab.apply(&["--check"]);
    check.success();
    let first = &results(&check)[0];
    assert_eq!(first["status"], "ok", "{first}");
    assert!(
        first["msg"]
            .as_str()
            .unwrap_or_default()
            .ends_with("packages (apt)"),
        "{first}"
    );
    assert_eq!(results(&check)[1]["status"], "ok", "{:?}", results(&check));

    let run = lab.apply(&[]);
    run.success();
    assert_eq!(changed(&run, "node1"), 1, "only the copy");
    let expected = lab.sh(
        "node1",
        "dpkg-query -W -f='${Version} ${Architecture} ${Section}\\n' bash",
    );
    assert_eq!(lab.sh("node1", "cat /opt/dtrplay-bash-package"), expected);
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play("- package_facts:\n    manager: brew\n");
    let refused = lab.apply(&[]);
    refused.status(2);
    assert_eq!(
        results(&refused)[0]["msg"],
        "Unsupported package managers requested: brew"
    );
}
