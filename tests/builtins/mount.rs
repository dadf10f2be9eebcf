//! `mount` on a copy-on-write sshd node. The node's sshd runs in a mount
//! namespace of its own (private propagation), so the tmpfs a task mounts
//! exists only inside that node, and its `/etc/fstab` is the node's own
//! copy. The test process itself never mounts anything; it checks that the
//! machine's own mount table never shows the node's tmpfs.

use super::{Lab, changed, diffs, failed, results};

const CACHE: &str = "/srv/cache";

/// Whether the machine running the tests (not the node) has a mount at the
/// path.
fn mounted_here(path: &str) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("own mountinfo");
    table
        .lines()
        .any(|line| line.split_whitespace().nth(4) == Some(path))
}

/// How many `task_start` events of a run say that `mount` runs natively,
/// however the task spelled it.
fn native_mounts(run: &crate::harness::Run) -> usize {
    run.events()
        .into_iter()
        .filter(|e| e["event"] == "task_start" && e["module"] == "mount")
        .inspect(|e| assert_eq!(e["runner"], "natively", "{e}"))
        .count()
}

/// The node's fstab lines that mention the path.
fn fstab_lines(lab: &Lab, path: &str) -> String {
    lab.sh("node1", &format!("grep -F ' {path} ' /etc/fstab || true"))
}

/// The node's view of the mount: `findmnt`'s source, type and options.
fn findmnt(lab: &Lab) -> String {
    lab.sh(
        "node1",
        &format!("findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint {CACHE} || true"),
    )
}

#[test]
fn mount_manages_fstab_and_the_node_s_mounts() {
    let lab = Lab::copy_on_write(1);
    lab.sh("node1", "test -e /etc/fstab || touch /etc/fstab");
    let before = lab.sh("node1", "cat /etc/fstab");
    assert!(
        !mounted_here(CACHE),
        "the machine has {CACHE} mounted already"
    );

    // present: the line only, written as Ansible writes it.
    lab.play(&format!(
        r#"
        - ansible.posix.mount:
            path: {CACHE}
            src: tmpfs
            fstype: tmpfs
            opts: size=1m
            state: present
          register: line
        - copy:
            content: "{{{{ line.name }}}} {{{{ line.opts }}}} {{{{ line.dump }}}} {{{{ line.boot }}}}\n"
            dest: /srv/mount-result
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    let diff = diffs(&check);
    assert!(
        diff.contains(&format!("+tmpfs {CACHE} tmpfs size=1m 0 0")),
        "{diff}"
    );
    assert_eq!(
        lab.sh("node1", "cat /etc/fstab"),
        before,
        "check mode wrote fstab"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(native_mounts(&first), 1, "{}", first.stdout);
    assert_eq!(
        lab.sh("node1", "cat /etc/fstab"),
        format!("{before}tmpfs {CACHE} tmpfs size=1m 0 0\n")
    );
    assert_eq!(
        lab.sh("node1", "cat /srv/mount-result"),
        format!("{CACHE} size=1m 0 yes\n")
    );
    assert_eq!(findmnt(&lab), "", "present must not mount");
    assert_eq!(
        lab.sh("node1", &format!("test -e {CACHE} && echo yes || echo no")),
        "no\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // mounted: the path is created and the tmpfs mounted, in the node only.
    lab.play(&format!(
        r#"
        - mount:
            path: {CACHE}
            src: tmpfs
            fstype: tmpfs
            opts: size=1m
            state: mounted
        "#
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(findmnt(&lab), "", "check mode mounted");
    assert_eq!(
        lab.sh("node1", &format!("test -e {CACHE} && echo yes || echo no")),
        "no\n",
        "check mode created the mount point"
    );
    let mount = lab.apply(&[]);
    mount.success();
    assert_eq!(changed(&mount, "node1"), 1, "{}", mount.stdout);
    assert_eq!(native_mounts(&mount), 1, "{}", mount.stdout);
    let seen = findmnt(&lab);
    assert!(
        seen.starts_with("tmpfs  tmpfs") || seen.starts_with("tmpfs tmpfs"),
        "{seen}"
    );
    assert!(seen.contains("size=1024k"), "{seen}");
    assert!(
        !mounted_here(CACHE),
        "the node's tmpfs leaked to the machine"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // A new option changes the line and remounts.
    lab.play(&format!(
        r#"
        - mount:
            path: {CACHE}
            src: tmpfs
            fstype: tmpfs
            opts: size=2m
            state: mounted
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    let diff = diffs(&check);
    assert!(
        diff.contains(&format!(
            "-tmpfs {CACHE} tmpfs size=1m 0 0\n+tmpfs {CACHE} tmpfs size=2m 0 0"
        )),
        "{diff}"
    );
    assert!(findmnt(&lab).contains("size=1024k"), "check mode remounted");
    let remount = lab.apply(&[]);
    remount.success();
    assert_eq!(changed(&remount, "node1"), 1, "{}", remount.stdout);
    assert!(findmnt(&lab).contains("size=2048k"), "{}", findmnt(&lab));
    assert_eq!(
        fstab_lines(&lab, CACHE),
        format!("tmpfs {CACHE} tmpfs size=2m 0 0\n")
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // unmounted: the line stays.
    lab.play(&format!("- mount: path={CACHE} state=unmounted\n"));
    let unmount = lab.apply(&[]);
    unmount.success();
    assert_eq!(changed(&unmount, "node1"), 1, "{}", unmount.stdout);
    assert_eq!(findmnt(&lab), "");
    assert_eq!(
        fstab_lines(&lab, CACHE),
        format!("tmpfs {CACHE} tmpfs size=2m 0 0\n")
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // absent: mounted again first, then unmounted, the line and the empty
    // mount point gone.
    lab.play(&format!(
        r#"
        - mount: path={CACHE} src=tmpfs fstype=tmpfs opts=size=2m state=mounted
        "#
    ));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert!(findmnt(&lab).contains("size=2048k"));
    lab.play(&format!(
        "- ansible.posix.mount: path={CACHE} state=absent\n"
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(findmnt(&lab).contains("size=2048k"), "check mode unmounted");
    let absent = lab.apply(&[]);
    absent.success();
    assert_eq!(changed(&absent, "node1"), 1, "{}", absent.stdout);
    assert_eq!(findmnt(&lab), "");
    assert_eq!(fstab_lines(&lab, CACHE), "");
    assert_eq!(lab.sh("node1", "cat /etc/fstab"), before);
    assert_eq!(
        lab.sh("node1", &format!("test -e {CACHE} && echo yes || echo no")),
        "no\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    assert!(!mounted_here(CACHE));
}

#[test]
fn mount_writes_swap_lines_and_refuses_missing_arguments() {
    let lab = Lab::copy_on_write(1);
    lab.sh("node1", "test -e /etc/fstab || touch /etc/fstab");
    let before = lab.sh("node1", "cat /etc/fstab");
    // As geerlingguy.swap writes its line.
    lab.play(
        r#"
        - mount:
            name: none
            src: /swapfile
            fstype: swap
            opts: sw
            state: present
        - mount:
            name: none
            src: /swapfile2
            fstype: swap
            opts: sw
            boot: false
            state: present
        "#,
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        lab.sh("node1", "cat /etc/fstab"),
        format!("{before}/swapfile none swap sw 0 0\n/swapfile2 none swap sw,noauto 0 0\n")
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play("- mount: name=none src=/swapfile fstype=swap state=absent\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /etc/fstab"),
        format!("{before}/swapfile2 none swap sw,noauto 0 0\n")
    );

    lab.play("- mount: path=/srv/data state=mounted\n");
    let refused = lab.apply(&[]);
    assert_eq!(failed(&refused, "node1"), 1);
    let msg = results(&refused)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        msg, "state is mounted but all of the following are missing: src, fstype",
        "{}",
        refused.stdout
    );
}

#[test]
fn mount_ephemeral_remounted_other_fstab_and_failed_mounts() {
    let lab = Lab::copy_on_write(1);
    lab.sh("node1", "test -e /etc/fstab || touch /etc/fstab");
    let before = lab.sh("node1", "cat /etc/fstab");
    let eph = "/srv/eph";
    let view = |path: &str| {
        lab.sh(
            "node1",
            &format!("findmnt -n -o SOURCE,OPTIONS --mountpoint {path} || true"),
        )
    };

    // ephemeral: mounted without fstab, a change every time, as Ansible.
    lab.play(&format!(
        "- mount: path={eph} src=scratch fstype=tmpfs opts=size=1m state=ephemeral\n"
    ));
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    let seen = view(eph);
    assert!(
        seen.starts_with("scratch") && seen.contains("size=1024k"),
        "{seen}"
    );
    assert_eq!(lab.sh("node1", "cat /etc/fstab"), before);
    assert!(!mounted_here(eph));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);

    // Another source at the same mount point is refused.
    lab.play(&format!(
        "- mount: path={eph} src=tmpfs fstype=tmpfs state=ephemeral\n"
    ));
    let refused = lab.apply(&[]);
    assert_eq!(failed(&refused, "node1"), 1, "{}", refused.stdout);
    assert!(view(eph).starts_with("scratch"));

    // remounted: with new options.
    lab.play(&format!(
        "- mount: path={eph} opts=size=3m state=remounted\n"
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(view(eph).contains("size=1024k"), "check mode remounted");
    let remount = lab.apply(&[]);
    remount.success();
    assert_eq!(changed(&remount, "node1"), 1, "{}", remount.stdout);
    assert!(view(eph).contains("size=3072k"), "{}", view(eph));

    // Another fstab: `mount -T` reads the line from it.
    let alt = "/srv/alt/fstab";
    lab.play(&format!(
        r#"
        - mount:
            path: /srv/alt-mnt
            src: alttmp
            fstype: tmpfs
            opts: size=1m
            fstab: {alt}
            backup: true
            state: mounted
          register: alt
        - copy:
            content: "{{{{ alt.backup_file }}}}\n"
            dest: /srv/alt-backup
        "#
    ));
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        lab.sh("node1", &format!("cat {alt}")),
        "alttmp /srv/alt-mnt tmpfs size=1m 0 0\n"
    );
    assert!(
        view("/srv/alt-mnt").starts_with("alttmp"),
        "{}",
        view("/srv/alt-mnt")
    );
    assert_eq!(lab.sh("node1", "cat /etc/fstab"), before);
    assert_eq!(
        lab.sh("node1", "cat /srv/alt-backup"),
        "\n",
        "nothing to back up"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A changed line with `backup`: the old fstab is kept beside it, and
    // the mount is remounted from the new line through `-T`.
    lab.play(&format!(
        r#"
        - mount:
            path: /srv/alt-mnt
            src: alttmp
            fstype: tmpfs
            opts: size=2m
            fstab: {alt}
            backup: true
            state: mounted
          register: alt
        - shell: "cat '{{{{ alt.backup_file }}}}' > /srv/alt-backup"
        "#
    ));
    let backup = lab.apply(&[]);
    backup.success();
    assert_eq!(
        lab.sh("node1", "cat /srv/alt-backup"),
        "alttmp /srv/alt-mnt tmpfs size=1m 0 0\n"
    );
    assert!(
        view("/srv/alt-mnt").contains("size=2048k"),
        "{}",
        view("/srv/alt-mnt")
    );

    // A mount that fails leaves fstab and the directories as they were.
    lab.play(
        r#"
        - mount:
            path: /srv/bad/deep
            src: nothing
            fstype: no-such-filesystem
            state: mounted
        "#,
    );
    let broken = lab.apply(&[]);
    assert_eq!(failed(&broken, "node1"), 1, "{}", broken.stdout);
    let msg = results(&broken)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.starts_with("Error mounting /srv/bad/deep"), "{msg}");
    assert_eq!(lab.sh("node1", "cat /etc/fstab"), before);
    assert_eq!(
        lab.sh("node1", "test -e /srv/bad && echo yes || echo no"),
        "no\n"
    );
}
