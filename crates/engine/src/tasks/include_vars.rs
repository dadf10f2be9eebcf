//! The `include_vars` task: variables from YAML or JSON files on the
//! control machine, for the host the task runs on, from then on.
//!
//! `file` (or the free-form name) is looked up in the role's `vars/`, the
//! role, then beside the playbook (`vars/` first), as Ansible does; `dir`
//! reads every file with one of `extensions` in it (sorted, `depth` levels
//! deep, `files_matching` and `ignore_files` applied to file names), and
//! `name` puts everything under one variable. Vaulted files and values are
//! decrypted as everywhere else. The values are what users wrote, so the
//! executor stores them as templates, rendered lazily when used, at
//! `include_vars` precedence (above task vars, below `set_fact`).
//!
//! The task reads only the control machine, so check mode runs it too.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::search_path::SrcKind;
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The arguments of `include_vars`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeVars {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub dir: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub files_matching: Option<String>,
    #[serde(default)]
    pub ignore_files: Vec<String>,
    pub extensions: Vec<String>,
    pub depth: u64,
    pub ignore_unknown_extensions: bool,
    #[serde(default)]
    pub hash_behaviour: Option<String>,
}

/// The parameters of `include_vars`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "include_vars",
        vec![
            Param::new("file", Kind::Path).aliases(&["_raw_params"]),
            Param::new("dir", Kind::Path),
            Param::new("name", Kind::Str),
            Param::new("files_matching", Kind::Str),
            Param::new("ignore_files", Kind::List),
            Param::new("extensions", Kind::List)
                .default(serde_json::json!(["yaml", "yml", "json"])),
            Param::new("depth", Kind::Int).default(0),
            Param::new("ignore_unknown_extensions", Kind::Bool).default(false),
            Param::new("hash_behaviour", Kind::Str).choices(&["replace", "merge"]),
        ],
    )
    .free_form("file")
}

impl IncludeVars {
    fn load(&self, cx: &Context<'_>) -> Result<Outcome, TaskError> {
        let files = match (&self.file, &self.dir) {
            (Some(_), Some(_)) => {
                return Err(TaskError::failed(
                    "give `file` or `dir` to include_vars, not both",
                ));
            }
            (Some(file), None) => vec![cx.find_src(SrcKind::Vars, file)],
            (None, Some(dir)) => self.dir_files(&cx.find_src(SrcKind::Vars, dir))?,
            (None, None) => {
                return Err(TaskError::failed(
                    "include_vars needs a file name (`file:` or the free form) or `dir:`",
                ));
            }
        };
        let mut vars = Map::new();
        let mut read = Vec::new();
        for path in &files {
            let map = read_vars(path)?;
            // `hash_behaviour: merge` merges mappings key by key, one level.
            let merge = self.hash_behaviour.as_deref() == Some("merge");
            for (k, v) in map {
                match (merge, vars.get_mut(&k), v) {
                    (true, Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
                    (_, _, v) => {
                        vars.insert(k, v);
                    }
                }
            }
            read.push(Value::from(path.display().to_string()));
        }
        let vars = match &self.name {
            Some(name) => {
                let mut one = Map::new();
                one.insert(name.clone(), Value::Object(vars));
                one
            }
            None => vars,
        };
        Ok(Outcome::ok()
            .with_data("ansible_facts", Value::Object(vars))
            .with_data("ansible_included_var_files", Value::Array(read)))
    }

    /// The files of a `dir`, sorted by path as Ansible walks them.
    fn dir_files(&self, dir: &Path) -> Result<Vec<PathBuf>, TaskError> {
        if !dir.is_dir() {
            return Err(TaskError::failed(format!(
                "{} directory does not exist",
                dir.display()
            )));
        }
        let matching = match &self.files_matching {
            Some(p) => Some(regex::Regex::new(p).map_err(|e| {
                TaskError::failed(format!("files_matching is not a valid regex: {e}"))
            })?),
            None => None,
        };
        let mut out = Vec::new();
        self.walk(dir, 1, matching.as_ref(), &mut out)?;
        out.sort();
        Ok(out)
    }

    fn walk(
        &self,
        dir: &Path,
        level: u64,
        matching: Option<&regex::Regex>,
        out: &mut Vec<PathBuf>,
    ) -> Result<(), TaskError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| TaskError::failed(format!("cannot read {}: {e}", dir.display())))?;
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for path in entries {
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                if self.depth == 0 || level < self.depth {
                    self.walk(&path, level + 1, matching, out)?;
                }
                continue;
            }
            if self.ignore_files.contains(&file_name) {
                continue;
            }
            if matching.is_some_and(|re| !re.is_match(&file_name)) {
                continue;
            }
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !self
                .extensions
                .iter()
                .any(|e| e.trim_start_matches('.') == ext)
            {
                if self.ignore_unknown_extensions {
                    continue;
                }
                return Err(TaskError::failed(format!(
                    "{} does not have a valid extension: {}",
                    path.display(),
                    self.extensions.join(", ")
                )));
            }
            out.push(path);
        }
        Ok(())
    }
}

/// A vars file's mapping (vaulted files and values decrypted).
fn read_vars(path: &Path) -> Result<Map<String, Value>, TaskError> {
    let src = crate::source::SourceFile::read(path)
        .map_err(|e| TaskError::failed(format!("could not read {}: {e}", path.display())))?;
    let node = crate::yaml::parse(&src).map_err(|e| {
        TaskError::failed(format!(
            "{} is not valid YAML: {}",
            path.display(),
            e.message
        ))
    })?;
    match node.to_json() {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(TaskError::failed(format!(
            "{} must hold a mapping of variables, not {}",
            path.display(),
            match other {
                Value::Array(_) => "a list",
                _ => "a single value",
            }
        ))),
    }
}

#[async_trait]
impl Task for IncludeVars {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        Ok(Check::InSync(self.load(cx)?))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}
