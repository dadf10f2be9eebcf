//! The `mysql_db` task (community.mysql's name, with or without the
//! `community.mysql.` prefix): databases on a MySQL or MariaDB server, and
//! dumps and imports of them, driven through the host's own client and
//! dump tool (`tasks/mysql_client.rs`).
//!
//! The check is one script that lists which of the named databases exist
//! (and, for `import`, whether the target file is there). `present`
//! creates the missing ones with `encoding` and `collation` (an existing
//! database is left as it is, as in community.mysql), `absent` drops the
//! ones that exist. `dump` writes `target` with `mariadb-dump` or
//! `mysqldump`, compressed by its suffix (`.gz`, `.bz2`, `.xz`, `.zst`);
//! `import` feeds it (decompressed the same way) to the client, creating
//! the database first. Both always report a change, as community.mysql
//! does. The login's password reaches the tools only in their option file,
//! never on a command line (`unsafe_login_password` is accepted and has no
//! effect), and a failing dump fails the task even when it is compressed.
//!
//! Not supported: `use_shell`, `chdir`, `restrict_config_file` and
//! `config_overrides_defaults` are accepted and ignored.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::mysql_client::{self, home_path, rows, sql_ident, sql_str, string_list};
use crate::tasks::remote::{self, shell_quote};

crate::mysql_login_fields! {
    /// The arguments of `mysql_db`.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct MysqlDb {
        pub name: Value,
        pub encoding: String,
        pub collation: String,
        pub target: Option<String>,
        pub state: String,
        pub single_transaction: bool,
        pub quick: bool,
        pub ignore_tables: Vec<String>,
        pub hex_blob: bool,
        pub force: bool,
        pub master_data: i64,
        pub skip_lock_tables: bool,
        pub dump_extra_args: Option<String>,
        pub use_shell: bool,
        pub unsafe_login_password: bool,
        pub restrict_config_file: bool,
        pub config_overrides_defaults: bool,
        pub chdir: Option<String>,
        pub pipefail: bool,
        pub sql_log_bin: bool,
    }
}

/// The parameters of `mysql_db`, as community.mysql names them.
pub fn spec() -> Spec {
    let mut params = vec![
        Param::new("name", Kind::List).required().aliases(&["db"]),
        Param::new("encoding", Kind::Str).default(""),
        Param::new("collation", Kind::Str).default(""),
        Param::new("target", Kind::Path),
        Param::new("state", Kind::Str)
            .choices(&["present", "absent", "dump", "import"])
            .default("present"),
        Param::new("single_transaction", Kind::Bool).default(false),
        Param::new("quick", Kind::Bool).default(true),
        Param::new("ignore_tables", Kind::List).default(Value::Array(Vec::new())),
        Param::new("hex_blob", Kind::Bool).default(false),
        Param::new("force", Kind::Bool).default(false),
        Param::new("master_data", Kind::Int)
            .choices(&["0", "1", "2"])
            .default(0),
        Param::new("skip_lock_tables", Kind::Bool).default(false),
        Param::new("dump_extra_args", Kind::Str),
        Param::new("use_shell", Kind::Bool).default(false),
        Param::new("unsafe_login_password", Kind::Bool).default(false),
        Param::new("restrict_config_file", Kind::Bool).default(false),
        Param::new("config_overrides_defaults", Kind::Bool).default(false),
        Param::new("chdir", Kind::Path),
        Param::new("pipefail", Kind::Bool).default(false),
        Param::new("sql_log_bin", Kind::Bool).default(true),
    ];
    params.extend(mysql_client::login_params());
    Spec::new("mysql_db", params)
}

/// What `apply` does.
#[derive(Debug)]
pub enum DbDrift {
    /// Statements to run: the databases to create or drop.
    Statements(Vec<String>),
    Dump,
    /// An import, after creating the databases that are missing.
    Import(Vec<String>),
}

/// The command that (de)compresses a target, by its suffix.
fn compressor(target: &str) -> Option<&'static str> {
    [
        (".gz", "gzip"),
        (".bz2", "bzip2"),
        (".xz", "xz"),
        (".zst", "zstd"),
    ]
    .iter()
    .find(|(suffix, _)| target.ends_with(suffix))
    .map(|(_, tool)| *tool)
}

impl MysqlDb {
    fn names(&self) -> Vec<String> {
        string_list(&self.name)
    }

    fn all(&self) -> bool {
        self.names() == ["all"]
    }

    fn validate(&self) -> Result<(), TaskError> {
        let names = self.names();
        if names.is_empty() || names.iter().any(String::is_empty) {
            return Err(TaskError::failed(
                "mysql_db: name must name at least one database",
            ));
        }
        match self.state.as_str() {
            "dump" | "import" if self.target.is_none() => {
                return Err(TaskError::failed(format!(
                    "with state={} target is required",
                    self.state
                )));
            }
            "import" if names.len() > 1 => {
                return Err(TaskError::failed(
                    "Multiple databases are not supported with state=import",
                ));
            }
            "present" | "absent" if self.all() => {
                return Err(TaskError::failed(
                    "name is not allowed to equal 'all' unless state equals import, or dump.",
                ));
            }
            _ => {}
        }
        if self.ignore_tables.iter().any(|t| t.trim().is_empty()) {
            return Err(TaskError::failed("Name of ignored table cannot be empty"));
        }
        if let Some(extra) = &self.dump_extra_args {
            remote::shlex_split(extra)
                .map_err(|e| TaskError::failed(format!("mysql_db: dump_extra_args: {e}")))?;
        }
        Ok(())
    }

    fn target(&self) -> String {
        home_path(self.target.as_deref().unwrap_or_default())
    }

    /// Lists which of the databases exist, and whether an import's file
    /// is there.
    fn probe(&self) -> String {
        let mut s = String::new();
        if !self.all() {
            let names: Vec<String> = self.names().iter().map(|n| sql_str(n)).collect();
            s.push_str(&mysql_client::query_lines(
                &format!(
                    "SELECT 'db', schema_name FROM information_schema.schemata WHERE schema_name IN ({});\n",
                    names.join(", ")
                ),
                "",
            ));
        }
        if self.state == "import" {
            s.push_str(&format!("[ -r {} ] && echo target || :\n", self.target()));
        }
        s
    }

    fn create(&self, db: &str) -> String {
        let mut sql = format!("CREATE DATABASE {}", sql_ident(db));
        if !self.encoding.is_empty() {
            sql.push_str(&format!(" CHARACTER SET {}", sql_str(&self.encoding)));
        }
        if !self.collation.is_empty() {
            sql.push_str(&format!(" COLLATE {}", sql_str(&self.collation)));
        }
        sql
    }

    /// The options of the dump tool, shell-quoted.
    fn dump_args(&self) -> Result<String, TaskError> {
        let mut args = Vec::new();
        let mut flag = |on: bool, name: &str| {
            if on {
                args.push(name.to_string());
            }
        };
        flag(self.single_transaction, "--single-transaction");
        flag(self.quick, "--quick");
        flag(self.hex_blob, "--hex-blob");
        flag(self.force, "--force");
        flag(self.skip_lock_tables, "--skip-lock-tables");
        if self.master_data != 0 {
            args.push(format!("--master-data={}", self.master_data));
        }
        if !self.encoding.is_empty() {
            args.push(format!("--default-character-set={}", self.encoding));
        }
        for table in &self.ignore_tables {
            args.push(format!("--ignore-table={table}"));
        }
        if let Some(extra) = &self.dump_extra_args {
            args.extend(remote::shlex_split(extra)?);
        }
        let names = self.names();
        if self.all() {
            args.push("--all-databases".to_string());
        } else if names.len() > 1 {
            args.push("--databases".to_string());
            args.push("--".to_string());
            args.extend(names);
        } else {
            args.push("--".to_string());
            args.extend(names);
        }
        Ok(args
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// The dump, piped through the compressor when the target asks for
    /// one; the dump tool's own status decides, as with `pipefail`.
    fn dump_script(&self) -> Result<String, TaskError> {
        let target = self.target();
        let args = self.dump_args()?;
        let dump = format!("\"$d\" --defaults-file=\"$f\" {args}");
        let mut s = String::from("[ -n \"$d\" ] || fail nodump\necho \"tool=${d##*/}\"\n");
        match compressor(self.target.as_deref().unwrap_or_default()) {
            Some(tool) => s.push_str(&format!(
                "command -v {tool} >/dev/null 2>&1 || fail no-{tool}\n\
                 {{ {dump} || echo $? > \"$t/rc\"; }} | {tool} > {target} || fail {tool}\n\
                 [ ! -e \"$t/rc\" ] || fail dump\n"
            )),
            None => s.push_str(&format!("{dump} > {target} || fail dump\n")),
        }
        Ok(s)
    }

    fn import_script(&self) -> String {
        let target = self.target();
        let mut args = String::new();
        if !self.encoding.is_empty() {
            args.push_str(&format!(
                " --default-character-set={}",
                shell_quote(&self.encoding)
            ));
        }
        if self.force {
            args.push_str(" --force");
        }
        if !self.all() {
            args.push(' ');
            args.push_str(&shell_quote(&self.names()[0]));
        }
        let client = format!("\"$c\" --defaults-file=\"$f\"{args}");
        let mut s = format!("echo \"tool=$c\"\n{}", mysql_client::stdin_query(""));
        match compressor(self.target.as_deref().unwrap_or_default()) {
            Some(tool) => s.push_str(&format!(
                "command -v {tool} >/dev/null 2>&1 || fail no-{tool}\n\
                 {{ {tool} -dc {target} || echo $? > \"$t/rc\"; }} | {client} || fail import\n\
                 [ ! -e \"$t/rc\" ] || fail {tool}\n"
            )),
            None => s.push_str(&format!("{client} < {target} || fail import\n")),
        }
        s
    }

    /// The command executed_commands shows for a dump or an import.
    fn command_text(&self, tool: &str) -> String {
        let target = self.target.as_deref().unwrap_or_default();
        match (self.state.as_str(), compressor(target)) {
            ("dump", Some(c)) => format!(
                "{tool} {} | {c} > {target}",
                self.dump_args().unwrap_or_default()
            ),
            ("dump", None) => format!("{tool} {} > {target}", self.dump_args().unwrap_or_default()),
            (_, Some(c)) => format!("{c} -dc {target} | {tool} {}", self.names().join(" ")),
            (_, None) => format!("{tool} {} < {target}", self.names().join(" ")),
        }
    }

    fn result(&self) -> Outcome {
        let names = self.names();
        Outcome::ok()
            .with_data("db", names.join(" "))
            .with_data("db_list", Value::from(names))
    }
}

#[async_trait]
impl Task for MysqlDb {
    type Drift = DbDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<DbDrift>, TaskError> {
        self.validate()?;
        let out = self
            .login()
            .run(cx, &self.probe(), "", "listing the databases")
            .await?;
        let mut existing = Vec::new();
        let mut target = false;
        for row in rows(&out.stdout) {
            match row.as_slice() {
                [tag, name] if tag == "db" => existing.push(name.clone()),
                [tag] if tag == "target" => target = true,
                _ => {}
            }
        }
        let names = self.names();
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !existing.contains(n))
            .cloned()
            .collect();
        let (drift, msg, diffs) = match self.state.as_str() {
            "present" | "absent" => {
                let present = self.state == "present";
                let touched = if present { &missing } else { &existing };
                if touched.is_empty() {
                    return Ok(Check::InSync(self.result()));
                }
                let statements = touched
                    .iter()
                    .map(|db| {
                        if present {
                            self.create(db)
                        } else {
                            format!("DROP DATABASE {}", sql_ident(db))
                        }
                    })
                    .collect();
                let diffs = touched
                    .iter()
                    .map(|db| {
                        let text = Some(format!("database: {db}\n"));
                        Diff {
                            subject: format!("MySQL database {db}"),
                            before: if present { None } else { text.clone() },
                            after: if present { text } else { None },
                        }
                    })
                    .collect();
                let verb = if present { "created" } else { "dropped" };
                (
                    DbDrift::Statements(statements),
                    format!("{verb} database(s) {}", touched.join(", ")),
                    diffs,
                )
            }
            "dump" => {
                if !self.all() && !missing.is_empty() {
                    return Err(TaskError::failed(format!(
                        "Cannot dump database(s) '{}' - not found",
                        missing.join(", ")
                    )));
                }
                (
                    DbDrift::Dump,
                    format!(
                        "dumped {} into {}",
                        names.join(" "),
                        self.target.as_deref().unwrap_or_default()
                    ),
                    Vec::new(),
                )
            }
            _ => {
                // In check mode the file may be one an earlier task of
                // the play would write, as community.mysql allows.
                if !target && !cx.check_mode {
                    return Err(TaskError::failed(format!(
                        "target {} does not exist on the host",
                        self.target.as_deref().unwrap_or_default()
                    )));
                }
                let create = if self.all() {
                    Vec::new()
                } else {
                    missing.iter().map(|db| self.create(db)).collect()
                };
                (
                    DbDrift::Import(create),
                    format!(
                        "imported {} into {}",
                        self.target.as_deref().unwrap_or_default(),
                        names.join(" ")
                    ),
                    Vec::new(),
                )
            }
        };
        let mut preview = self.result().with_msg(msg);
        preview.changed = true;
        if cx.diff {
            preview.diffs = diffs;
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: DbDrift) -> Result<Outcome, TaskError> {
        let log_bin = if self.sql_log_bin {
            ""
        } else {
            "SET SQL_LOG_BIN = 0;\n"
        };
        let (body, statements, what) = match &drift {
            DbDrift::Statements(statements) => (
                mysql_client::stdin_query(""),
                statements.clone(),
                "changing the databases",
            ),
            DbDrift::Dump => (self.dump_script()?, Vec::new(), "dumping"),
            DbDrift::Import(statements) => (self.import_script(), statements.clone(), "importing"),
        };
        let sql: String = std::iter::once(log_bin.to_string())
            .chain(statements.iter().map(|s| format!("{s};\n")))
            .collect();
        let out = self.login().run(cx, &body, &sql, what).await?;
        let stdout = out.stdout_text();
        let tool = stdout
            .lines()
            .find_map(|l| l.strip_prefix("tool="))
            .map(|t| t.rsplit('/').next().unwrap_or(t).to_string());
        let mut executed = statements;
        if let Some(tool) = &tool {
            executed.push(self.command_text(tool));
        }
        let mut outcome = self
            .result()
            .with_data("executed_commands", Value::from(executed));
        outcome.changed = true;
        outcome.msg = Some(match &drift {
            DbDrift::Statements(_) => format!(
                "{} database(s)",
                if self.state == "present" {
                    "created"
                } else {
                    "dropped"
                }
            ),
            DbDrift::Dump => format!("dumped into {}", self.target.as_deref().unwrap_or_default()),
            DbDrift::Import(_) => {
                format!("imported {}", self.target.as_deref().unwrap_or_default())
            }
        });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_compressed_by_their_suffix() {
        assert_eq!(compressor("/tmp/a.sql.gz"), Some("gzip"));
        assert_eq!(compressor("/tmp/a.sql.bz2"), Some("bzip2"));
        assert_eq!(compressor("/tmp/a.sql"), None);
    }
}
