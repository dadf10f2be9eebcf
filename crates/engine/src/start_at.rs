//! `--start-at-task`: which task a run starts at.
//!
//! As in Ansible, a task matches when its name, or its `role : name`, is
//! the given text or matches it as a shell wildcard (`*`, `?`). Tasks
//! before the first match are skipped (not reported); from the first
//! match on, the run goes on as usual. A name that matches no task is an
//! error before anything runs, since the run would otherwise skip
//! everything and report success.

use crate::error::Error;
use crate::playbook::{Playbook, TaskDef};

/// Whether `task` is where a run started with `--start-at-task wanted`
/// begins.
pub fn matches(wanted: &str, task: &TaskDef) -> bool {
    let name = task.display_name();
    let full = match &task.role {
        Some(role) => format!("{} : {name}", role.name),
        None => name.clone(),
    };
    [name, full]
        .iter()
        .any(|n| n == wanted || crate::wildcard::matches(wanted, n))
}

/// Checks that some task of the playbook matches.
pub fn check(wanted: &str, playbook: &Playbook) -> Result<(), Error> {
    let names: Vec<String> = playbook
        .plays
        .iter()
        .flat_map(|p| p.all_tasks())
        .map(|t| t.display_name())
        .collect();
    let found = playbook
        .plays
        .iter()
        .flat_map(|p| p.all_tasks())
        .any(|t| matches(wanted, t));
    if found {
        return Ok(());
    }
    let suggestion = crate::suggest::closest(wanted, names.iter().map(String::as_str));
    Err(Error::Usage {
        message: format!("--start-at-task `{wanted}`: no task of the playbook has that name"),
        help: Some(match suggestion {
            Some(name) => format!("did you mean `{name}`? (`--list-tasks` lists every task)"),
            None => "`--list-tasks` lists every task; `*` matches any text".into(),
        }),
    })
}
