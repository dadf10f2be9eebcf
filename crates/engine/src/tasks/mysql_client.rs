//! What `mysql_db` and `mysql_user` share: the `login_*` arguments of
//! community.mysql, and scripts that drive the host's own `mariadb` (or
//! `mysql`) command-line client, so that no Python is needed on the host.
//!
//! Credentials never appear on a command line. The script reads the
//! client's option lines (user, password, host, ...) from its standard
//! input into a temporary option file of mode 0600, which it removes on
//! exit; the client is started with `--defaults-file=` naming it. That file
//! first `!include`s `config_file` (`~/.my.cnf` by default) when it exists,
//! so that what the task says overrides what the file says, as in
//! community.mysql. SQL is passed to the client on its standard input too.
//!
//! Differences from community.mysql: `login_host: localhost` reaches the
//! server through the client's default socket (as the command-line client
//! does), where PyMySQL would use TCP; the global option files
//! (`/etc/mysql/my.cnf`) are not read, as PyMySQL does not read them either.

use serde_json::Value;

use crate::connection::Output;
use crate::params::{Kind, Param};
use crate::task::{Context, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The `login_*` and TLS arguments every community.mysql module takes.
pub fn login_params() -> Vec<Param> {
    vec![
        Param::new("login_user", Kind::Str),
        Param::new("login_password", Kind::Str).secret(),
        Param::new("login_host", Kind::Str).default("localhost"),
        Param::new("login_port", Kind::Int).default(3306),
        Param::new("login_unix_socket", Kind::Str),
        Param::new("config_file", Kind::Path).default("~/.my.cnf"),
        Param::new("connect_timeout", Kind::Int).default(30),
        Param::new("client_cert", Kind::Path).aliases(&["ssl_cert"]),
        Param::new("client_key", Kind::Path).aliases(&["ssl_key"]),
        Param::new("ca_cert", Kind::Path).aliases(&["ssl_ca"]),
        Param::new("check_hostname", Kind::Bool),
        Param::new("check_implicit_admin", Kind::Bool).default(false),
    ]
}

/// How to reach the server, borrowed from a task's arguments.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: &'a str,
    pub port: i64,
    pub socket: Option<&'a str>,
    pub config_file: &'a str,
    pub connect_timeout: i64,
    pub client_cert: Option<&'a str>,
    pub client_key: Option<&'a str>,
    pub ca_cert: Option<&'a str>,
    pub check_hostname: Option<bool>,
    pub check_implicit_admin: bool,
}

/// Declares the login fields in a task's argument struct and the method
/// that borrows them as a `Login`; the structs deny unknown fields, which
/// serde's `flatten` cannot combine with.
#[macro_export]
macro_rules! mysql_login_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($body)*
            pub login_user: Option<String>,
            pub login_password: Option<String>,
            pub login_host: String,
            pub login_port: i64,
            pub login_unix_socket: Option<String>,
            pub config_file: String,
            pub connect_timeout: i64,
            pub client_cert: Option<String>,
            pub client_key: Option<String>,
            pub ca_cert: Option<String>,
            pub check_hostname: Option<bool>,
            pub check_implicit_admin: bool,
        }

        impl $name {
            fn login(&self) -> $crate::tasks::mysql_client::Login<'_> {
                $crate::tasks::mysql_client::Login {
                    user: self.login_user.as_deref(),
                    password: self.login_password.as_deref(),
                    host: &self.login_host,
                    port: self.login_port,
                    socket: self.login_unix_socket.as_deref(),
                    config_file: &self.config_file,
                    connect_timeout: self.connect_timeout,
                    client_cert: self.client_cert.as_deref(),
                    client_key: self.client_key.as_deref(),
                    ca_cert: self.ca_cert.as_deref(),
                    check_hostname: self.check_hostname,
                    check_implicit_admin: self.check_implicit_admin,
                }
            }
        }
    };
}

/// Why a community.mysql task cannot run.
#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error(
        "neither `mariadb` nor `mysql` is on the host's PATH: install the client (Debian: apt-get install mariadb-client; RHEL: dnf install mariadb)"
    )]
    NoClient,
    #[error(
        "neither `mariadb-dump` nor `mysqldump` is on the host's PATH: install it (Debian: apt-get install mariadb-client)"
    )]
    NoDump,
    #[error("`{0}` is not on the host's PATH; it is needed to (de)compress the target: install it")]
    NoCompressor(String),
    #[error(
        "`{0}` cannot be written to a MySQL option file: it has a line break, or both kinds of quote"
    )]
    OptionValue(&'static str),
    #[error(
        "unable to connect to database, check login_user and login_password are correct or {config_file} has the credentials: {detail}"
    )]
    Connect { config_file: String, detail: String },
    #[error("{what} failed: {detail}")]
    Query { what: String, detail: String },
    #[error("the client printed something dtrplay cannot read: {0}")]
    Unreadable(String),
}

impl From<MysqlError> for TaskError {
    fn from(err: MysqlError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// A string as a single-quoted SQL literal. Every batch starts by setting
/// an empty `sql_mode` for its session, so backslashes are escapes here
/// whatever the server's default mode is.
pub fn sql_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out.push('\'');
    out
}

/// A name as a backquoted SQL identifier.
pub fn sql_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// The first statement of every batch (see `sql_str`).
pub const SESSION: &str = "SET SESSION sql_mode = '';\n";

/// A value in an option file: double-quoted (or single-quoted when it
/// holds a double quote), with backslashes escaped, so that `#`, spaces and
/// quotes of the other kind reach the client unchanged.
fn option_value(name: &'static str, value: &str) -> Result<String, MysqlError> {
    if value.contains(['\n', '\r']) {
        return Err(MysqlError::OptionValue(name));
    }
    let quote = match (value.contains('"'), value.contains('\'')) {
        (false, _) => '"',
        (true, false) => '\'',
        (true, true) => return Err(MysqlError::OptionValue(name)),
    };
    Ok(format!("{quote}{}{quote}", value.replace('\\', "\\\\")))
}

/// A path with a leading `~/` left for the host's shell to expand.
pub fn home_path(path: &str) -> String {
    if path == "~" {
        "\"$HOME\"".to_string()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("\"$HOME\"/{}", shell_quote(rest))
    } else {
        remote::path_arg(path)
    }
}

impl Login<'_> {
    /// The `[client]` lines of the option file; `admin` gives root without
    /// a password (`check_implicit_admin`).
    fn option_lines(&self, admin: bool) -> Result<String, MysqlError> {
        let mut lines = String::from("[client]\n");
        let mut put = |key: &'static str, value: &str| -> Result<(), MysqlError> {
            lines.push_str(&format!("{key}={}\n", option_value(key, value)?));
            Ok(())
        };
        if admin {
            put("user", "root")?;
        } else {
            if let Some(user) = self.user {
                put("user", user)?;
            }
            if let Some(password) = self.password {
                put("password", password)?;
            }
        }
        put("host", self.host)?;
        put("port", &self.port.to_string())?;
        if let Some(socket) = self.socket {
            put("socket", socket)?;
        }
        if let Some(cert) = self.client_cert {
            put("ssl-cert", cert)?;
        }
        if let Some(key) = self.client_key {
            put("ssl-key", key)?;
        }
        if let Some(ca) = self.ca_cert {
            put("ssl-ca", ca)?;
        }
        if self.check_hostname == Some(true) {
            lines.push_str("ssl-verify-server-cert\n");
        }
        // Only the interactive client knows this option; the dump tool
        // would refuse it in `[client]`.
        lines.push_str(&format!(
            "[mysql]\nconnect-timeout={}\n",
            self.connect_timeout
        ));
        Ok(lines)
    }

    /// What the script reads from its standard input: the option lines,
    /// then (for `check_implicit_admin`) root's, each ended by `--`, then
    /// the SQL (which may name password hashes, so it is never part of the
    /// script that `-vv` shows).
    pub fn stdin(&self, sql: &str) -> Result<Vec<u8>, MysqlError> {
        let mut text = self.option_lines(false)?;
        text.push_str("--\n");
        if self.check_implicit_admin {
            text.push_str(&self.option_lines(true)?);
            text.push_str("--\n");
        }
        text.push_str(SESSION);
        text.push_str(sql);
        Ok(text.into_bytes())
    }

    /// The start of every script: finds the client, writes the option
    /// file(s) from standard input, picks the login (root without a
    /// password when `check_implicit_admin` finds it works), keeps the SQL
    /// in `$t/in.sql`, checks that the server answers, and defines `q` (the
    /// client with that login, batch output without column names), `$d`
    /// (the dump tool, if any) and `$t` (a private directory).
    pub fn prelude(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(
            "export LC_ALL=C\n\
             if command -v mariadb >/dev/null 2>&1; then c=mariadb; \
             elif command -v mysql >/dev/null 2>&1; then c=mysql; else fail noclient; fi\n\
             d=$(command -v mariadb-dump || command -v mysqldump)\n\
             t=$(umask 077 && mktemp -d) || fail tmpdir\n\
             trap 'rm -rf -- \"$t\"' EXIT\n",
        );
        s.push_str(&format!("cfg={}\n", home_path(self.config_file)));
        s.push_str(
            "cnf() { ( umask 077\n\
             [ -f \"$cfg\" ] && [ -r \"$cfg\" ] && printf '!include %s\\n' \"$cfg\"\n\
             while IFS= read -r l && [ \"$l\" != -- ]; do printf '%s\\n' \"$l\"; done ) > \"$t/$1\"; }\n\
             cnf login.cnf\nf=\"$t/login.cnf\"\n",
        );
        if self.check_implicit_admin {
            s.push_str(
                "cnf admin.cnf\n\
                 if printf 'SELECT 1;\\n' | \"$c\" --defaults-file=\"$t/admin.cnf\" -N -B >/dev/null 2>&1; then f=\"$t/admin.cnf\"; fi\n",
            );
        }
        s.push_str(
            "q() { \"$c\" --defaults-file=\"$f\" -N -B \"$@\"; }\n\
             cat > \"$t/in.sql\"\n\
             printf 'SELECT 1;\\n' | q >/dev/null 2>\"$t/err\" || { cat \"$t/err\" >&2; fail connect; }\n",
        );
        s
    }

    /// Runs a script made by `prelude` plus `body`, and turns the failures
    /// `fail` names into errors; `what` says what the body does.
    pub async fn run(
        &self,
        cx: &Context<'_>,
        body: &str,
        sql: &str,
        what: &str,
    ) -> Result<Output, TaskError> {
        let script = format!("{}{body}", self.prelude());
        let out = cx.run(&script, &self.stdin(sql)?).await?;
        if out.success() {
            return Ok(out);
        }
        let failure = remote::failure(&out);
        let detail = failure.detail.clone();
        Err(match failure.code.as_deref() {
            Some("noclient") => MysqlError::NoClient,
            Some("nodump") => MysqlError::NoDump,
            Some(code) if code.starts_with("no-") => {
                MysqlError::NoCompressor(code[3..].to_string())
            }
            Some("connect") => MysqlError::Connect {
                config_file: self.config_file.to_string(),
                detail,
            },
            Some(step) if step != "query" => MysqlError::Query {
                what: format!("{what} ({step})"),
                detail,
            },
            _ => MysqlError::Query {
                what: what.to_string(),
                detail,
            },
        }
        .into())
    }
}

/// The line of a script that runs the SQL of standard input and prints
/// its rows; `extra` are more client options.
pub fn stdin_query(extra: &str) -> String {
    format!("q{extra} < \"$t/in.sql\" || fail query\n")
}

/// The lines of a script that run `sql` (after `SESSION`), written into
/// the script itself: only for SQL that holds no secret.
pub fn query_lines(sql: &str, extra: &str) -> String {
    format!(
        "printf '%s\\n' {} | q{extra} || fail query\n",
        shell_quote(&format!("{SESSION}{sql}"))
    )
}

/// The rows the client printed in batch mode: tab-separated columns with
/// `\t`, `\n`, `\\` and `\0` escaped.
pub fn rows(stdout: &[u8]) -> Vec<Vec<String>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| line.split('\t').map(unescape).collect())
        .collect()
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A string or a list of strings, as `name` and similar arguments take.
pub fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) => vec![s.clone()],
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_option_values_are_quoted() {
        assert_eq!(sql_str("it's \\"), r"'it\'s \\'");
        assert_eq!(sql_ident("a`b"), "`a``b`");
        assert_eq!(option_value("password", "a#b c").unwrap(), "\"a#b c\"");
        assert_eq!(option_value("password", "x\"y").unwrap(), "'x\"y'");
        assert_eq!(option_value("password", r"a\b").unwrap(), r#""a\\b""#);
        assert!(option_value("password", "a'\"").is_err());
        assert!(option_value("password", "a\nb").is_err());
        assert_eq!(home_path("~/.my.cnf"), "\"$HOME\"/.my.cnf");
    }

    #[test]
    fn batch_rows_are_unescaped() {
        assert_eq!(
            rows(b"user\tlocal\\thost\tNULL\nx\n"),
            vec![
                vec!["user".to_string(), "local\thost".into(), "NULL".into()],
                vec!["x".to_string()]
            ]
        );
    }
}
