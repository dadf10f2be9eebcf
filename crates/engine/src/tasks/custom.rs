//! Custom tasks: the registry of a run, built-ins plus the tasks users add.
//!
//! Three kinds come from files (see docs/custom-tasks.md):
//!
//! - YAML task files, `tasks/<name>.yml` beside the playbook or `<name>.yml`
//!   in a `--task-path` directory: typed `params:` and a `tasks:` body of
//!   existing tasks. The playbook loader expands each call into the body,
//!   with the call's arguments as the body's variables, so every body task
//!   keeps the guarantees of its own module (check mode, diffs, idempotence).
//! - Executable tasks, `library/<name>` with a `library/<name>.yml` manifest,
//!   or a program beside its manifest in a `--task-path` directory
//!   (`plugin.rs`).
//! - Rust tasks, registered by a program that embeds dtrplay (`run::main_with`).
//!
//! A custom task may not take the name of a built-in or of another custom
//! task: a playbook must mean what it says.

use std::path::{Path, PathBuf};

use crate::error::InputError;
use crate::params::Spec;
use crate::source::SourceFile;
use crate::suggest;
use crate::tasks::Registry;
use crate::tasks::manifest;
use crate::tasks::plugin::{self, Layout};
use crate::yaml::{self, Node};

/// The keys of a YAML task file.
const TASK_FILE_KEYS: [&str; 3] = ["params", "tasks", "description"];

/// The registry for a playbook: the built-ins, then custom tasks found in
/// `tasks/` and `library/` beside the playbook and in `--task-path`
/// directories.
pub fn registry(playbook_dir: &Path, task_path: &[PathBuf]) -> Result<Registry, Vec<InputError>> {
    registry_with(Registry::builtins(), playbook_dir, task_path)
}

/// Adds the custom tasks of a playbook to an existing registry (the
/// built-ins, plus any Rust tasks a program registered).
pub fn registry_with(
    mut registry: Registry,
    playbook_dir: &Path,
    task_path: &[PathBuf],
) -> Result<Registry, Vec<InputError>> {
    // Custom tasks are registered before ansible-core's modules are looked
    // up, so that one may take a module's name (as `library/` does in Ansible).
    let fallback = registry.take_fallback();
    let mut errors = Vec::new();
    errors.extend(plugin::register_dir(
        &mut registry,
        &playbook_dir.join("library"),
        Layout::Library,
    ));
    errors.extend(register_task_files(
        &mut registry,
        &playbook_dir.join("tasks"),
    ));
    for dir in task_path {
        errors.extend(plugin::register_dir(&mut registry, dir, Layout::TaskPath));
        errors.extend(register_task_files(&mut registry, dir));
    }
    registry.set_fallback(fallback);
    if errors.is_empty() {
        Ok(registry)
    } else {
        Err(errors)
    }
}

/// Registers every YAML task file of a directory (a `.yml`/`.yaml` file
/// with a `tasks:` key and no program beside it). A missing directory has none.
fn register_task_files(registry: &mut Registry, dir: &Path) -> Vec<InputError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
        })
        .filter(|p| !p.with_extension("").exists())
        .collect();
    files.sort();
    let mut errors = Vec::new();
    for path in files {
        match load_task_file(&path) {
            Ok(Some((spec, body, at))) => {
                if registry.get(&spec.name).is_some() {
                    errors.push(
                        InputError::at(&at, format!("a task named `{}` already exists", spec.name))
                            .with_label("this task file")
                            .with_help("rename the file: a custom task may not replace a built-in or another custom task"),
                    );
                } else {
                    registry.register_task_file(spec, body);
                }
            }
            Ok(None) => {}
            Err(e) => errors.extend(e),
        }
    }
    errors
}

/// Reads one task file. `Ok(None)` for YAML files that are not task files
/// (no `tasks:` key), which may sit in the same directory.
fn load_task_file(path: &Path) -> Result<Option<(Spec, Node, Node)>, Vec<InputError>> {
    let src = SourceFile::read(path).map_err(|e| {
        let src = SourceFile::new(path.display().to_string(), "");
        vec![InputError::new(
            &src,
            (0, 0).into(),
            format!("could not read the task file {}: {e}", path.display()),
        )]
    })?;
    let root = yaml::parse(&src).map_err(|e| vec![e])?;
    let Some(entries) = root.as_map() else {
        return Ok(None);
    };
    let Some(tasks) = root.get("tasks") else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    for (key, _) in entries {
        if !TASK_FILE_KEYS.contains(&key.key()) {
            errors.push(
                InputError::at(key, format!("unknown key `{}` in a task file", key.key()))
                    .with_label("not a task file key")
                    .with_maybe_help(suggest::did_you_mean(key.key(), TASK_FILE_KEYS)),
            );
        }
    }
    if tasks.as_seq().is_none() {
        errors.push(
            InputError::at(tasks, "`tasks` must be a list of tasks").with_label("expected a list"),
        );
    }
    let params = match root.get("params") {
        Some(node) => manifest::params(node).unwrap_or_else(|e| {
            errors.extend(e);
            Vec::new()
        }),
        None => Vec::new(),
    };
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    if !manifest::valid_name(&name, true) {
        errors.push(
            InputError::at(&root, format!("`{name}` is not a valid task name"))
                .with_help("name the file with letters, digits, `_` and `-`"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some((Spec::new(&name, params), tasks.clone(), root)))
}
