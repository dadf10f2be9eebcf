//! The `package` task: Ansible's generic package module. On hosts with
//! `apt-get` it is the `apt` task with `package`'s arguments; on hosts
//! without it, the `dnf` task (dnf, else yum); on hosts with neither it
//! fails naming the tools it looked for.
//!
//! `use: auto` (the default) tries apt, then dnf; `use: apt`, `dnf` or
//! `yum` picks one; any other `use` value is refused by name rather than
//! silently ignored.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::apt::{Apt, AptDrift};
use crate::tasks::dnf::{Dnf, DnfDrift};

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

/// What `apply` does, by the manager the check found.
#[derive(Debug)]
pub enum PackageDrift {
    Apt(AptDrift),
    Dnf(DnfDrift),
}

impl Package {
    fn apt(&self) -> Apt {
        Apt {
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
        }
    }

    fn dnf(&self) -> Dnf {
        Dnf {
            tool: if self.manager == "yum" {
                "yum".into()
            } else {
                String::new()
            },
            name: self.name.clone(),
            state: self.state.clone(),
            update_cache: false,
            disable_gpg_check: false,
            enablerepo: Vec::new(),
            disablerepo: Vec::new(),
            conf_file: None,
            releasever: None,
            install_weak_deps: None,
            autoremove: false,
        }
    }

    async fn check_dnf(&self, cx: &Context<'_>) -> Result<Check<PackageDrift>, TaskError> {
        Ok(match self.dnf().check(cx).await? {
            Check::InSync(outcome) => Check::InSync(outcome),
            Check::Drift { drift, preview } => Check::Drift {
                drift: PackageDrift::Dnf(drift),
                preview,
            },
        })
    }
}

#[async_trait]
impl Task for Package {
    type Drift = PackageDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<PackageDrift>, TaskError> {
        match self.manager.as_str() {
            "dnf" | "yum" => return self.check_dnf(cx).await,
            "auto" | "apt" => {}
            other => {
                return Err(TaskError::failed(format!(
                    "package manager {other:?} is not supported by dtrplay; use `auto`, `apt`, `dnf` or `yum`"
                )));
            }
        }
        match self.apt().check(cx).await {
            Ok(Check::InSync(outcome)) => Ok(Check::InSync(outcome)),
            Ok(Check::Drift { drift, preview }) => Ok(Check::Drift {
                drift: PackageDrift::Apt(drift),
                preview,
            }),
            Err(TaskError::Failed { msg, .. })
                if self.manager == "auto" && msg.starts_with("apt-get is not installed") =>
            {
                self.check_dnf(cx).await.map_err(|e| match e {
                    TaskError::Failed { msg, data } if msg.starts_with("neither dnf nor yum") => {
                        TaskError::Failed {
                            msg: "package: no supported package manager on the host: neither apt-get nor dnf nor yum was found".to_string(),
                            data,
                        }
                    }
                    other => other,
                })
            }
            Err(other) => Err(other),
        }
    }

    async fn apply(&self, cx: &Context<'_>, drift: PackageDrift) -> Result<Outcome, TaskError> {
        match drift {
            PackageDrift::Apt(drift) => self.apt().apply(cx, drift).await,
            PackageDrift::Dnf(drift) => self.dnf().apply(cx, drift).await,
        }
    }
}
