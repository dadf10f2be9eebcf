//! The `package` task: Ansible's generic package module. On hosts with
//! `apt-get` it is the `apt` task with `package`'s arguments; on others it
//! fails naming the tool it looked for, since dtrplay has no `dnf` or `yum`
//! back end yet.
//!
//! `use: auto` (the default) and `use: apt` pick apt; any other `use`
//! value is refused by name rather than silently ignored.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::apt::{Apt, AptDrift};

/// The arguments of `package`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: Vec<String>,
    pub state: String,
    #[serde(rename = "use")]
    pub manager: String,
}

/// The parameters of `package`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "package",
        vec![
            Param::new("name", Kind::List).required(),
            Param::new("state", Kind::Str)
                .choices(&["present", "installed", "latest", "absent", "removed"])
                .default("present"),
            Param::new("use", Kind::Str).default("auto"),
        ],
    )
}

impl Package {
    fn apt(&self) -> Result<Apt, TaskError> {
        if self.manager != "auto" && self.manager != "apt" {
            return Err(TaskError::failed(format!(
                "package manager {:?} is not supported by dtrplay; use `auto` or `apt`",
                self.manager
            )));
        }
        Ok(Apt {
            name: self.name.clone(),
            state: self.state.clone(),
            update_cache: false,
            cache_valid_time: 0,
            deb: None,
            purge: false,
            autoremove: false,
            install_recommends: None,
            default_release: None,
            force: false,
            allow_unauthenticated: false,
            dpkg_options: "force-confdef,force-confold".to_string(),
        })
    }
}

#[async_trait]
impl Task for Package {
    type Drift = AptDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<AptDrift>, TaskError> {
        self.apt()?.check(cx).await.map_err(|e| match e {
            TaskError::Failed { msg, data } if msg.starts_with("apt-get is not installed") => {
                TaskError::Failed {
                    msg: "package: no supported package manager on the host: apt-get was not found (dnf and yum are not supported by dtrplay yet)".to_string(),
                    data,
                }
            }
            other => other,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: AptDrift) -> Result<Outcome, TaskError> {
        self.apt()?.apply(cx, drift).await
    }
}
