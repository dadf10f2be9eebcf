//! What a run selects, checked before it starts: `--limit` against the
//! inventory and `--tags`/`--skip-tags` against the playbook.
//!
//! Both are input like any other: a malformed limit pattern, a limit that
//! leaves no host to target (Ansible: "Specified inventory, host pattern
//! and/or --limit leaves us with no hosts to target") and a tag that no
//! task or play has are errors pointing at the command-line value, with
//! "did you mean", before any host is contacted. Without these checks a
//! typo in `--limit` or `--tags` runs nothing and reports success.

use std::collections::BTreeSet;

use miette::SourceSpan;

use crate::config::RunConfig;
use crate::error::InputError;
use crate::inventory::{Inventory, Pattern};
use crate::playbook::Playbook;
use crate::source::SourceFile;
use crate::suggest;
use crate::yaml::{Node, Value};

/// Tags with a meaning of their own in `--tags` and `--skip-tags`.
const SPECIAL_TAGS: [&str; 5] = ["all", "tagged", "untagged", "always", "never"];

/// Parses `--limit`, with errors pointing into the option's value.
pub fn limit_pattern(text: &str) -> Result<Pattern, InputError> {
    let src = SourceFile::new("--limit", text);
    let node = Node::new(
        Value::Str(text.to_string()),
        SourceSpan::from((0, text.len())),
        &src,
    );
    Pattern::parse(text, Some(&node))
}

/// Every problem with the run's `--limit` and tags, all at once.
pub fn check(cfg: &RunConfig, playbook: &Playbook, inventory: &Inventory) -> Vec<InputError> {
    let mut errors = Vec::new();
    if let Some(text) = &cfg.limit {
        match limit_pattern(text) {
            Ok(pattern) => {
                let unknown = inventory.unknown_names(&pattern);
                if inventory.select(&pattern).is_empty() {
                    let src = SourceFile::new("--limit", text.as_str());
                    let mut err = InputError::new(
                        &src,
                        SourceSpan::from((0, text.len())),
                        "Specified inventory, host pattern and/or --limit leaves us with no hosts to target",
                    )
                    .with_label("matches no host of the inventory");
                    err = match unknown.first() {
                        Some(first) => err.with_maybe_help(first.help.clone()),
                        None => err.with_help(
                            "list the inventory's hosts with `dtrplay inventory --list -i INVENTORY`",
                        ),
                    };
                    errors.push(err);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let known = playbook_tags(playbook);
    for (option, values) in [("--tags", &cfg.tags.only), ("--skip-tags", &cfg.tags.skip)] {
        errors.extend(unknown_tags(option, values, &known));
    }
    errors
}

/// Every tag the playbook's plays, tasks and handlers carry.
fn playbook_tags(playbook: &Playbook) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    for play in &playbook.plays {
        tags.extend(play.tags.iter().cloned());
        let tasks = play.tasks.iter().flat_map(|step| step.tasks());
        for task in tasks.chain(&play.handlers) {
            tags.extend(task.tags.iter().cloned());
        }
    }
    tags
}

/// The tags of one option that neither the playbook nor Ansible's special
/// tags know, each pointing at its place in the option's value.
fn unknown_tags(option: &str, values: &[String], known: &BTreeSet<String>) -> Vec<InputError> {
    if values.is_empty() {
        return Vec::new();
    }
    let text = values.join(",");
    let src = SourceFile::new(option, text.as_str());
    let mut errors = Vec::new();
    let mut offset = 0;
    for tag in values {
        let is_known = known.contains(tag) || SPECIAL_TAGS.contains(&tag.as_str());
        if !is_known {
            let names = known
                .iter()
                .map(String::as_str)
                .chain(SPECIAL_TAGS.iter().copied());
            let help = suggest::did_you_mean(tag, names).unwrap_or_else(|| {
                let list: Vec<&str> = known.iter().map(String::as_str).collect();
                if list.is_empty() {
                    "the playbook has no tags".to_string()
                } else {
                    format!("the playbook's tags are: {}", list.join(", "))
                }
            });
            errors.push(
                InputError::new(
                    &src,
                    SourceSpan::from((offset, tag.len())),
                    format!("no task or play of the playbook is tagged `{tag}`"),
                )
                .with_label("unknown tag")
                .with_help(help),
            );
        }
        offset += tag.len() + 1;
    }
    errors
}
