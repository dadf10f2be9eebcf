//! The play keyword `collections:`: a module written by its short name is
//! looked up in the play's collections first, as Ansible does, in the
//! play's own tasks and in the files it includes at run time. The module
//! here, `community.general.filesize`, has no short name of its own
//! (ansible-core never shipped it), so it is found only through the list.

use super::{apply, dtrplay};
use crate::builtins::{Lab, changed};

#[test]
fn a_short_module_name_is_found_in_the_plays_collections() {
    let lab = Lab::copy_on_write(1);
    lab.project.file(
        "grow.yml",
        "- filesize: {path: /srv/included.bin, size: 2KiB}\n",
    );
    let play = |collections: &str| {
        format!(
            "- hosts: nodes\n  gather_facts: false\n{collections}  tasks:\n    \
             - filesize: {{path: /srv/blob.bin, size: 1KiB}}\n    \
             - include_tasks: \"{{{{ 'grow.yml' }}}}\"\n"
        )
    };
    lab.project.file("site.yml", &play(""));
    let refused = dtrplay(&lab, &["validate", "site.yml", "-i", "inventory.yml"]);
    refused.status(4);
    refused.stderr_has("`filesize`");

    lab.project
        .file("site.yml", &play("  collections: [bogus]\n"));
    let bad = dtrplay(&lab, &["validate", "site.yml", "-i", "inventory.yml"]);
    bad.status(4);
    bad.stderr_has("`bogus` is not a collection name");

    lab.project.file(
        "site.yml",
        &play("  collections:\n    - community.docker\n    - community.general\n"),
    );
    dtrplay(&lab, &["validate", "site.yml", "-i", "inventory.yml"]).success();
    let first = apply(&lab, &[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        lab.sh("node1", "stat -c %s /srv/blob.bin /srv/included.bin"),
        "1024\n2048\n"
    );
    let again = apply(&lab, &[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);
}
