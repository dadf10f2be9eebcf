//! Ansible's SELinux file arguments (`seuser`, `serole`, `setype`,
//! `selevel`) on `file`, `copy` and `template`.
//!
//! Ansible ignores them on hosts where SELinux is not enabled, which is
//! how content written for Red Hat runs unchanged on Debian and Ubuntu.
//! dtrplay does the same, asking the host's `selinuxenabled` (the test
//! Ansible falls back to without Python bindings) once per task, and only
//! when one of them is given. On a host where SELinux is enabled dtrplay
//! does not set contexts, so the task fails there and says so, rather than
//! leaving a file with a context other than the one asked for.

use crate::params::{Kind, Param};
use crate::task::{Context, TaskError};

/// The argument names, in Ansible's order.
pub const NAMES: [&str; 4] = ["seuser", "serole", "setype", "selevel"];

/// The parameters, appended to each file module's own.
pub fn params() -> Vec<Param> {
    NAMES
        .iter()
        .map(|name| Param::new(name, Kind::Str))
        .collect()
}

/// The contexts a task asked for, by argument.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub seuser: Option<&'a str>,
    pub serole: Option<&'a str>,
    pub setype: Option<&'a str>,
    pub selevel: Option<&'a str>,
}

impl<'a> Wanted<'a> {
    /// From a task's four optional arguments.
    pub fn of(
        seuser: &'a Option<String>,
        serole: &'a Option<String>,
        setype: &'a Option<String>,
        selevel: &'a Option<String>,
    ) -> Wanted<'a> {
        Wanted {
            seuser: seuser.as_deref(),
            serole: serole.as_deref(),
            setype: setype.as_deref(),
            selevel: selevel.as_deref(),
        }
    }

    fn given(&self) -> Vec<&'static str> {
        [self.seuser, self.serole, self.setype, self.selevel]
            .iter()
            .zip(NAMES)
            .filter_map(|(value, name)| value.is_some().then_some(name))
            .collect()
    }
}

/// Succeeds when nothing was asked for or the host has SELinux off.
pub async fn check(cx: &Context<'_>, wanted: Wanted<'_>) -> Result<(), TaskError> {
    let given = wanted.given();
    if given.is_empty() {
        return Ok(());
    }
    let out = cx
        .run(
            "command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled",
            &[],
        )
        .await?;
    if !out.success() {
        return Ok(());
    }
    Err(TaskError::failed(format!(
        "SELinux is enabled on this host and dtrplay does not set SELinux contexts ({} given); \
         set them with a `command: chcon ...` task, or remove the arguments",
        given.join(", ")
    )))
}
