//! The run-wide magic variables Ansible defines for every host, from the
//! run's settings: which tags were asked for, the limit, forks, verbosity,
//! the inventory sources and the Ansible version dtrplay behaves as.

use serde_json::{Map, Value, json};

use crate::config::RunConfig;

/// The ansible-core release whose behaviour dtrplay follows (the oracle's),
/// given as `ansible_version` so that content checking
/// `ansible_version.full is version('2.10', '>=')` takes the modern path.
pub const ANSIBLE_VERSION: (u64, u64, u64) = (2, 19, 0);

/// `ansible_run_tags`, `ansible_skip_tags`, `ansible_limit` (only when
/// `--limit` was given, as in Ansible), `ansible_forks`,
/// `ansible_verbosity`, `ansible_inventory_sources`, `ansible_version`.
pub fn run_magic(cfg: &RunConfig) -> Map<String, Value> {
    let mut magic = Map::new();
    let run_tags = if cfg.tags.only.is_empty() {
        vec!["all".to_string()]
    } else {
        cfg.tags.only.clone()
    };
    magic.insert("ansible_run_tags".into(), run_tags.into());
    magic.insert("ansible_skip_tags".into(), cfg.tags.skip.clone().into());
    if let Some(limit) = &cfg.limit {
        magic.insert("ansible_limit".into(), limit.clone().into());
    }
    magic.insert("ansible_forks".into(), cfg.forks.into());
    magic.insert("ansible_verbosity".into(), cfg.verbose.into());
    let sources: Vec<Value> = cfg
        .inventory
        .iter()
        .map(|p| crate::search_path::absolute(p).display().to_string().into())
        .collect();
    magic.insert("ansible_inventory_sources".into(), sources.into());
    magic.insert("ansible_version".into(), version());
    magic
}

fn version() -> Value {
    let (major, minor, revision) = ANSIBLE_VERSION;
    let full = format!("{major}.{minor}.{revision}");
    json!({
        "full": full,
        "major": major,
        "minor": minor,
        "revision": revision,
        "string": full,
    })
}
