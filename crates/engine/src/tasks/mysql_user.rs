//! The `mysql_user` task (community.mysql's name, with or without the
//! `community.mysql.` prefix): a MySQL or MariaDB account, its password and
//! its privileges, driven through the host's own command-line client
//! (`tasks/mysql_client.rs`).
//!
//! The check is one script: the server's version, the account's rows in
//! `mysql.user` (plugin and password hash) and its `SHOW GRANTS`, for the
//! host or, with `host_all`, every host of the name. The password is
//! compared as its `mysql_native_password` hash, computed here: the
//! plain password never leaves the control machine, and the hash travels
//! only on the client's standard input. The apply runs the `CREATE USER`,
//! `ALTER USER`, `GRANT`, `REVOKE` or `DROP USER` statements the check
//! decided on. Privileges follow community.mysql: `priv` lists every object
//! the account may use (`*.*` defaults to `USAGE`), other objects are
//! revoked unless `append_privs`, and `subtract_privs` revokes only those
//! named.
//!
//! Differences from community.mysql: passwords are set with the
//! `mysql_native_password` plugin only (`plugin`, `plugin_hash_string`,
//! `salt` are not supported); `tls_requires` must be empty; `resource_limits`,
//! `session_vars`, `attributes`, `password_expire` and `locked` are not
//! supported; MariaDB 10.4 or later, or MySQL 5.7 or later.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::mysql_client::{self, MysqlError, rows, sql_str};
use crate::tasks::mysql_privs::{self, Object, Privs};

crate::mysql_login_fields! {
    /// The arguments of `mysql_user`.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct MysqlUser {
        pub name: String,
        pub password: Option<String>,
        pub encrypted: bool,
        pub host: String,
        pub host_all: bool,
        pub state: String,
        #[serde(rename = "priv")]
        pub privileges: Option<Value>,
        pub append_privs: bool,
        pub subtract_privs: bool,
        pub tls_requires: Option<Value>,
        pub update_password: String,
        pub column_case_sensitive: Option<bool>,
        pub sql_log_bin: bool,
    }
}

/// The parameters of `mysql_user`, as community.mysql names them.
pub fn spec() -> Spec {
    let mut params = vec![
        Param::new("name", Kind::Str).required().aliases(&["user"]),
        Param::new("password", Kind::Str).secret(),
        Param::new("encrypted", Kind::Bool).default(false),
        Param::new("host", Kind::Str).default("localhost"),
        Param::new("host_all", Kind::Bool).default(false),
        Param::new("state", Kind::Str)
            .choices(&["present", "absent"])
            .default("present"),
        Param::new("priv", Kind::Raw),
        Param::new("append_privs", Kind::Bool).default(false),
        Param::new("subtract_privs", Kind::Bool).default(false),
        Param::new("tls_requires", Kind::Raw),
        Param::new("update_password", Kind::Str)
            .choices(&["always", "on_create", "on_new_username"])
            .default("always"),
        Param::new("column_case_sensitive", Kind::Bool),
        Param::new("sql_log_bin", Kind::Bool).default(true),
    ];
    params.extend(mysql_client::login_params());
    Spec::new("mysql_user", params)
}

/// One row of `mysql.user` for the name.
#[derive(Debug, Clone)]
struct Account {
    host: String,
    plugin: String,
    auth: String,
}

/// What the check read from the server.
#[derive(Debug, Default)]
struct Found {
    mariadb: bool,
    accounts: Vec<Account>,
    grants: BTreeMap<String, Privs>,
}

/// What `apply` runs: the statements, and what to report.
#[derive(Debug)]
pub struct UserDrift {
    statements: Vec<String>,
    msg: String,
    password_changed: bool,
    /// Whether the account is new: community.mysql's check mode cannot
    /// say then whether a password will be set (`password_changed` null).
    created: bool,
}

/// `*` and the upper-case hex of SHA1(SHA1(password)): the hash the
/// `mysql_native_password` plugin keeps.
pub fn native_hash(password: &str) -> String {
    let sha1 = |data: &[u8]| ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let twice = sha1(sha1(password.as_bytes()).as_ref());
    format!("*{}", hex::encode_upper(twice.as_ref()))
}

fn is_native_hash(text: &str) -> bool {
    text.len() == 41 && text.starts_with('*') && text[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl MysqlUser {
    fn account(&self, host: &str) -> String {
        format!("{}@{}", sql_str(&self.name), sql_str(host))
    }

    /// `IDENTIFIED ...` for a `mysql_native_password` hash, in the
    /// server's dialect.
    fn identified(&self, mariadb: bool, plugin: &str, auth: &str) -> String {
        match (mariadb, plugin) {
            (true, "mysql_native_password") => format!("IDENTIFIED BY PASSWORD {}", sql_str(auth)),
            (true, _) => format!("IDENTIFIED VIA {plugin} USING {}", sql_str(auth)),
            (false, _) => format!("IDENTIFIED WITH {plugin} AS {}", sql_str(auth)),
        }
    }

    /// The hash the task wants, if it sets a password.
    fn wanted_hash(&self) -> Result<Option<String>, TaskError> {
        let Some(password) = &self.password else {
            return Ok(None);
        };
        if !self.encrypted {
            return Ok(Some(native_hash(password)));
        }
        if !is_native_hash(password) {
            return Err(TaskError::failed(
                "encrypted was specified however it does not appear to be a valid hash expecting: *SHA1(SHA1(your_password))",
            ));
        }
        Ok(Some(password.to_uppercase()))
    }

    fn validate(&self) -> Result<Option<BTreeMap<Object, BTreeSet<String>>>, TaskError> {
        match &self.tls_requires {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) if map.is_empty() => {}
            Some(_) => {
                return Err(TaskError::failed(
                    "mysql_user: tls_requires is not supported by dtrplay's mysql_user; leave it empty, or set REQUIRE with a mysql_query task",
                ));
            }
        }
        let case_sensitive = self.column_case_sensitive.unwrap_or(false);
        self.privileges
            .as_ref()
            .filter(|v| !v.is_null())
            .map(|v| mysql_privs::wanted(v, case_sensitive, !self.subtract_privs))
            .transpose()
            .map_err(|e| TaskError::failed(format!("mysql_user: {e}")))
    }

    /// The check script's body: the accounts, then the grants of the
    /// accounts the task is about (statements the server writes itself, so
    /// that every name is quoted by the server).
    fn probe(&self) -> String {
        let name = sql_str(&self.name);
        let mut which = format!("user = {name}");
        if !self.host_all {
            which.push_str(&format!(" AND host = {}", sql_str(&self.host)));
        }
        let generate = format!(
            "SELECT CONCAT('SELECT ''grants'', ', QUOTE(host), '; SHOW GRANTS FOR ', QUOTE(user), '@', QUOTE(host), ';') FROM mysql.user WHERE {which};\n"
        );
        let fixed = format!(
            "{}SELECT 'version', VERSION();\nSELECT 'user', host, plugin, authentication_string FROM mysql.user WHERE user = {name};\n",
            mysql_client::SESSION
        );
        format!(
            "{gen}{{ printf '%s\\n' {fixed}; cat \"$t/gen.sql\"; }} | q || fail query\n",
            gen = mysql_client::query_lines(&generate, " -r > \"$t/gen.sql\""),
            fixed = crate::tasks::remote::shell_quote(&fixed),
        )
    }

    fn read(&self, stdout: &[u8]) -> Result<Found, MysqlError> {
        let mut found = Found::default();
        let mut version = None;
        let mut host: Option<String> = None;
        for row in rows(stdout) {
            match row.first().map(String::as_str) {
                Some("version") => {
                    version = row.get(1).cloned();
                }
                Some("user") if row.len() == 4 => found.accounts.push(Account {
                    host: row[1].clone(),
                    plugin: row[2].clone(),
                    auth: if row[3] == "NULL" {
                        String::new()
                    } else {
                        row[3].clone()
                    },
                }),
                Some("grants") if row.len() == 2 => {
                    host = Some(row[1].clone());
                    found.grants.entry(row[1].clone()).or_default();
                }
                Some(line) if line.starts_with("GRANT ") => {
                    if let Some(host) = &host {
                        let grants = found.grants.entry(host.clone()).or_default();
                        mysql_privs::add_grant_line(grants, line, self.case_sensitive());
                    }
                }
                _ => {}
            }
        }
        let version = version
            .ok_or_else(|| MysqlError::Unreadable(String::from_utf8_lossy(stdout).into_owned()))?;
        found.mariadb = version.contains("MariaDB");
        Ok(found)
    }

    fn case_sensitive(&self) -> bool {
        self.column_case_sensitive.unwrap_or(false)
    }

    /// A readable account, for diffs: never the password or its hash.
    fn describe(&self, host: &str, has_password: bool, privs: Option<&Privs>) -> String {
        let mut text = format!(
            "user: {}@{host}\npassword: {}\n",
            self.name,
            if has_password { "set" } else { "none" }
        );
        if let Some(privs) = privs {
            text.push_str("privileges:\n");
            for (object, set) in privs {
                text.push_str(&format!(
                    "  {object}: {}\n",
                    set.iter().cloned().collect::<Vec<_>>().join(",")
                ));
            }
        }
        text
    }

    /// What to do for an account that exists; `None` when it is as wanted.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        found: &Found,
        account: &Account,
        wanted: Option<&Privs>,
        hash: Option<&str>,
        statements: &mut Vec<String>,
        msgs: &mut Vec<&'static str>,
        diffs: &mut Vec<Diff>,
    ) -> bool {
        let who = self.account(&account.host);
        let mut password_changed = false;
        if self.update_password == "always"
            && let Some(hash) = hash
            && !(account.plugin == "mysql_native_password"
                && account.auth.eq_ignore_ascii_case(hash))
        {
            statements.push(format!(
                "ALTER USER {who} {};",
                self.identified(found.mariadb, "mysql_native_password", hash)
            ));
            password_changed = true;
            msgs.push("Password updated");
        }
        let empty = Privs::new();
        let current = found.grants.get(&account.host).unwrap_or(&empty);
        let mut privs_changed = false;
        if let Some(wanted) = wanted {
            let plan = mysql_privs::plan(current, wanted, self.append_privs, self.subtract_privs);
            for (object, privs) in &plan.revoke {
                statements.extend(mysql_privs::revoke(object, privs, &who));
            }
            for (object, privs) in &plan.grant {
                statements.extend(mysql_privs::grant(object, privs, &who));
            }
            if !plan.revoke.is_empty() || !plan.grant.is_empty() {
                privs_changed = true;
                msgs.push("Privileges updated");
            }
        }
        if password_changed || privs_changed {
            let after_privs = wanted
                .map(|w| mysql_privs::after(current, w, self.append_privs, self.subtract_privs));
            let before = self.describe(
                &account.host,
                !account.auth.is_empty(),
                wanted.map(|_| current),
            );
            let mut after = self.describe(&account.host, true, after_privs.as_ref());
            if password_changed {
                after = after.replacen("password: set", "password: set (changed)", 1);
            } else if account.auth.is_empty() {
                after = after.replacen("password: set", "password: none", 1);
            }
            diffs.push(Diff {
                subject: format!("MySQL user {}@{}", self.name, account.host),
                before: Some(before),
                after: Some(after),
            });
        }
        password_changed
    }

    fn plan(&self, found: &Found) -> Result<Option<(UserDrift, Vec<Diff>)>, TaskError> {
        let wanted = self.validate()?;
        let hash = self.wanted_hash()?;
        let targets: Vec<&Account> = found
            .accounts
            .iter()
            .filter(|a| self.host_all || a.host == self.host)
            .collect();
        let mut statements = Vec::new();
        let mut msgs = Vec::new();
        let mut diffs = Vec::new();
        let mut password_changed = false;
        if self.state == "absent" {
            for account in &targets {
                statements.push(format!("DROP USER {};", self.account(&account.host)));
                diffs.push(Diff {
                    subject: format!("MySQL user {}@{}", self.name, account.host),
                    before: Some(self.describe(
                        &account.host,
                        !account.auth.is_empty(),
                        found.grants.get(&account.host),
                    )),
                    after: None,
                });
            }
            if statements.is_empty() {
                return Ok(None);
            }
            msgs.push("User deleted");
        } else if targets.is_empty() {
            if self.host_all {
                return Err(TaskError::failed(
                    "host_all parameter cannot be used when adding a user",
                ));
            }
            let who = self.account(&self.host);
            // `on_new_username` gives a new host of an existing name that
            // name's password, rather than the one in the task.
            let reused = (self.update_password == "on_new_username")
                .then(|| found.accounts.first())
                .flatten();
            let identified = match (reused, &hash) {
                (Some(other), _) if !other.auth.is_empty() => {
                    format!(
                        " {}",
                        self.identified(found.mariadb, &other.plugin, &other.auth)
                    )
                }
                (Some(_), _) => String::new(),
                (None, Some(hash)) => format!(
                    " {}",
                    self.identified(found.mariadb, "mysql_native_password", hash)
                ),
                (None, None) => String::new(),
            };
            password_changed = reused.is_none() && hash.is_some();
            statements.push(format!("CREATE USER {who}{identified};"));
            if let Some(wanted) = &wanted {
                let plan = mysql_privs::plan(&Privs::new(), wanted, false, self.subtract_privs);
                for (object, privs) in &plan.grant {
                    statements.extend(mysql_privs::grant(object, privs, &who));
                }
            }
            msgs.push("User added");
            diffs.push(Diff {
                subject: format!("MySQL user {}@{}", self.name, self.host),
                before: None,
                after: Some(
                    self.describe(
                        &self.host,
                        !identified.is_empty(),
                        wanted
                            .as_ref()
                            .map(|w| {
                                mysql_privs::after(&Privs::new(), w, false, self.subtract_privs)
                            })
                            .as_ref(),
                    ),
                ),
            });
        } else {
            for account in &targets {
                password_changed |= self.update(
                    found,
                    account,
                    wanted.as_ref(),
                    hash.as_deref(),
                    &mut statements,
                    &mut msgs,
                    &mut diffs,
                );
            }
            if statements.is_empty() {
                return Ok(None);
            }
        }
        if !self.sql_log_bin {
            statements.insert(0, "SET SQL_LOG_BIN = 0;".to_string());
        }
        msgs.dedup();
        Ok(Some((
            UserDrift {
                statements,
                msg: msgs.join(", "),
                password_changed,
                created: msgs.contains(&"User added"),
            },
            diffs,
        )))
    }

    fn result(&self, msg: &str, password_changed: bool) -> Outcome {
        Outcome::ok()
            .with_msg(msg)
            .with_data("user", self.name.clone())
            .with_data("password_changed", password_changed)
            .with_data("attributes", Value::Null)
    }
}

#[async_trait]
impl Task for MysqlUser {
    type Drift = UserDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<UserDrift>, TaskError> {
        self.validate()?;
        self.wanted_hash()?;
        let out = self
            .login()
            .run(cx, &self.probe(), "", "reading the user and its grants")
            .await?;
        let found = self.read(&out.stdout)?;
        match self.plan(&found)? {
            None => {
                let msg = if self.state == "absent" {
                    "User doesn't exist"
                } else {
                    "User unchanged"
                };
                Ok(Check::InSync(self.result(msg, false)))
            }
            Some((drift, diffs)) => {
                let mut preview = self.result(&drift.msg, drift.password_changed);
                if drift.created {
                    preview = preview.with_data("password_changed", Value::Null);
                }
                preview.changed = true;
                if cx.diff {
                    preview.diffs = diffs;
                }
                Ok(Check::Drift { drift, preview })
            }
        }
    }

    async fn apply(&self, cx: &Context<'_>, drift: UserDrift) -> Result<Outcome, TaskError> {
        let sql = drift.statements.join("\n") + "\n";
        self.login()
            .run(
                cx,
                &mysql_client::stdin_query(""),
                &sql,
                &format!("changing user {}", self.name),
            )
            .await?;
        let mut outcome = self.result(&drift.msg, drift.password_changed);
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_hash_is_mysqls() {
        // The value MySQL's PASSWORD('password') gives.
        assert_eq!(
            native_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        assert!(is_native_hash("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"));
        assert!(!is_native_hash("password"));
    }
}
