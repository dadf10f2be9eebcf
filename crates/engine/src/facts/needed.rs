//! Which variable names are facts, and whether a play may read any.
//!
//! `validate` uses [`is_fact_name`] to say "this is a fact, and this play
//! does not gather facts" instead of "undefined variable". The executor
//! uses [`play_reads_facts`] to skip the implicit gathering of a play that
//! never reads a fact (unless `gather_facts: true` is written): a
//! conservative text search over everything the play's templates can
//! reach, so that it gathers whenever in doubt.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::inventory::Inventory;
use crate::playbook::{Play, Step, TaskDef};

/// Variables named `ansible_*` that are not facts: connection variables,
/// magic variables and Ansible's run-time variables.
const NOT_FACTS: &[&str] = &[
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_password",
    "ansible_connection",
    "ansible_shell_type",
    "ansible_shell_executable",
    "ansible_python_interpreter",
    "ansible_private_key_file",
    "ansible_timeout",
    "ansible_check_mode",
    "ansible_diff_mode",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_batch",
    "ansible_play_name",
    "ansible_play_role_names",
    "ansible_role_names",
    "ansible_role_name",
    "ansible_parent_role_names",
    "ansible_parent_role_paths",
    "ansible_dependent_role_names",
    "ansible_failed_task",
    "ansible_failed_result",
    "ansible_loop",
    "ansible_loop_var",
    "ansible_index_var",
    "ansible_version",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_limit",
    "ansible_verbosity",
    "ansible_forks",
    "ansible_config_file",
    "ansible_inventory_sources",
    "ansible_playbook_python",
    "ansible_search_path",
    "ansible_collection_name",
    "ansible_module_compression",
    "ansible_pipelining",
];

/// Prefixes of connection and privilege variables.
const NOT_FACT_PREFIXES: &[&str] = &[
    "ansible_ssh_",
    "ansible_become",
    "ansible_winrm_",
    "ansible_docker_",
    "ansible_paramiko_",
    "ansible_sftp_",
    "ansible_scp_",
    "ansible_psrp_",
    "ansible_netconf_",
];

/// Whether a variable is a fact: `ansible_facts` itself, or an `ansible_*`
/// name that is not a connection or magic variable (interface facts such
/// as `ansible_eth0` have names nobody can list in advance).
pub fn is_fact_name(name: &str) -> bool {
    if name == "ansible_facts" {
        return true;
    }
    name.starts_with("ansible_")
        && name.len() > "ansible_".len()
        && !NOT_FACTS.contains(&name)
        && !NOT_FACT_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether a task's module gathers facts (`setup`, `gather_facts`, or a
/// `*_facts` module such as `package_facts`).
pub fn gathers(module: &str) -> bool {
    let short = module.rsplit('.').next().unwrap_or(module);
    short == "setup" || short == "gather_facts" || short.ends_with("_facts")
}

/// Whether the play's templates (its files, its roles' variables, and the
/// variables of its hosts) mention a fact or `hostvars`, or the play may
/// render something that cannot be seen now (a template file, an include
/// loaded at run time). Conservative: true whenever in doubt.
pub fn play_reads_facts(
    play: &Play,
    inventory: &Inventory,
    hosts: &[String],
    playbook_dir: &Path,
) -> bool {
    let mut texts: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut add_src = |src: &crate::source::SourceFile, texts: &mut Vec<String>| {
        if seen.insert(src.name().to_string()) {
            texts.push(src.text().to_string());
        }
    };
    add_src(&play.node.src, &mut texts);
    for file in &play.vars_files {
        match &file.loaded {
            Some(node) => add_src(&node.src, &mut texts),
            None => return true,
        }
    }
    for task in play.all_tasks().into_iter().chain(&play.handlers) {
        add_src(&task.node.src, &mut texts);
        if task.module == "template" {
            match template_text(task, playbook_dir) {
                Some(text) => texts.push(text),
                None => return true,
            }
        }
    }
    if play.tasks.iter().any(unloaded_include) {
        return true;
    }
    for role in &play.roles {
        texts.push(Value::Object(role.defaults.clone()).to_string());
        texts.push(Value::Object(role.vars.clone()).to_string());
    }
    for host in hosts {
        texts.push(Value::Object(inventory.host_vars_json(host)).to_string());
    }
    texts.iter().any(|t| mentions_facts(t))
}

/// The text of a `template` task's source file, when its name is not
/// templated and the file is found where the task will look for it.
fn template_text(task: &TaskDef, playbook_dir: &Path) -> Option<String> {
    let src = task
        .args
        .iter()
        .find(|(k, _)| k.key() == "src")?
        .1
        .as_str()?;
    if crate::yaml::is_template(src) {
        return None;
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(role) = &task.role {
        dirs.push(role.path.join("templates"));
        dirs.push(role.path.clone());
    }
    dirs.push(playbook_dir.join("templates"));
    dirs.push(playbook_dir.to_path_buf());
    dirs.iter()
        .map(|d| d.join(src))
        .find(|p| p.is_file())
        .and_then(|p| crate::bounded_read::read_bounded(&p).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

fn unloaded_include(step: &Step) -> bool {
    match step {
        Step::Include(inc) => {
            inc.loaded.is_none() || inc.loaded.iter().flatten().any(unloaded_include)
        }
        Step::Block(b) => b
            .body
            .iter()
            .chain(&b.rescue)
            .chain(&b.always)
            .any(unloaded_include),
        Step::Task(_) | Step::Meta(_) => false,
    }
}

/// Whether a text names a fact, `hostvars`, or a template lookup.
fn mentions_facts(text: &str) -> bool {
    if text.contains("hostvars")
        || text.contains("lookup('template'")
        || text.contains("lookup(\"template\"")
    {
        return true;
    }
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("ansible_") {
        let start = from + at;
        let boundary = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |e| start + e);
        if boundary && is_fact_name(&text[start..end]) {
            return true;
        }
        from = end.max(start + 1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_told_from_connection_variables() {
        assert!(is_fact_name("ansible_os_family"));
        assert!(is_fact_name("ansible_facts"));
        assert!(is_fact_name("ansible_eth0"));
        assert!(!is_fact_name("ansible_host"));
        assert!(!is_fact_name("ansible_ssh_common_args"));
        assert!(!is_fact_name("ansible_become_password"));
        assert!(!is_fact_name("my_ansible_thing"));
    }

    #[test]
    fn texts_that_mention_facts_are_found() {
        assert!(mentions_facts("msg: \"{{ ansible_facts.os_family }}\""));
        assert!(mentions_facts("when: ansible_distribution == 'Debian'"));
        assert!(!mentions_facts("ansible_host: 127.0.0.2\nansible_port: 22"));
        assert!(!mentions_facts("my_ansible_os: 1"));
    }
}
