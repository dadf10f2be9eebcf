//! The `zypper_repository` task (community.general.zypper_repository): a
//! zypper repository present (with its name, priority, enabled,
//! autorefresh and gpgcheck settings) or absent, through the host's own
//! `zypper`, with the commands of community.general's module.
//!
//! The check is one `zypper --xmlout repos`, compared as the module
//! compares: a repository matches by alias or by URL; one match with
//! other settings is replaced (removed, then added again), two matches
//! are an error unless `overwrite_multiple`. The apply is one script:
//! `removerepo` for the repositories it replaces, `addrepo --check`, and
//! `refresh --force` of that repository when `runrefresh` or
//! `auto_import_keys` asks for it. With `runrefresh` and nothing to
//! change (or `repo: '*'`), the refresh runs in the check, outside check
//! mode, and is not a change, as in the module.
//!
//! Differences from Ansible: the module does not support check mode (it
//! is skipped there); dtrplay's check mode reports what would change.
//! zypper stores a `file:///srv/repo` URL as `file:/srv/repo`; both
//! spellings compare equal here, where the module would replace the
//! repository on every run. A `.repo` file as `repo` is refused with the
//! form to write instead, and `$releasever`/`$basearch` are compared as
//! written.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};
use crate::tasks::zypper_xml::{self, Repo};

/// The arguments of `zypper_repository`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZypperRepository {
    pub name: Option<String>,
    pub repo: Option<String>,
    pub state: String,
    pub description: Option<String>,
    pub disable_gpg_check: bool,
    pub autorefresh: bool,
    pub priority: Option<i64>,
    pub overwrite_multiple: bool,
    pub auto_import_keys: bool,
    pub runrefresh: bool,
    pub enabled: bool,
}

/// The parameters of `zypper_repository`, as community.general names them.
pub fn spec() -> Spec {
    let flag = |name: &str, default: bool| Param::new(name, Kind::Bool).default(default);
    Spec::new(
        "zypper_repository",
        vec![
            Param::new("name", Kind::Str),
            Param::new("repo", Kind::Str),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("description", Kind::Str),
            flag("disable_gpg_check", false),
            flag("autorefresh", true).aliases(&["refresh"]),
            Param::new("priority", Kind::Int),
            flag("overwrite_multiple", false),
            flag("auto_import_keys", false),
            flag("runrefresh", false),
            flag("enabled", true),
        ],
    )
}

/// Why a `zypper_repository` task failed, in the module's words where it
/// has them.
#[derive(Debug, thiserror::Error)]
pub enum ZypperRepositoryError {
    #[error(
        "zypper is not installed on the host (this is not a SUSE-family system; use `apt_repository` or `yum_repository` elsewhere)"
    )]
    NoTool,
    #[error("repo=* can only be used with the runrefresh option.")]
    StarWithoutRefresh,
    #[error("Module option state=present requires repo")]
    NoRepo,
    #[error("Alias or repo parameter required when state=absent")]
    NoAliasOrRepo,
    #[error("Name required when adding non-repo files.")]
    NoName,
    #[error(
        "a .repo file as `repo` ({0}) is not supported by dtrplay; give the repository's baseurl as `repo` and its section name as `name`"
    )]
    RepoFile(String),
    #[error(
        "More than one repo matched \"{0}\". Use overwrite_multiple to allow more than one repo to be overwritten"
    )]
    Multiple(String),
    #[error("Failed to execute \"zypper --quiet --non-interactive --xmlout repos\": {0}")]
    List(String),
    #[error("Zypper failed with rc {rc}: {detail}")]
    Zypper { rc: i32, detail: String },
    #[error("zypper refresh --force failed: {0}")]
    Refresh(String),
}

impl From<ZypperRepositoryError> for TaskError {
    fn from(err: ZypperRepositoryError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// One setting as `zypper repos` writes it, and as the task wants it.
type Settings = Vec<(&'static str, String)>;

/// zypper keeps `file:///path` as `file:/path`; the module compares URLs
/// without a trailing slash.
fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        let u = u.trim_end_matches('/');
        match u.strip_prefix("file://") {
            Some(rest) if rest.starts_with('/') => format!("file:{rest}"),
            _ => u.to_string(),
        }
    };
    norm(a) == norm(b)
}

/// What `apply` does.
#[derive(Debug)]
pub struct RepoDrift {
    /// URLs of the repositories removed first.
    remove: Vec<String>,
    add: bool,
}

impl ZypperRepository {
    fn bit(on: bool) -> String {
        if on { "1" } else { "0" }.to_string()
    }

    /// The settings the module compares, with their wanted values.
    fn wanted(&self) -> Settings {
        let mut s: Settings = vec![
            ("enabled", Self::bit(self.enabled)),
            ("gpgcheck", Self::bit(!self.disable_gpg_check)),
            ("autorefresh", Self::bit(self.autorefresh)),
        ];
        if let Some(name) = &self.description {
            s.push(("name", name.clone()));
        }
        if let Some(priority) = self.priority {
            s.push(("priority", priority.to_string()));
        }
        s
    }

    fn differs(&self, repo: &Repo) -> bool {
        if let Some(url) = &self.repo
            && !same_url(url, &repo.url)
        {
            return true;
        }
        self.wanted()
            .iter()
            .any(|(k, v)| repo.attrs.get(*k).map(String::as_str).unwrap_or("") != v)
    }

    fn base() -> &'static str {
        "zypper --quiet --non-interactive"
    }

    fn shortname(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.repo.clone())
            .unwrap_or_default()
    }

    fn refresh_command(&self, all: bool) -> String {
        let keys = if self.auto_import_keys {
            " --gpg-auto-import-keys"
        } else {
            ""
        };
        let which = if all {
            String::new()
        } else {
            format!(" -r {}", shell_quote(&self.shortname()))
        };
        format!(
            "{}{keys} refresh --force{which} >&2 || fail refresh\n",
            Self::base()
        )
    }

    fn addrepo_command(&self) -> String {
        let mut w = vec![format!("{} addrepo --check", Self::base())];
        if let Some(name) = &self.description {
            w.push(format!("--name {}", shell_quote(name)));
        }
        if let Some(priority) = self.priority {
            w.push(format!("--priority {priority}"));
        }
        if !self.enabled {
            w.push("--disable".into());
        }
        w.push(
            if self.disable_gpg_check {
                "--no-gpgcheck"
            } else {
                "--gpgcheck"
            }
            .into(),
        );
        if self.autorefresh {
            w.push("--refresh".into());
        }
        w.push(shell_quote(self.repo.as_deref().unwrap_or_default()));
        w.push(shell_quote(self.name.as_deref().unwrap_or_default()));
        w.join(" ")
    }

    fn validate(&self) -> Result<(), ZypperRepositoryError> {
        let star = self.repo.as_deref() == Some("*") || self.name.as_deref() == Some("*");
        if star && !self.runrefresh {
            return Err(ZypperRepositoryError::StarWithoutRefresh);
        }
        if star {
            return Ok(());
        }
        if let Some(repo) = self.repo.as_deref().filter(|r| r.ends_with(".repo")) {
            return Err(ZypperRepositoryError::RepoFile(repo.to_string()));
        }
        match self.state.as_str() {
            "present" if self.repo.is_none() => Err(ZypperRepositoryError::NoRepo),
            "present" if self.name.is_none() => Err(ZypperRepositoryError::NoName),
            "absent" if self.repo.is_none() && self.name.is_none() => {
                Err(ZypperRepositoryError::NoAliasOrRepo)
            }
            _ => Ok(()),
        }
    }

    fn repodata(&self) -> Value {
        let mut data = Map::new();
        data.insert("url".into(), self.repo.clone().into());
        data.insert("alias".into(), self.name.clone().into());
        data.insert("name".into(), self.description.clone().into());
        data.insert("priority".into(), self.priority.into());
        for (k, v) in self.wanted().into_iter().take(3) {
            data.insert(k.into(), v.into());
        }
        Value::Object(data)
    }

    fn describe(repo: &Repo) -> String {
        let mut out = format!(
            "[{}]\n",
            repo.attrs.get("alias").cloned().unwrap_or_default()
        );
        out.push_str(&format!("url={}\n", repo.url));
        for k in ["name", "enabled", "autorefresh", "gpgcheck", "priority"] {
            if let Some(v) = repo.attrs.get(k) {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
        out
    }

    fn described_wanted(&self) -> String {
        let mut out = format!(
            "[{}]\nurl={}\n",
            self.shortname(),
            self.repo.clone().unwrap_or_default()
        );
        out.push_str(&format!(
            "name={}\n",
            self.description.clone().unwrap_or_else(|| self.shortname())
        ));
        let wanted = self.wanted();
        for k in ["enabled", "autorefresh", "gpgcheck", "priority"] {
            if let Some((_, v)) = wanted.iter().find(|(key, _)| *key == k) {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
        out
    }

    fn failure(out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        match failure.code.as_deref() {
            Some("notool") => ZypperRepositoryError::NoTool.into(),
            Some("refresh") => ZypperRepositoryError::Refresh(failure.detail).into(),
            Some("list") => ZypperRepositoryError::List(failure.detail).into(),
            _ => ZypperRepositoryError::Zypper {
                rc: out.status,
                detail: failure.detail,
            }
            .into(),
        }
    }
}

#[async_trait]
impl Task for ZypperRepository {
    type Drift = RepoDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<RepoDrift>, TaskError> {
        self.validate()?;
        let prelude = format!(
            "{}export LANG=C LC_ALL=C\ncommand -v zypper >/dev/null 2>&1 || fail notool\n",
            remote::FAIL_FN
        );
        let star = self.repo.as_deref() == Some("*") || self.name.as_deref() == Some("*");
        if star {
            if !cx.check_mode {
                let script = format!("{prelude}{}", self.refresh_command(true));
                let out = cx.run(&script, &[]).await?;
                if !out.success() {
                    return Err(Self::failure(&out));
                }
            }
            return Ok(Check::InSync(Outcome::ok().with_data("runrefresh", true)));
        }
        let script = format!(
            "{prelude}l=$({} --xmlout repos 2>&1); r=$?\ncase $r in 0|6) ;; *) printf '%s\\n' \"$l\" >&2; fail list;; esac\nprintf '%s\\n' \"$l\"\n",
            Self::base()
        );
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out));
        }
        let repos = zypper_xml::parse(&out.stdout_text()).repos;
        let matches: Vec<&Repo> = repos
            .iter()
            .filter(|r| {
                self.name
                    .as_deref()
                    .is_some_and(|n| r.attrs.get("alias").map(String::as_str) == Some(n))
                    || self.repo.as_deref().is_some_and(|u| same_url(u, &r.url))
            })
            .collect();
        let base = Outcome::ok()
            .with_data("repodata", self.repodata())
            .with_data("state", self.state.clone());
        let changes = match (self.state.as_str(), matches.as_slice()) {
            ("absent", []) => None,
            ("absent", found) => Some((
                RepoDrift {
                    remove: Vec::new(),
                    add: false,
                },
                found.iter().map(|r| Self::describe(r)).collect::<String>(),
                String::new(),
            )),
            (_, []) => Some((
                RepoDrift {
                    remove: Vec::new(),
                    add: true,
                },
                String::new(),
                self.described_wanted(),
            )),
            (_, [one]) if !self.differs(one) => None,
            (_, found) if found.len() > 1 && !self.overwrite_multiple => {
                return Err(ZypperRepositoryError::Multiple(self.shortname()).into());
            }
            (_, found) => Some((
                RepoDrift {
                    remove: found.iter().map(|r| r.url.clone()).collect(),
                    add: true,
                },
                found.iter().map(|r| Self::describe(r)).collect::<String>(),
                self.described_wanted(),
            )),
        };
        let Some((drift, before, after)) = changes else {
            if self.runrefresh && self.state == "present" && !cx.check_mode {
                let script = format!("{prelude}{}", self.refresh_command(false));
                let out = cx.run(&script, &[]).await?;
                if !out.success() {
                    return Err(Self::failure(&out));
                }
            }
            return Ok(Check::InSync(base));
        };
        let mut preview = base.with_msg(if drift.add {
            format!("would add repository {}", self.shortname())
        } else {
            format!("would remove repository {}", self.shortname())
        });
        preview.changed = true;
        if cx.diff {
            preview.diffs.push(Diff {
                subject: format!("zypper repository {}", self.shortname()),
                before: (!before.is_empty()).then_some(before),
                after: (!after.is_empty()).then_some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: RepoDrift) -> Result<Outcome, TaskError> {
        let mut s = format!("{}export LANG=C LC_ALL=C\n", remote::FAIL_FN);
        if drift.add {
            for url in &drift.remove {
                s.push_str(&format!(
                    "{} removerepo {} >&2 || fail removerepo\n",
                    Self::base(),
                    shell_quote(url)
                ));
            }
            s.push_str(&format!("{} >&2 || fail addrepo\n", self.addrepo_command()));
            if self.runrefresh || self.auto_import_keys {
                s.push_str(&self.refresh_command(false));
            }
        } else {
            s.push_str(&format!(
                "{} removerepo {} >&2 || fail removerepo\n",
                Self::base(),
                shell_quote(&self.shortname())
            ));
        }
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out));
        }
        let mut outcome = Outcome::ok()
            .with_data("repodata", self.repodata())
            .with_data("state", self.state.clone())
            .with_msg(if drift.add {
                format!("repository {} added", self.shortname())
            } else {
                format!("repository {} removed", self.shortname())
            });
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_compare_as_zypper_stores_them() {
        assert!(same_url("file:///srv/repo/", "file:/srv/repo"));
        assert!(same_url("http://x/r", "http://x/r/"));
        assert!(!same_url("http://x/r", "http://x/s"));
    }
}
