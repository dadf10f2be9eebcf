//! Privileges as `mysql_user` compares them: community.mysql's `priv`
//! (`"db.*:ALL/db2.t:SELECT,INSERT"` or a mapping of object to privileges),
//! the lines of `SHOW GRANTS`, and the `GRANT`/`REVOKE` statements that
//! turn one into the other.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::tasks::mysql_client::sql_ident;

/// A database object privileges are granted on: `*.*`, `db.*`, `db.table`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Object {
    pub db: String,
    pub table: String,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db, self.table)
    }
}

impl Object {
    fn global() -> Object {
        Object {
            db: "*".into(),
            table: "*".into(),
        }
    }

    /// The object as SQL: names backquoted, `*` bare.
    fn sql(&self) -> String {
        let part = |p: &str| {
            if p == "*" {
                "*".to_string()
            } else {
                sql_ident(p)
            }
        };
        format!("{}.{}", part(&self.db), part(&self.table))
    }

    /// The privileges `ALL` stands for at this object's level, as MySQL 8
    /// spells them out for `*.*` in `SHOW GRANTS`.
    fn all_list(&self) -> &'static [&'static str] {
        const TABLE: &[&str] = &[
            "ALTER",
            "CREATE",
            "CREATE VIEW",
            "DELETE",
            "DROP",
            "INDEX",
            "INSERT",
            "REFERENCES",
            "SELECT",
            "SHOW VIEW",
            "TRIGGER",
            "UPDATE",
        ];
        const DB: &[&str] = &[
            "ALTER",
            "ALTER ROUTINE",
            "CREATE",
            "CREATE ROUTINE",
            "CREATE TEMPORARY TABLES",
            "CREATE VIEW",
            "DELETE",
            "DROP",
            "EVENT",
            "EXECUTE",
            "INDEX",
            "INSERT",
            "LOCK TABLES",
            "REFERENCES",
            "SELECT",
            "SHOW VIEW",
            "TRIGGER",
            "UPDATE",
        ];
        const GLOBAL: &[&str] = &[
            "ALTER",
            "ALTER ROUTINE",
            "CREATE",
            "CREATE ROUTINE",
            "CREATE TEMPORARY TABLES",
            "CREATE USER",
            "CREATE VIEW",
            "DELETE",
            "DROP",
            "EVENT",
            "EXECUTE",
            "FILE",
            "INDEX",
            "INSERT",
            "LOCK TABLES",
            "PROCESS",
            "REFERENCES",
            "RELOAD",
            "REPLICATION CLIENT",
            "REPLICATION SLAVE",
            "SELECT",
            "SHOW DATABASES",
            "SHOW VIEW",
            "SHUTDOWN",
            "SUPER",
            "TRIGGER",
            "UPDATE",
        ];
        match (self.db.as_str(), self.table.as_str()) {
            ("*", _) => GLOBAL,
            (_, "*") => DB,
            _ => TABLE,
        }
    }
}

/// Every object's privileges. `GRANT` stands for `WITH GRANT OPTION`,
/// `ALL` for `ALL PRIVILEGES`.
pub type Privs = BTreeMap<Object, BTreeSet<String>>;

/// Splits at `sep` outside parentheses and backquotes.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '`' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A name without its backquotes.
fn unquote(name: &str) -> String {
    let name = name.trim();
    match name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => name.to_string(),
    }
}

/// Reads `db.table` (parts may be backquoted).
fn object(text: &str) -> Result<Object, String> {
    let parts = split_top(text.trim(), '.');
    match parts.as_slice() {
        [db, table] if !db.trim().is_empty() && !table.trim().is_empty() => Ok(Object {
            db: unquote(db),
            table: unquote(table),
        }),
        _ => Err(format!(
            "invalid privileges string: {text:?} is not an object such as 'db.*' or '*.*'"
        )),
    }
}

/// One privilege in the form the comparison uses: upper case, single
/// spaces, `ALL PRIVILEGES` as `ALL`, column lists sorted.
fn privilege(text: &str, case_sensitive: bool) -> Result<String, String> {
    let text = text.trim();
    let (name, columns) = match text.find('(') {
        Some(at) if text.ends_with(')') => (&text[..at], Some(&text[at + 1..text.len() - 1])),
        _ => (text, None),
    };
    let name = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == ' ' || c == '_')
    {
        return Err(format!(
            "invalid privileges string: {text:?} is not a privilege such as SELECT or ALL"
        ));
    }
    let name = if name == "ALL PRIVILEGES" {
        "ALL".to_string()
    } else {
        name
    };
    let Some(columns) = columns else {
        return Ok(name);
    };
    let mut names: Vec<String> = split_top(columns, ',')
        .into_iter()
        .map(unquote)
        .map(|c| if case_sensitive { c } else { c.to_uppercase() })
        .collect();
    if names
        .iter()
        .any(|c| c.is_empty() || c.contains(['(', ')', ',']))
    {
        return Err(format!(
            "invalid privileges string: bad column list in {text:?}"
        ));
    }
    names.sort();
    Ok(format!("{name} ({})", names.join(", ")))
}

/// Drops `USAGE` beside real privileges: it means "no privileges".
fn tidy(set: &mut BTreeSet<String>) {
    if set.len() > 1 {
        set.remove("USAGE");
    }
}

/// The privileges a task's `priv` asks for; `ensure_usage` adds `*.*:USAGE`
/// when `*.*` is not named, as community.mysql does.
pub fn wanted(value: &Value, case_sensitive: bool, ensure_usage: bool) -> Result<Privs, String> {
    let mut items: Vec<(String, String)> = Vec::new();
    match value {
        Value::String(text) => {
            for item in text.split('/').filter(|i| !i.trim().is_empty()) {
                let (obj, privs) = item.rsplit_once(':').ok_or_else(|| {
                    format!("invalid privileges string: {item:?} has no ':' between object and privileges")
                })?;
                items.push((obj.to_string(), privs.to_string()));
            }
        }
        Value::Object(map) => {
            for (obj, privs) in map {
                let privs = match privs {
                    Value::String(s) => s.clone(),
                    other => {
                        return Err(format!(
                            "priv's value for {obj:?} must be a string such as 'SELECT,INSERT', not {other}"
                        ));
                    }
                };
                items.push((obj.clone(), privs));
            }
        }
        other => {
            return Err(format!(
                "priv parameter must be str or dict but {other} was passed"
            ));
        }
    }
    let mut out = Privs::new();
    for (obj, privs) in items {
        let obj = object(&obj)?;
        let set = out.entry(obj).or_default();
        for p in split_top(&privs, ',') {
            set.insert(privilege(p, case_sensitive)?);
        }
        tidy(set);
    }
    if ensure_usage {
        out.entry(Object::global())
            .or_insert_with(|| BTreeSet::from(["USAGE".to_string()]));
    }
    Ok(out)
}

/// Adds what one line of `SHOW GRANTS` grants. Role and proxy grants, and
/// grants on routines, are not privileges on objects and are left out.
pub fn add_grant_line(privs: &mut Privs, line: &str, case_sensitive: bool) {
    let Some(rest) = line.strip_prefix("GRANT ") else {
        return;
    };
    let Some(on) = find_top(rest, " ON ") else {
        return;
    };
    let (list, tail) = (&rest[..on], &rest[on + 4..]);
    if list.starts_with(['`', '\'']) || list.trim() == "PROXY" {
        return;
    }
    let end = find_top(tail, " ").unwrap_or(tail.len());
    let Ok(obj) = object(&tail[..end]) else {
        return;
    };
    let set = privs.entry(obj).or_default();
    for p in split_top(list, ',') {
        if let Ok(p) = privilege(p, case_sensitive) {
            set.insert(p);
        }
    }
    if tail[end..].contains(" WITH GRANT OPTION") {
        set.insert("GRANT".to_string());
    }
    tidy(set);
}

/// Where `needle` starts in `text`, outside backquotes and parentheses.
fn find_top(text: &str, needle: &str) -> Option<usize> {
    let (mut depth, mut quoted) = (0i32, false);
    for (i, c) in text.char_indices() {
        if depth == 0 && !quoted && text[i..].starts_with(needle) {
            return Some(i);
        }
        match c {
            '`' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The current privileges as compared with wanted ones: a set that holds
/// every privilege of its level counts as `ALL` when `ALL` is wanted.
fn as_compared(
    object: &Object,
    current: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
) -> BTreeSet<String> {
    if wanted.contains("ALL")
        && !current.contains("ALL")
        && object.all_list().iter().all(|p| current.contains(*p))
    {
        let mut set = BTreeSet::from(["ALL".to_string()]);
        if current.contains("GRANT") {
            set.insert("GRANT".to_string());
        }
        return set;
    }
    current.clone()
}

/// What to revoke and grant. A revoke of `ALL` takes every privilege (and
/// the grant option, if held) off the object.
#[derive(Debug, Default)]
pub struct Plan {
    pub revoke: Vec<(Object, BTreeSet<String>)>,
    pub grant: Vec<(Object, BTreeSet<String>)>,
}

/// community.mysql's rules: without `append_privs`, objects not named are
/// revoked and named ones are made exactly as asked; with it, only what
/// is missing is granted; `subtract_privs` revokes the named privileges
/// the account holds.
pub fn plan(current: &Privs, wanted: &Privs, append: bool, subtract: bool) -> Plan {
    let mut plan = Plan::default();
    let empty = BTreeSet::new();
    if subtract {
        for (object, want) in wanted {
            let have = current.get(object).unwrap_or(&empty);
            let have = as_compared(object, have, want);
            let gone: BTreeSet<String> = want
                .intersection(&have)
                .filter(|p| p.as_str() != "USAGE")
                .cloned()
                .collect();
            if !gone.is_empty() {
                plan.revoke.push((object.clone(), gone));
            }
        }
        return plan;
    }
    if !append {
        for (object, have) in current {
            if !wanted.contains_key(object) && have.iter().any(|p| p != "USAGE") {
                plan.revoke.push((object.clone(), all_of(have)));
            }
        }
    }
    for (object, want) in wanted {
        let Some(have) = current.get(object) else {
            if want.iter().any(|p| p != "USAGE") {
                plan.grant.push((object.clone(), want.clone()));
            }
            continue;
        };
        let compared = as_compared(object, have, want);
        if append {
            let missing: BTreeSet<String> = want
                .difference(&compared)
                .filter(|p| {
                    p.as_str() != "USAGE" && !(compared.contains("ALL") && p.as_str() != "GRANT")
                })
                .cloned()
                .collect();
            if !missing.is_empty() {
                plan.grant.push((object.clone(), missing));
            }
        } else if compared != *want {
            plan.revoke.push((object.clone(), all_of(have)));
            if want.iter().any(|p| p != "USAGE") {
                plan.grant.push((object.clone(), want.clone()));
            }
        }
    }
    plan
}

/// `ALL`, plus `GRANT` when the current set holds the grant option.
fn all_of(have: &BTreeSet<String>) -> BTreeSet<String> {
    let mut set = BTreeSet::from(["ALL".to_string()]);
    if have.contains("GRANT") {
        set.insert("GRANT".to_string());
    }
    set
}

/// The privileges the account will hold after the plan, for diffs.
pub fn after(current: &Privs, wanted: &Privs, append: bool, subtract: bool) -> Privs {
    let mut out = current.clone();
    let changes = plan(current, wanted, append, subtract);
    for (object, privs) in &changes.revoke {
        if privs.contains("ALL") {
            out.remove(object);
        } else if let Some(set) = out.get_mut(object) {
            set.retain(|p| !privs.contains(p));
        }
    }
    for (object, privs) in changes.grant {
        out.entry(object).or_default().extend(privs);
    }
    out.entry(Object::global())
        .or_insert_with(|| BTreeSet::from(["USAGE".to_string()]));
    for set in out.values_mut() {
        if set.is_empty() {
            set.insert("USAGE".to_string());
        }
        tidy(set);
    }
    out
}

/// A privilege as SQL: column names backquoted.
fn privilege_sql(p: &str) -> String {
    match p.split_once(" (") {
        Some((name, columns)) => {
            let columns = columns.trim_end_matches(')');
            let quoted: Vec<String> = columns.split(", ").map(sql_ident).collect();
            format!("{name} ({})", quoted.join(", "))
        }
        None => p.to_string(),
    }
}

/// The `GRANT` statement for a set, if it grants anything.
pub fn grant(object: &Object, privs: &BTreeSet<String>, who: &str) -> Option<String> {
    let list: Vec<String> = privs
        .iter()
        .filter(|p| p.as_str() != "GRANT" && p.as_str() != "USAGE")
        .map(|p| privilege_sql(p))
        .collect();
    let with = privs.contains("GRANT");
    if list.is_empty() && !with {
        return None;
    }
    let list = if list.is_empty() {
        "USAGE".to_string()
    } else {
        list.join(", ")
    };
    let option = if with { " WITH GRANT OPTION" } else { "" };
    Some(format!(
        "GRANT {list} ON {} TO {who}{option};",
        object.sql()
    ))
}

/// The `REVOKE` statements for a set.
pub fn revoke(object: &Object, privs: &BTreeSet<String>, who: &str) -> Vec<String> {
    let mut out = Vec::new();
    let list: Vec<String> = privs
        .iter()
        .filter(|p| p.as_str() != "GRANT" && p.as_str() != "USAGE")
        .map(|p| {
            if p == "ALL" {
                "ALL PRIVILEGES".to_string()
            } else {
                privilege_sql(p)
            }
        })
        .collect();
    if !list.is_empty() {
        out.push(format!(
            "REVOKE {} ON {} FROM {who};",
            list.join(", "),
            object.sql()
        ));
    }
    if privs.contains("GRANT") {
        out.push(format!(
            "REVOKE GRANT OPTION ON {} FROM {who};",
            object.sql()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn priv_strings_and_grant_lines_meet() {
        let want = wanted(
            &Value::from("foodb.*:ALL,GRANT/`my-db`.t:select (a, b),insert"),
            false,
            true,
        )
        .unwrap();
        let mut have = Privs::new();
        for line in [
            "GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*AB'",
            "GRANT ALL PRIVILEGES ON `foodb`.* TO `u`@`%` WITH GRANT OPTION",
            "GRANT SELECT (`b`, `a`), INSERT ON `my-db`.`t` TO `u`@`%`",
            "GRANT `role` TO `u`@`%`",
        ] {
            add_grant_line(&mut have, line, false);
        }
        assert_eq!(have, want);
        let steps = plan(&have, &want, false, false);
        assert!(
            steps.revoke.is_empty() && steps.grant.is_empty(),
            "{steps:?}"
        );
    }

    #[test]
    fn changed_privileges_are_revoked_then_granted() {
        let want = wanted(&Value::from("*.*:SELECT"), false, true).unwrap();
        let mut have = Privs::new();
        add_grant_line(&mut have, "GRANT USAGE ON *.* TO `u`@`h`", false);
        add_grant_line(&mut have, "GRANT SELECT ON `old`.* TO `u`@`h`", false);
        let steps = plan(&have, &want, false, false);
        let who = "'u'@'h'";
        let sql: Vec<String> = steps
            .revoke
            .iter()
            .flat_map(|(o, p)| revoke(o, p, who))
            .chain(steps.grant.iter().filter_map(|(o, p)| grant(o, p, who)))
            .collect();
        assert_eq!(
            sql,
            [
                "REVOKE ALL PRIVILEGES ON `old`.* FROM 'u'@'h';",
                "REVOKE ALL PRIVILEGES ON *.* FROM 'u'@'h';",
                "GRANT SELECT ON *.* TO 'u'@'h';",
            ]
        );
        assert!(plan(&have, &want, true, false).revoke.is_empty());
        assert!(wanted(&Value::from("db.*:SELECT; DROP"), false, true).is_err());
        assert!(wanted(&Value::from("nodot:SELECT"), false, true).is_err());
    }

    #[test]
    fn a_spelled_out_global_list_is_all() {
        let object = Object::global();
        let list: BTreeSet<String> = object.all_list().iter().map(|s| s.to_string()).collect();
        assert_eq!(as_compared(&object, &list, &set(&["ALL"])), set(&["ALL"]));
    }
}
