//! The `package` task: Ansible's generic package module. On hosts with
//! `apt-get` it is the `apt` task with `package`'s arguments; on hosts
//! without it, the `dnf` task (dnf, else yum); on hosts with neither it
//! fails naming the tools it looked for.
//!
//! `use: auto` (the default) tries apt, then dnf; `use: apt`, `dnf` or
//! `yum` picks one; any other `use` value is refused by name rather than
//! silently ignored.
//!
//! As in Ansible, every other argument goes to the manager's own module:
//! `enablerepo` reaches dnf, `allow_unauthenticated` reaches apt. One that
//! the chosen manager's module lacks fails the task on that host with
//! Ansible's "Unsupported parameters" message, which is why content guards
//! such tasks with `when: ansible_os_family == 'RedHat'`.

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
    pub update_cache: Option<bool>,
    pub autoremove: Option<bool>,
    /// Arguments apt's and dnf's modules both have.
    pub allow_downgrade: Option<bool>,
    /// Arguments only apt's module has.
    pub policy_rc_d: Option<i64>,
    pub allow_unauthenticated: Option<bool>,
    pub install_recommends: Option<bool>,
    pub cache_valid_time: Option<i64>,
    pub default_release: Option<String>,
    /// Arguments only dnf's (and yum's) module has.
    pub enablerepo: Option<Vec<String>>,
    pub disablerepo: Option<Vec<String>>,
    pub disable_gpg_check: Option<bool>,
    pub conf_file: Option<String>,
    pub releasever: Option<String>,
    pub install_weak_deps: Option<bool>,
    pub exclude: Option<Vec<String>>,
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
            Param::new("update_cache", Kind::Bool),
            Param::new("autoremove", Kind::Bool),
            Param::new("allow_downgrade", Kind::Bool),
            Param::new("policy_rc_d", Kind::Int),
            Param::new("exclude", Kind::List),
            Param::new("allow_unauthenticated", Kind::Bool),
            Param::new("install_recommends", Kind::Bool),
            Param::new("cache_valid_time", Kind::Int),
            Param::new("default_release", Kind::Str),
            Param::new("enablerepo", Kind::List),
            Param::new("disablerepo", Kind::List),
            Param::new("disable_gpg_check", Kind::Bool),
            Param::new("conf_file", Kind::Path),
            Param::new("releasever", Kind::Str),
            Param::new("install_weak_deps", Kind::Bool),
        ],
    )
    .collapses("name")
}

/// What `apply` does, by the manager the check found.
#[derive(Debug)]
pub enum PackageDrift {
    Apt(AptDrift),
    Dnf(DnfDrift),
}

impl Package {
    /// Fails when an argument given is one the manager's module does not
    /// have, in the words of Ansible's module argument check.
    fn unsupported(&self, module: &str) -> Result<(), TaskError> {
        let given: Vec<&str> = if module == "apt" {
            [
                ("enablerepo", self.enablerepo.is_some()),
                ("disablerepo", self.disablerepo.is_some()),
                ("disable_gpg_check", self.disable_gpg_check.is_some()),
                ("conf_file", self.conf_file.is_some()),
                ("releasever", self.releasever.is_some()),
                ("install_weak_deps", self.install_weak_deps.is_some()),
                ("exclude", self.exclude.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect()
        } else {
            [
                (
                    "allow_unauthenticated",
                    self.allow_unauthenticated.is_some(),
                ),
                ("install_recommends", self.install_recommends.is_some()),
                ("cache_valid_time", self.cache_valid_time.is_some()),
                ("default_release", self.default_release.is_some()),
                ("policy_rc_d", self.policy_rc_d.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect()
        };
        if given.is_empty() {
            return Ok(());
        }
        Err(TaskError::failed(format!(
            "Unsupported parameters for ({module}) module: {}. package passes its arguments to the host's package manager, and {module} has no such argument; guard the task with `when: ansible_pkg_mgr == ...` or pass only arguments of {module}",
            given.join(", ")
        )))
    }

    fn apt(&self) -> Apt {
        Apt {
            name: self.name.clone(),
            state: self.state.clone(),
            update_cache: self.update_cache.unwrap_or(false),
            cache_valid_time: self.cache_valid_time.unwrap_or(0),
            deb: None,
            purge: false,
            autoremove: self.autoremove.unwrap_or(false),
            install_recommends: self.install_recommends,
            default_release: self.default_release.clone(),
            force: false,
            allow_unauthenticated: self.allow_unauthenticated.unwrap_or(false),
            dpkg_options: "force-confdef,force-confold".to_string(),
            allow_downgrade: self.allow_downgrade.unwrap_or(false),
            policy_rc_d: self.policy_rc_d,
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
            update_cache: self.update_cache.unwrap_or(false),
            disable_gpg_check: self.disable_gpg_check.unwrap_or(false),
            enablerepo: self.enablerepo.clone().unwrap_or_default(),
            disablerepo: self.disablerepo.clone().unwrap_or_default(),
            conf_file: self.conf_file.clone(),
            releasever: self.releasever.clone(),
            install_weak_deps: self.install_weak_deps,
            autoremove: self.autoremove.unwrap_or(false),
            exclude: self.exclude.clone().unwrap_or_default(),
            allow_downgrade: self.allow_downgrade.unwrap_or(false),
        }
    }

    async fn check_dnf(&self, cx: &Context<'_>) -> Result<Check<PackageDrift>, TaskError> {
        self.unsupported(if self.manager == "yum" { "yum" } else { "dnf" })?;
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
        // The check only reads; the arguments apt lacks are refused once the
        // host is known to have apt-get.
        match self.apt().check(cx).await {
            Ok(Check::InSync(outcome)) => {
                self.unsupported("apt")?;
                Ok(Check::InSync(outcome))
            }
            Ok(Check::Drift { drift, preview }) => {
                self.unsupported("apt")?;
                Ok(Check::Drift {
                    drift: PackageDrift::Apt(drift),
                    preview,
                })
            }
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
