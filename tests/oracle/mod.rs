//! ansible-core is the oracle: the same playbook runs with `ansible-playbook`
//! on one fleet of lab nodes and with `dtrplay apply` on a twin fleet, and
//! what each left behind must be the same.
//!
//! A case is a folder under `tests/fixtures/oracle/<case>/`: the playbook
//! (`site.yml`), whatever it uses beside it (`group_vars/`, `host_vars/`,
//! `files/`, `templates/`, `roles/`, vars files, vault password files), and
//! `case.yml`, which says how to run and compare it:
//!
//! ```yaml
//! nodes: 2                      # nodes per fleet (default 1)
//! groups: {web: [node1]}        # inventory groups (default: `nodes`, every node)
//! compare: [/srv/oracle]        # trees on the nodes compared file by file
//! args: [--vault-password-file, pass.txt]   # given to both tools
//! normalise:                    # more replacements, applied to file contents
//!   - {from: 'regex', to: 'text'}
//! copy_on_write: true           # nodes with their own /etc, /usr, /var (real package tools)
//! apt_packages: [oracle-a]      # Debian packages in a local repository, each node's only source
//! apt_installed: [oracle-a]     # of those, installed on every node before the case runs
//! ```
//!
//! Both fleets name their nodes `node1`, `node2`..., so host names agree by
//! construction; node addresses, node directories and project directories
//! are replaced by placeholders before contents are compared. What must
//! agree, for the first and the second run: the exit (success or not), the
//! recap counts ok/changed/failed/skipped/rescued/unreachable/ignored of
//! every host, and every file under `compare` (type, mode, owner, content,
//! link target). The second run must change nothing, with both tools.
//! Registered values are compared by having the playbook write them out.

pub mod ansible;
mod cases;
mod facts;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::harness::{Nodes, Project, Run};
use ansible::Ansible;

/// Where the cases live.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oracle")
}

/// `case.yml`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CaseSpec {
    pub nodes: Option<usize>,
    /// Nodes with copy-on-write `/etc`, `/usr`, `/var`, `/opt` and
    /// `/home`, for cases that run real user or package tools.
    #[serde(default)]
    pub copy_on_write: bool,
    pub groups: BTreeMap<String, Vec<String>>,
    pub compare: Vec<String>,
    pub args: Vec<String>,
    pub normalise: Vec<Replace>,
    /// The playbook, relative to the case folder (default `site.yml`).
    pub playbook: Option<String>,
    /// Debian packages (version 1.0, one file each) built into a local
    /// repository that is every node's only apt source, its index read
    /// before the case runs; needs `copy_on_write`.
    pub apt_packages: Vec<String>,
    /// Of `apt_packages`, those installed on every node before the case
    /// runs (a removal that stays idempotent across the two runs).
    pub apt_installed: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    pub from: String,
    pub to: String,
}

/// One side of a comparison: a fleet and a project directory holding a copy
/// of the case and an inventory for that fleet.
pub struct Side {
    pub nodes: Nodes,
    pub project: Project,
}

impl Side {
    /// A fleet of `count` nodes and a copy of the case folder `case`.
    pub fn new(case: &Path, spec: &CaseSpec) -> Side {
        let count = spec.nodes.unwrap_or(1);
        let nodes = if spec.copy_on_write {
            Nodes::start_copy_on_write(count)
        } else {
            Nodes::start(count)
        };
        let project = Project::new();
        copy_tree(case, project.path());
        if !spec.apt_packages.is_empty() {
            assert!(spec.copy_on_write, "apt_packages needs copy_on_write");
            let repo = project.path().join(".apt-repo");
            std::fs::create_dir_all(&repo).expect("the repository directory");
            let names: Vec<&str> = spec.apt_packages.iter().map(String::as_str).collect();
            crate::builtins::package_loops::publish_debs(&repo, &names);
            for node in nodes.fleet.nodes() {
                crate::builtins::packages::use_only(&nodes, &node.name, &repo);
                nodes.sh(&node.name, "apt-get update -q >/dev/null");
                if !spec.apt_installed.is_empty() {
                    nodes.sh(
                        &node.name,
                        &format!(
                            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q {} >/dev/null",
                            spec.apt_installed.join(" ")
                        ),
                    );
                }
            }
        }
        let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
        let mut groups: Vec<(String, Vec<String>)> = spec
            .groups
            .iter()
            .map(|(g, m)| (g.clone(), m.clone()))
            .collect();
        if groups.is_empty() {
            groups.push(("nodes".into(), names));
        }
        let refs: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|(g, m)| (g.as_str(), m.iter().map(String::as_str).collect()))
            .collect();
        let refs: Vec<(&str, &[&str])> = refs.iter().map(|(g, m)| (*g, m.as_slice())).collect();
        std::fs::write(
            project.path().join("inventory.yml"),
            nodes.inventory(&refs, ""),
        )
        .expect("write the inventory");
        Side { nodes, project }
    }

    /// Runs `ansible-playbook` on this side.
    pub fn ansible_playbook(&self, playbook: &str, args: &[String]) -> Outcome {
        let ansible = Ansible::get();
        let output = ansible
            .command("ansible-playbook", &self.project.path().join(".ansible"))
            .current_dir(self.project.path())
            .args(["-i", "inventory.yml", playbook])
            .args(args)
            .output()
            .expect("run ansible-playbook");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Outcome {
            success: output.status.success(),
            recap: ansible_recap(&stdout),
            log: format!("ansible-playbook {playbook}\nstdout:\n{stdout}\nstderr:\n{stderr}"),
        }
    }

    /// Runs `dtrplay apply` on this side.
    pub fn dtrplay_apply(&self, playbook: &str, args: &[String]) -> Outcome {
        let mut all = vec!["apply", playbook, "-i", "inventory.yml", "--output", "json"];
        all.extend(args.iter().map(String::as_str));
        let run = self.project.run(&all);
        Outcome {
            success: run.status == 0,
            recap: dtrplay_recap(&run),
            log: format!(
                "dtrplay apply {playbook}\nstdout:\n{}\nstderr:\n{}",
                run.stdout, run.stderr
            ),
        }
    }

    /// Every file under the node paths `roots`, on every node, normalised.
    pub fn files(&self, roots: &[String], normalise: &Normaliser) -> BTreeMap<String, Entry> {
        let mut out = BTreeMap::new();
        for node in self.nodes.fleet.nodes() {
            for root in roots {
                let local = node.path(root);
                collect(
                    &local,
                    &format!("{}:{root}", node.name),
                    normalise,
                    &mut out,
                );
            }
        }
        out
    }

    /// The texts that differ between this side and its twin and mean the
    /// same: node directories and the project directory.
    fn placeholders(&self) -> Vec<(String, String)> {
        let mut out = vec![(
            self.project.path().display().to_string(),
            "[PROJECT]".to_string(),
        )];
        for node in self.nodes.fleet.nodes() {
            out.push((node.root.display().to_string(), "[NODE]".to_string()));
        }
        out.push((
            self.nodes.fleet.dir().display().to_string(),
            "[FLEET]".to_string(),
        ));
        out
    }
}

/// The result of one run of either tool.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    /// Host → counts by name (`ok`, `changed`, `failed`, ...).
    pub recap: BTreeMap<String, BTreeMap<String, u64>>,
    pub log: String,
}

/// The counts both tools report.
const COUNTS: [&str; 7] = [
    "ok",
    "changed",
    "unreachable",
    "failed",
    "skipped",
    "rescued",
    "ignored",
];

/// The recap lines of Ansible's default output:
/// `node1 : ok=3 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0`.
fn ansible_recap(stdout: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let Some(at) = stdout.find("PLAY RECAP") else {
        return out;
    };
    for line in stdout[at..].lines().skip(1) {
        let Some((host, counts)) = line.split_once(" : ") else {
            continue;
        };
        let mut map = BTreeMap::new();
        for word in counts.split_whitespace() {
            if let Some((k, v)) = word.split_once('=')
                && let Ok(n) = v.parse::<u64>()
            {
                map.insert(k.to_string(), n);
            }
        }
        out.insert(host.trim().to_string(), map);
    }
    out
}

fn dtrplay_recap(run: &Run) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let Some(recap) = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|e| e["event"] == "recap")
    else {
        return out;
    };
    if let Some(hosts) = recap["hosts"].as_object() {
        for (host, counts) in hosts {
            let map = COUNTS
                .iter()
                .map(|k| (k.to_string(), counts[*k].as_u64().unwrap_or(0)))
                .collect();
            out.insert(host.clone(), map);
        }
    }
    out
}

/// Replaces what legitimately differs between the two sides.
pub struct Normaliser {
    plain: Vec<(String, String)>,
    patterns: Vec<(regex::Regex, String)>,
}

impl Normaliser {
    fn new(sides: &[&Side], spec: &CaseSpec) -> Normaliser {
        let mut plain: Vec<(String, String)> =
            sides.iter().flat_map(|s| s.placeholders()).collect();
        // Longer paths first, so a node directory inside the fleet
        // directory is replaced as a whole.
        plain.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        let mut patterns = vec![(
            regex::Regex::new(r"127\.\d+\.\d+\.\d+").expect("valid regex"),
            "[ADDR]".to_string(),
        )];
        for r in &spec.normalise {
            patterns.push((
                regex::Regex::new(&r.from).unwrap_or_else(|e| panic!("bad normalise regex: {e}")),
                r.to.clone(),
            ));
        }
        Normaliser { plain, patterns }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (from, to) in &self.plain {
            text = text.replace(from.as_str(), to);
        }
        for (re, to) in &self.patterns {
            text = re.replace_all(&text, to.as_str()).into_owned();
        }
        text
    }
}

/// One file system entry as compared.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    File {
        mode: String,
        uid: u32,
        gid: u32,
        content: String,
    },
    Dir {
        mode: String,
        uid: u32,
        gid: u32,
    },
    Link {
        target: String,
    },
}

fn collect(path: &Path, name: &str, normalise: &Normaliser, out: &mut BTreeMap<String, Entry>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    let mode = format!("{:04o}", meta.mode() & 0o7777);
    let (uid, gid) = (meta.uid(), meta.gid());
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).expect("read a link");
        out.insert(
            name.to_string(),
            Entry::Link {
                target: normalise.apply(&target.display().to_string()),
            },
        );
    } else if meta.is_dir() {
        out.insert(name.to_string(), Entry::Dir { mode, uid, gid });
        let mut children: Vec<_> = std::fs::read_dir(path)
            .expect("read a directory")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        children.sort();
        for child in children {
            let child_name = format!("{name}/{}", child.to_string_lossy());
            collect(&path.join(&child), &child_name, normalise, out);
        }
    } else {
        let bytes = std::fs::read(path).expect("read a file");
        out.insert(
            name.to_string(),
            Entry::File {
                mode,
                uid,
                gid,
                content: normalise.apply(&String::from_utf8_lossy(&bytes)),
            },
        );
    }
}

/// Copies a case folder into a project directory.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read the case folder") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        let meta = std::fs::symlink_metadata(entry.path()).expect("stat a case file");
        if meta.is_dir() {
            std::fs::create_dir_all(&target).expect("create a directory");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a case file");
        }
    }
}

/// Loads `tests/fixtures/oracle/<case>/case.yml`.
pub fn spec(case: &str) -> (PathBuf, CaseSpec) {
    let dir = fixtures().join(case);
    let text = std::fs::read_to_string(dir.join("case.yml"))
        .unwrap_or_else(|e| panic!("{}/case.yml: {e}", dir.display()));
    let spec: CaseSpec =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}/case.yml: {e}", dir.display()));
    (dir, spec)
}

/// Runs a case with both tools, twice each, and asserts that they agree.
pub fn check_case(case: &str) {
    let (dir, spec) = spec(case);
    let playbook = spec.playbook.clone().unwrap_or_else(|| "site.yml".into());
    let ansible_side = Side::new(&dir, &spec);
    let dtrplay_side = Side::new(&dir, &spec);
    let normalise = Normaliser::new(&[&ansible_side, &dtrplay_side], &spec);
    for round in ["first", "second"] {
        let theirs = ansible_side.ansible_playbook(&playbook, &spec.args);
        let ours = dtrplay_side.dtrplay_apply(&playbook, &spec.args);
        let context = format!(
            "case {case}, {round} run\n--- Ansible ---\n{}\n--- dtrplay ---\n{}",
            theirs.log, ours.log
        );
        assert!(
            !theirs.recap.is_empty(),
            "Ansible printed no recap\n{context}"
        );
        assert_eq!(theirs.success, ours.success, "exit differs\n{context}");
        assert_eq!(
            theirs.recap, ours.recap,
            "recap differs (left: Ansible, right: dtrplay)\n{context}"
        );
        if round == "second" {
            for (host, counts) in &ours.recap {
                assert_eq!(
                    counts.get("changed"),
                    Some(&0),
                    "{host} changed on the second run\n{context}"
                );
            }
        }
        let their_files = ansible_side.files(&spec.compare, &normalise);
        let our_files = dtrplay_side.files(&spec.compare, &normalise);
        assert!(
            spec.compare.is_empty() || !their_files.is_empty(),
            "Ansible left no file under {:?}\n{context}",
            spec.compare
        );
        for (name, theirs) in &their_files {
            assert_eq!(
                Some(theirs),
                our_files.get(name),
                "{name} differs (left: Ansible, right: dtrplay)\n{context}"
            );
        }
        for name in our_files.keys() {
            assert!(
                their_files.contains_key(name),
                "dtrplay left {name}, Ansible did not\n{context}"
            );
        }
    }
}
