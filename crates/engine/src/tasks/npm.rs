//! The `npm` task (`community.general.npm`): Node.js packages installed,
//! upgraded or removed by the host's own npm, globally or in the project
//! directory `path`.
//!
//! The check is one script: `npm ls --json --depth=0`, for `latest` also
//! `npm outdated --json`, and for a name that is a local package (a
//! directory or a tarball made by `npm pack`) that package's own
//! `package.json`, so that its name and version can be looked up in the
//! list. The apply is one script: one npm call, then the list again, so
//! the change is read back (changed when the list differs).
//!
//! Differences from community.general: a local package is recognised as
//! installed when a package of its name and version is (the collection
//! compares the path with the names in the list and so reinstalls it on
//! every run); `latest` asks `npm outdated` about the named package only;
//! a project without any dependencies is in sync (the collection runs
//! `npm install` again). Other package specifications (git, URLs) are
//! always handed to npm, which then decides whether anything changed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

mod output;

use output::{
    LS, Listing, OUTDATED, PKG, Target, npm_error, parse_listing, parse_outdated, sections, target,
};

/// The arguments of `npm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Npm {
    pub name: Option<String>,
    pub path: Option<String>,
    pub version: Option<String>,
    pub global: bool,
    pub production: bool,
    pub executable: Option<String>,
    pub registry: Option<String>,
    pub ignore_scripts: bool,
    pub unsafe_perm: bool,
    pub ci: bool,
    pub state: String,
    pub no_optional: bool,
    pub no_bin_links: bool,
    pub force: bool,
}

/// The parameters of `npm`, as community.general names them.
pub fn spec() -> Spec {
    Spec::new(
        "npm",
        vec![
            Param::new("name", Kind::Str),
            Param::new("path", Kind::Path),
            Param::new("version", Kind::Str),
            Param::new("global", Kind::Bool).default(false),
            Param::new("production", Kind::Bool).default(false),
            Param::new("executable", Kind::Path),
            Param::new("registry", Kind::Str),
            Param::new("ignore_scripts", Kind::Bool).default(false),
            Param::new("unsafe_perm", Kind::Bool).default(false),
            Param::new("ci", Kind::Bool).default(false),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent", "latest"])
                .default("present"),
            Param::new("no_optional", Kind::Bool).default(false),
            Param::new("no_bin_links", Kind::Bool).default(false),
            Param::new("force", Kind::Bool).default(false),
        ],
    )
}

/// The npm command `apply` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Install,
    Update,
    Uninstall,
    Ci,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Update => "update",
            Action::Uninstall => "uninstall",
            Action::Ci => "ci",
        }
    }
}

/// What `apply` must do: the command and the package argument, if any.
#[derive(Debug)]
pub struct NpmDrift {
    action: Action,
    package: Option<String>,
    before: BTreeMap<String, String>,
}

impl Npm {
    fn validate(&self) -> Result<(), TaskError> {
        if self.path.is_none() && !self.global {
            return Err(TaskError::failed(
                "path must be specified when not using global",
            ));
        }
        if self.name.as_deref() == Some("") {
            return Err(TaskError::failed("name must not be empty"));
        }
        if self.state == "absent" && self.name.is_none() {
            return Err(TaskError::failed(
                "uninstalling a package is only available for named packages",
            ));
        }
        Ok(())
    }

    fn target(&self) -> Option<Target> {
        self.name
            .as_deref()
            .map(|n| target(n, self.version.as_deref()))
    }

    /// The package argument npm gets for install and update.
    fn package_arg(&self) -> Option<String> {
        match self.target()? {
            Target::Registry {
                name,
                version: Some(v),
            } => Some(format!("{name}@{v}")),
            Target::Registry { name, .. } => Some(name),
            Target::Local(_) | Target::Other(_) => self.name.clone(),
        }
    }

    /// The lines every script starts with: quiet npm, found, in `path`.
    fn prelude(&self, create: bool) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(
            "export LC_ALL=C npm_config_update_notifier=false npm_config_fund=false \
             npm_config_audit=false npm_config_progress=false\n",
        );
        let exe = self.executable.as_deref().unwrap_or("npm");
        s.push_str(&format!(
            "npm=$(command -v {}) || fail nonpm\n",
            remote::path_arg(exe)
        ));
        if let Some(path) = &self.path {
            let p = remote::path_arg(path);
            s.push_str(&format!(
                "if [ -e {p} ] && [ ! -d {p} ]; then fail notdir; fi\n"
            ));
            if create {
                s.push_str(&format!("mkdir -p {p} || fail mkdir\n"));
            }
            s.push_str(&format!(
                "if [ -d {p} ]; then cd {p} || fail cd; d=1; else d=0; fi\necho dir=$d\n"
            ));
        }
        s
    }

    /// Options for every npm call, in community.general's order.
    fn flags(&self, action: Option<Action>) -> String {
        let mut f = String::new();
        if self.global {
            f.push_str(" --global");
        }
        if self.production && action.is_some_and(|a| a != Action::Uninstall) {
            f.push_str(" --production");
        }
        if action.is_some() {
            if self.ignore_scripts {
                f.push_str(" --ignore-scripts");
            }
            if self.unsafe_perm {
                f.push_str(" --unsafe-perm");
            }
        }
        if let Some(registry) = &self.registry {
            f.push_str(&format!(" --registry {}", shell_quote(registry)));
        }
        if action.is_some() {
            if self.no_optional {
                f.push_str(" --no-optional");
            }
            if self.no_bin_links {
                f.push_str(" --no-bin-links");
            }
            if self.force {
                f.push_str(" --force");
            }
        }
        f
    }

    fn list(&self) -> String {
        let g = if self.global { " --global" } else { "" };
        format!("echo {LS}\n\"$npm\" ls --json --depth=0{g} 2>/dev/null\necho\n")
    }

    fn check_script(&self) -> String {
        let mut s = self.prelude(false);
        if self.path.is_some() && !self.global {
            s.push_str("[ \"$d\" = 1 ] || exit 0\n");
        }
        s.push_str(&self.list());
        if self.state == "latest" && !self.ci {
            let name = match self.target() {
                Some(Target::Registry { name, .. }) => format!(" {}", shell_quote(&name)),
                _ => String::new(),
            };
            s.push_str(&format!(
                "echo {OUTDATED}\n\"$npm\" outdated --json{}{name} 2>/dev/null\necho\n",
                self.flags(None)
            ));
        }
        if let Some(Target::Local(local)) = self.target() {
            let p = remote::path_arg(&local);
            s.push_str(&format!(
                "echo {PKG}\nif [ -d {p} ]; then cat {p}/package.json; \
                 elif [ -f {p} ]; then tar -xOf {p} package/package.json; fi 2>/dev/null\n"
            ));
        }
        s
    }

    /// The name and version of the local package, from its package.json.
    fn local_identity(pkg: &str) -> Option<(String, String)> {
        let value: Value = serde_json::from_str(pkg.trim()).ok()?;
        let name = value.get("name")?.as_str()?.to_string();
        let version = value.get("version")?.as_str()?.to_string();
        Some((name, version))
    }

    /// Whether the named package is installed as wanted, and the name to
    /// uninstall.
    fn installed(&self, listing: &Listing, pkg: &str) -> (bool, Option<String>) {
        match self.target() {
            Some(Target::Registry { name, version }) => match listing.installed.get(&name) {
                Some(v) => (version.as_ref().is_none_or(|w| w == v), Some(name)),
                None => (false, None),
            },
            Some(Target::Local(_)) => match Self::local_identity(pkg) {
                Some((name, version)) => match listing.installed.get(&name) {
                    Some(v) => (*v == version, Some(name)),
                    None => (false, None),
                },
                None => (false, None),
            },
            Some(Target::Other(_)) | None => (false, None),
        }
    }

    /// What must run, or `None` when the host is as wanted.
    fn decide(&self, stdout: &str) -> Result<Option<(Action, Option<String>)>, TaskError> {
        let sections = sections(stdout);
        let no_dir = sections.get("").is_some_and(|h| h.contains("dir=0")) && !self.global;
        let listing = match (no_dir, sections.get(LS)) {
            (true, _) => Listing::default(),
            (false, Some(text)) => {
                parse_listing(text).map_err(|e| TaskError::failed(e.to_string()))?
            }
            (false, None) => return Err(TaskError::failed("npm ls printed nothing")),
        };
        if self.ci {
            return Ok(Some((Action::Ci, None)));
        }
        let pkg = sections.get(PKG).map(String::as_str).unwrap_or("");
        let (present, installed_name) = self.installed(&listing, pkg);
        if self.state == "absent" {
            if let Some(Target::Other(spec)) = self.target() {
                return Err(TaskError::failed(format!(
                    "state=absent needs a package name or a local package, not {spec}"
                )));
            }
            return Ok(installed_name.map(|n| (Action::Uninstall, Some(n))));
        }
        let missing = match self.name {
            Some(_) => !present,
            None => no_dir || !listing.missing.is_empty(),
        };
        if missing {
            return Ok(Some((Action::Install, self.package_arg())));
        }
        if self.state == "latest" {
            let outdated = parse_outdated(sections.get(OUTDATED).map_or("", |s| s.as_str()))
                .map_err(TaskError::failed)?;
            let wanted = match &installed_name {
                Some(name) => outdated.contains(name),
                None => !outdated.is_empty(),
            };
            if wanted {
                return Ok(Some((Action::Update, installed_name)));
            }
        }
        Ok(None)
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let path = self.path.clone().unwrap_or_default();
        let msg = match failure.code.as_deref() {
            Some("nonpm") => format!(
                "Failed to find required executable \"{}\" on the host: install npm (Debian: apt-get install npm), or name it with executable",
                self.executable.as_deref().unwrap_or("npm")
            ),
            Some("notdir") => format!("path {path} is not a directory"),
            Some("mkdir") | Some("cd") => format!("could not enter the directory {path}"),
            Some("npm") => {
                let what = self
                    .name
                    .as_deref()
                    .unwrap_or("the packages of package.json");
                let verb = match self.state.as_str() {
                    "absent" => "uninstall",
                    _ => "install",
                };
                let detail = npm_error(&failure.detail);
                return TaskError::failed(format!("npm could not {verb} {what}: {detail}"));
            }
            _ => "npm failed".to_string(),
        };
        remote::with_detail(msg, &failure)
    }
}

#[async_trait]
impl Task for Npm {
    type Drift = NpmDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<NpmDrift>, TaskError> {
        self.validate()?;
        let out = cx.run(&self.check_script(), &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let stdout = out.stdout_text();
        let Some((action, package)) = self.decide(&stdout)? else {
            return Ok(Check::InSync(Outcome::ok()));
        };
        let before = sections(&stdout)
            .get(LS)
            .and_then(|t| parse_listing(t).ok())
            .unwrap_or_default()
            .installed;
        let what = package
            .clone()
            .unwrap_or_else(|| "the packages of package.json".to_string());
        let mut preview = Outcome::ok();
        preview.changed = true;
        preview.msg = Some(format!("would npm {} {what}", action.verb()));
        Ok(Check::Drift {
            drift: NpmDrift {
                action,
                package,
                before,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: NpmDrift) -> Result<Outcome, TaskError> {
        let mut s = self.prelude(drift.action != Action::Uninstall);
        let package = drift
            .package
            .as_deref()
            .map(|p| format!(" {}", shell_quote(p)))
            .unwrap_or_default();
        // The package goes before `--registry`, as community.general puts it.
        let flags = self.flags(Some(drift.action));
        let (head, tail) = match flags.find(" --registry") {
            Some(at) => flags.split_at(at),
            None => (flags.as_str(), ""),
        };
        s.push_str(&format!(
            "\"$npm\" {}{head}{package}{tail} || fail npm\n",
            drift.action.verb()
        ));
        s.push_str(&self.list());
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let parts = sections(&out.stdout_text());
        let after = parts
            .get(LS)
            .and_then(|t| parse_listing(t).ok())
            .unwrap_or_default()
            .installed;
        // What npm printed is registered as stdout, without the list read
        // back and the script's own `dir=` line.
        let said: Vec<&str> = parts
            .get("")
            .map(String::as_str)
            .unwrap_or("")
            .lines()
            .filter(|l| !l.starts_with("dir="))
            .collect();
        let mut registered = remote::without_marker(&out);
        registered.stdout = said.join("\n").into_bytes();
        let mut outcome = Outcome::ok().with_output(&registered);
        outcome.changed = drift.action == Action::Ci || after != drift.before;
        let what = drift.package.unwrap_or_else(|| "package.json".to_string());
        outcome.msg = Some(match outcome.changed {
            true => format!("npm {} {what}", drift.action.verb()),
            false => format!("npm {} {what}: nothing changed", drift.action.verb()),
        });
        Ok(outcome)
    }
}
