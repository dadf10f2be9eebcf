//! Ansible's everyday modules as dtrplay built-ins, each driven through the
//! `dtrplay` binary with a playbook and an inventory against real sshd lab
//! nodes, running the real tools (dpkg/apt-get, useradd, ...) on nodes with
//! copy-on-write system directories (`lab::rootfs`) so that nothing on this
//! machine changes. Every module: a check-mode run that reports the change
//! (with its diff) and changes nothing, a real run, a second run with
//! changed=0, and its errors.

mod backend_arguments;
mod bsd_packages;
mod certificates;
mod control;
mod docker;
mod docker_registry;
mod downloads;
mod edits;
mod fetch;
mod files;
mod filters_ip;
mod getent;
mod git;
mod ini_file;
pub mod mariadb;
mod mount;
mod mysql;
mod netmods;
mod npm;
mod package_facts;
pub(crate) mod package_loops;
pub(crate) mod packages;
mod pacman;
mod pip;
mod reconnect;
mod repositories;
mod requests;
mod rpm_key;
mod rpm_packages;
mod script;
mod services;
mod system;
mod unarchive;
mod user_loops;
mod users;
mod web;
mod yum_repository;
mod zypper;

use crate::harness::{Nodes, Project, Run};

/// A fleet and a project whose inventory puts every node in `nodes`.
pub struct Lab {
    /// The nodes' real Docker engines, when asked for; declared first so
    /// that they stop before the nodes' directories go.
    pub engines: Option<dtrplay_lab::engine::Engines>,
    pub nodes: Nodes,
    pub project: Project,
}

impl Lab {
    /// `count` nodes sharing the host's view outside `/etc/docker` and `/srv`.
    pub fn plain(count: usize) -> Lab {
        Lab::with(Nodes::start(count))
    }

    /// `count` nodes with copy-on-write `/etc`, `/usr`, `/var`, `/opt`, `/home`.
    pub fn copy_on_write(count: usize) -> Lab {
        Lab::with(Nodes::start_copy_on_write(count))
    }

    /// `count` nodes, each running its own real `dockerd` (`lab::engine`),
    /// which the nodes' `docker` reaches at its default socket.
    pub fn with_engines(count: usize) -> Lab {
        let mut lab = Lab::with(Nodes::start(count));
        let engines = dtrplay_lab::engine::Engines::start(
            lab.nodes.fleet.nodes(),
            &dtrplay_lab::engine::EngineOptions::default(),
        )
        .expect("every node's dockerd starts");
        lab.engines = Some(engines);
        lab
    }

    fn with(nodes: Nodes) -> Lab {
        let project = Project::new();
        let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        project.file("inventory.yml", &nodes.inventory(&[("nodes", &refs)], ""));
        Lab {
            engines: None,
            nodes,
            project,
        }
    }

    /// Writes `site.yml`: one play over `nodes` with these tasks (YAML list
    /// text, unindented).
    pub fn play(&self, tasks: &str) {
        let mut text = String::from("- hosts: nodes\n  gather_facts: false\n  tasks:\n");
        for line in crate::harness::unindent(tasks).lines() {
            text.push_str(&format!("    {line}\n"));
        }
        self.project.file("site.yml", &text);
    }

    /// `dtrplay apply site.yml` with JSON output and these extra arguments.
    pub fn apply(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        self.project.run(&args)
    }

    /// A shell command's output on a node (over ssh, not through dtrplay).
    pub fn sh(&self, node: &str, command: &str) -> String {
        self.nodes.sh(node, command)
    }
}

/// The recap's `changed` count of a host.
pub fn changed(run: &Run, host: &str) -> u64 {
    run.recap()[host]["changed"].as_u64().unwrap_or(u64::MAX)
}

/// The recap's `failed` count of a host.
pub fn failed(run: &Run, host: &str) -> u64 {
    run.recap()[host]["failed"].as_u64().unwrap_or(u64::MAX)
}

/// The `host_result` events of a run, in order.
pub fn results(run: &Run) -> Vec<serde_json::Value> {
    run.events()
        .into_iter()
        .filter(|e| e["event"] == "host_result")
        .collect()
}

/// The unified diffs a run reported, joined.
pub fn diffs(run: &Run) -> String {
    results(run)
        .iter()
        .flat_map(|r| r["diffs"].as_array().cloned().unwrap_or_default())
        .map(|d| d["unified"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
