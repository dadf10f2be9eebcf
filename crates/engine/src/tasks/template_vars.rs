//! The variables Ansible's `template` action adds to a render, above the
//! host's own: `ansible_managed`, `template_host`, `template_path`,
//! `template_fullpath`, `template_destpath`, `template_uid`,
//! `template_mtime` and `template_run_date`. Templates written for Ansible
//! start with `{{ ansible_managed }}` more often than not; without these
//! they fail on an undefined variable.
//!
//! The values are data about the control machine and the file, never
//! rendered again. Dates are printed as Python's `str(datetime)` prints
//! them, in UTC: Ansible gives local time, which equals UTC on machines
//! without a time zone (CI's, containers'), and reading the local offset
//! is not reliable in a multi-threaded process.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;

/// Ansible's `DEFAULT_MANAGED_STR`, the text of `{{ ansible_managed }}`.
pub const ANSIBLE_MANAGED: &str = "Ansible managed";

/// The variables of one render of `src` (as written) found at `fullpath`
/// and bound for `dest` on the host.
pub fn template_vars(src: &str, fullpath: &Path, dest: &str) -> Vec<(String, Value)> {
    let meta = std::fs::metadata(fullpath).ok();
    let uid = meta.as_ref().map(MetadataExt::uid);
    let mtime = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .map(time::OffsetDateTime::from);
    let fullpath = std::path::absolute(fullpath).unwrap_or_else(|_| fullpath.to_path_buf());
    vec![
        ("ansible_managed".into(), ANSIBLE_MANAGED.into()),
        ("template_host".into(), control_hostname().into()),
        ("template_path".into(), src.into()),
        (
            "template_fullpath".into(),
            fullpath.display().to_string().into(),
        ),
        ("template_destpath".into(), dest.into()),
        (
            "template_uid".into(),
            uid.map_or(Value::Null, |uid| user_name(uid).into()),
        ),
        (
            "template_mtime".into(),
            mtime.map_or(Value::Null, |t| python_datetime(t).into()),
        ),
        (
            "template_run_date".into(),
            python_datetime(time::OffsetDateTime::now_utc()).into(),
        ),
    ]
}

/// The control machine's host name, as `os.uname()[1]` gives it.
fn control_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The name `/etc/passwd` gives a user id, or the number when it has none
/// (Python's `pwd.getpwuid` fallback in Ansible).
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?;
            (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// `2026-12-04 01:50:12.123456`, as Python prints a naive datetime.
fn python_datetime(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_python_prints_a_datetime() {
        let t = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a time");
        assert_eq!(python_datetime(t), "2023-11-14 22:13:20.000000");
    }

    #[test]
    fn a_render_gets_ansible_managed_and_the_paths() {
        let vars = template_vars("app.j2", Path::new("/nonexistent/app.j2"), "/etc/app");
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("ansible_managed"), Some(Value::from("Ansible managed")));
        assert_eq!(get("template_path"), Some(Value::from("app.j2")));
        assert_eq!(
            get("template_fullpath"),
            Some(Value::from("/nonexistent/app.j2"))
        );
        assert_eq!(get("template_destpath"), Some(Value::from("/etc/app")));
        assert_eq!(get("template_uid"), Some(Value::Null));
    }
}
