//! `--list-hosts`, `--list-tasks` and `--list-tags`: what a run would
//! touch, printed the way `ansible-playbook` prints it, without connecting
//! to any host.
//!
//! The format is Ansible's, so scripts and habits built on it keep
//! working: a `playbook:` line, then per play `play #N (pattern): name`
//! with its tags, the hosts its pattern selects (after `--limit`), the
//! tasks `--tags`/`--skip-tags` select, each with its tags, and the tags
//! of all the play's tasks. As in Ansible, a block's rescue and always
//! sections are not listed, and a dynamic include is listed as the one
//! task it is, since what it includes is only known on a host.

use std::fmt::Write;

use crate::config::{RunConfig, TagFilter};
use crate::error::Error;
use crate::inventory::{Inventory, Pattern};
use crate::params::text;
use crate::playbook::{Play, Playbook, Step, TaskDef};
use crate::template::Templates;
use crate::vars::RunVars;

/// What to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    pub hosts: bool,
    pub tasks: bool,
    pub tags: bool,
}

impl Wanted {
    pub fn any(self) -> bool {
        self.hosts || self.tasks || self.tags
    }
}

/// The listing of a whole playbook.
pub fn render(
    wanted: Wanted,
    cfg: &RunConfig,
    playbook: &Playbook,
    inventory: &Inventory,
) -> Result<String, Error> {
    let templates = Templates::new();
    let vars = RunVars::new(inventory, &cfg.extra_vars, &playbook.dir, true, false);
    let limit = match &cfg.limit {
        Some(text) => Some(inventory.select(&crate::selection::limit_pattern(text)?)),
        None => None,
    };
    let mut out = format!("\nplaybook: {}\n", playbook.src.name());
    for (index, play) in playbook.plays.iter().enumerate() {
        let pattern = text(&templates.render_node(&play.hosts, &vars.play_level())?);
        let name = match &play.name {
            Some(node) => text(&templates.render_node(node, &vars.play_level())?),
            None => pattern.clone(),
        };
        let mut play_tags = play.tags.clone();
        play_tags.sort();
        play_tags.dedup();
        let _ = write!(
            out,
            "\n  play #{} ({pattern}): {name}\tTAGS: [{}]\n",
            index + 1,
            play_tags.join(",")
        );
        if wanted.hosts {
            let mut hosts = inventory.select(&Pattern::parse(&pattern, Some(&play.hosts))?);
            if let Some(limit) = &limit {
                hosts.retain(|h| limit.contains(h));
            }
            let _ = writeln!(out, "    pattern: ['{pattern}']");
            let _ = writeln!(out, "    hosts ({}):", hosts.len());
            for host in &hosts {
                let _ = writeln!(out, "      {host}");
            }
        }
        if wanted.tasks || wanted.tags {
            let mut listed = String::new();
            // The tags listed are those of every task, `never` ones too,
            // as ansible-core lists them: they say what `--tags` can pick.
            let mut all_tags: Vec<String> = play.tags.clone();
            let mut every = Vec::new();
            collect(&play.tasks, &mut every);
            for task in every {
                all_tags.extend(task.tags.iter().cloned());
            }
            // With `--list-tags`, ansible-core lists the `never` tasks as
            // well unless `--tags` chose some.
            let mut filter = cfg.tags.clone();
            if wanted.tags && filter.only.is_empty() {
                filter.only = vec!["all".into(), "never".into()];
            }
            for task in selected_tasks(&filter, play) {
                if wanted.tasks {
                    let mut tags: Vec<String> =
                        task.tags.iter().chain(&play.tags).cloned().collect();
                    tags.sort();
                    tags.dedup();
                    let _ = writeln!(
                        listed,
                        "      {}\tTAGS: [{}]",
                        task_name(task),
                        tags.join(", ")
                    );
                }
            }
            if wanted.tasks {
                out.push_str("    tasks:\n");
                out.push_str(&listed);
            }
            if wanted.tags {
                all_tags.sort();
                all_tags.dedup();
                let _ = writeln!(out, "      TASK TAGS: [{}]", all_tags.join(", "));
            }
        }
    }
    Ok(out)
}

/// A task's name as listed: `role : name` for a role's task.
fn task_name(task: &TaskDef) -> String {
    match &task.role {
        Some(role) => format!("{} : {}", role.name, task.display_name()),
        None => task.display_name(),
    }
}

/// The tasks of a play that `--tags`/`--skip-tags` select, in order.
fn selected_tasks<'p>(filter: &TagFilter, play: &'p Play) -> Vec<&'p TaskDef> {
    let mut out = Vec::new();
    collect(&play.tasks, &mut out);
    out.retain(|task| {
        let tags: Vec<String> = task.tags.iter().chain(&play.tags).cloned().collect();
        filter.selects(&tags)
    });
    out
}

fn collect<'p>(steps: &'p [Step], out: &mut Vec<&'p TaskDef>) {
    for step in steps {
        match step {
            Step::Task(task) => out.push(task),
            Step::Block(block) => collect(&block.body, out),
            Step::Include(include) => out.push(&include.task),
            // Handler flushes between sections are implicit; a written
            // `meta:` task is listed, as Ansible lists it.
            Step::Meta(meta) => {
                if meta.action != crate::playbook::MetaAction::FlushHandlers
                    || meta.task.name.is_some()
                {
                    out.push(&meta.task);
                }
            }
        }
    }
}
