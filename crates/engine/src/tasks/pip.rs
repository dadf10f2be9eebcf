//! The `pip` task: Python packages installed, upgraded or removed by the
//! host's own pip, in a virtualenv the task creates when it is missing,
//! or for the interpreter `executable` names.
//!
//! The check is one script: whether the virtualenv exists (`bin/activate`,
//! as Ansible asks), then `pip list --format=freeze`; for `latest` and
//! `requirements`, also pip's own dry run (`install --dry-run --report -`,
//! pip 22.2 and later), which says exactly what an install would change.
//! `present` compares the names and their version specifiers with the
//! installed versions here (PEP 440 ordering); `absent` removes only
//! what is installed. The apply is one script: the virtualenv, then one
//! pip call for every name, then the package list again, so the change is
//! read back: pip's "Successfully installed/uninstalled", or a different
//! list.
//!
//! Differences from Ansible: check mode is exact for `latest` and
//! `requirements` where pip has `--dry-run` (Ansible always reports a
//! change there, and whenever `extra_args` is given); names given as URLs,
//! paths or with environment markers are always handed to pip, which then
//! decides whether anything changed.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

mod facts;
mod version;

use facts::{FREEZE, Facts, NO_REPORT, REPORT, parse_facts};
use version::{Requirement, recover_names};

/// The arguments of `pip`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pip {
    #[serde(default)]
    pub name: Vec<String>,
    pub version: Option<String>,
    pub requirements: Option<String>,
    pub virtualenv: Option<String>,
    pub virtualenv_site_packages: bool,
    pub virtualenv_command: String,
    pub virtualenv_python: Option<String>,
    pub state: String,
    pub extra_args: Option<String>,
    pub editable: bool,
    pub chdir: Option<String>,
    pub executable: Option<String>,
    pub umask: Option<String>,
    pub break_system_packages: bool,
}

/// The parameters of `pip`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "pip",
        vec![
            Param::new("name", Kind::List),
            Param::new("version", Kind::Str),
            Param::new("requirements", Kind::Str),
            Param::new("virtualenv", Kind::Path),
            Param::new("virtualenv_site_packages", Kind::Bool).default(false),
            Param::new("virtualenv_command", Kind::Path).default("virtualenv"),
            Param::new("virtualenv_python", Kind::Str),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent", "latest", "forcereinstall"])
                .default("present"),
            Param::new("extra_args", Kind::Str),
            Param::new("editable", Kind::Bool).default(false),
            Param::new("chdir", Kind::Path),
            Param::new("executable", Kind::Path),
            Param::new("umask", Kind::Str),
            Param::new("break_system_packages", Kind::Bool).default(false),
        ],
    )
    .collapses("name")
}

/// What `apply` must do.
#[derive(Debug)]
pub struct PipDrift {
    create_venv: bool,
    /// The package arguments for pip (names, or `-r file`).
    targets: Vec<String>,
    freeze_before: Option<String>,
    pip: String,
}

impl Pip {
    fn packages(&self) -> Result<Vec<String>, TaskError> {
        let mut names = recover_names(&self.name);
        if let Some(version) = &self.version {
            if names.len() > 1 {
                return Err(TaskError::failed(
                    "'version' argument is ambiguous when installing multiple package distributions. \
                     Please specify version restrictions next to each package in 'name' argument.",
                ));
            }
            let Some(first) = names.first_mut() else {
                return Err(TaskError::failed("'version' needs a package in 'name'"));
            };
            if Requirement::parse(first).is_some_and(|r| !r.specifiers.is_empty()) {
                return Err(TaskError::failed(
                    "The 'version' argument conflicts with any version specifier provided along with a package name. \
                     Please keep the version specifier, but remove the 'version' argument.",
                ));
            }
            let v = version.trim();
            *first = match v.starts_with(|c: char| c.is_ascii_digit()) {
                true => format!("{first}=={v}"),
                false => format!("{first}{v}"),
            };
        }
        Ok(names)
    }

    fn validate(&self) -> Result<(), TaskError> {
        match (self.name.is_empty(), &self.requirements) {
            (true, None) => {
                return Err(TaskError::failed(
                    "one of the following is required: name, requirements",
                ));
            }
            (false, Some(_)) => {
                return Err(TaskError::failed(
                    "parameters are mutually exclusive: name|requirements",
                ));
            }
            _ => {}
        }
        if self.executable.is_some() && self.virtualenv.is_some() {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: executable|virtualenv",
            ));
        }
        if self.state == "latest" && self.version.is_some() {
            return Err(TaskError::failed(
                "version is incompatible with state=latest",
            ));
        }
        if let Some(umask) = &self.umask
            && u32::from_str_radix(umask, 8).is_err()
        {
            return Err(TaskError::failed("umask must be an octal integer"));
        }
        Ok(())
    }

    fn chdir(&self) -> String {
        self.chdir.clone().unwrap_or_else(|| "/tmp".to_string())
    }

    /// The shell lines every script starts with: the umask, the directory,
    /// and `env` for the virtualenv.
    fn prelude(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str("export LC_ALL=C PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1\n");
        if self.break_system_packages {
            s.push_str("export PIP_BREAK_SYSTEM_PACKAGES=1\n");
        }
        if let Some(umask) = &self.umask {
            s.push_str(&format!("umask {}\n", shell_quote(umask)));
        }
        s.push_str(&format!(
            "cd {} || fail chdir\n",
            remote::path_arg(&self.chdir())
        ));
        if let Some(env) = &self.virtualenv {
            s.push_str(&format!("env={}\n", remote::path_arg(env)));
        }
        s
    }

    /// Defines `pipc`, the pip the task runs, failing with `nopip`.
    fn find_pip(&self) -> String {
        if self.virtualenv.is_some() {
            return "pip=\nfor c in pip3 pip; do [ -x \"$env/bin/$c\" ] && { pip=\"$env/bin/$c\"; break; }; done\n\
                    [ -n \"$pip\" ] || fail nopip\nexport PATH=\"$env/bin:$PATH\"\npipc() { \"$pip\" \"$@\"; }\n"
                .to_string();
        }
        if let Some(exe) = &self.executable {
            return format!(
                "pip=$(command -v {}) || fail nopip\npipc() {{ \"$pip\" \"$@\"; }}\n",
                remote::path_arg(exe)
            );
        }
        "if pip=$(command -v pip3) || pip=$(command -v pip); then pipc() { \"$pip\" \"$@\"; }\n\
         elif python3 -c 'import pip' >/dev/null 2>&1; then pip='python3 -m pip'; pipc() { python3 -m pip \"$@\"; }\n\
         else fail nopip; fi\n"
            .to_string()
    }

    fn extra_words(&self) -> Result<Vec<String>, TaskError> {
        let mut words = match &self.extra_args {
            Some(extra) => remote::shlex_split(extra)
                .map_err(|e| TaskError::failed(format!("extra_args cannot be split: {e}")))?,
            None => Vec::new(),
        };
        if self.editable && !words.iter().any(|w| w == "-e") {
            words.push("-e".to_string());
        }
        Ok(words)
    }

    fn targets(&self) -> Result<Vec<String>, TaskError> {
        match &self.requirements {
            Some(file) => Ok(vec!["-r".to_string(), file.clone()]),
            None => self.packages(),
        }
    }

    fn state_args(&self) -> &'static [&'static str] {
        match self.state.as_str() {
            "absent" => &["uninstall", "-y"],
            "latest" => &["install", "-U"],
            "forcereinstall" => &["install", "-U", "--force-reinstall"],
            _ => &["install"],
        }
    }

    /// The pip command line as registered (`cmd`): a list, as Ansible's,
    /// starting with the pip the host runs.
    fn command_line(&self, pip: &str, targets: &[String]) -> Result<Vec<String>, TaskError> {
        let mut words: Vec<String> = pip.split(' ').map(String::from).collect();
        words.extend(self.state_args().iter().map(|w| w.to_string()));
        words.extend(self.extra_words()?);
        words.extend(targets.iter().cloned());
        Ok(words)
    }

    /// The pip a new virtualenv will have.
    fn venv_pip(&self) -> String {
        let env = self.virtualenv.clone().unwrap_or_default();
        match env.starts_with('/') {
            true => format!("{env}/bin/pip3"),
            false => format!("{}/{env}/bin/pip3", self.chdir()),
        }
    }

    fn quoted(words: &[String]) -> String {
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn check_script(&self) -> Result<String, TaskError> {
        let mut s = self.prelude();
        if self.virtualenv.is_some() {
            s.push_str(
                "if [ -e \"$env/bin/activate\" ]; then echo venv=1; else echo venv=0; exit 0; fi\n",
            );
        }
        s.push_str(&self.find_pip());
        s.push_str(&format!(
            "echo \"pip_path=$pip\"\necho {FREEZE}\npipc list --format=freeze 2>/dev/null || pipc freeze || fail list\n"
        ));
        let dry_run =
            self.state == "latest" || (self.requirements.is_some() && self.state == "present");
        if dry_run {
            let mut words: Vec<String> = self.state_args().iter().map(|w| w.to_string()).collect();
            words.extend(["--dry-run", "--quiet", "--report", "-"].map(String::from));
            words.extend(self.extra_words()?);
            words.extend(self.targets()?);
            s.push_str(&format!(
                "e=$(mktemp) || fail tmp\ntrap 'rm -f \"$e\"' EXIT\necho {REPORT}\n\
                 if ! pipc {} 2>\"$e\"; then\n\
                 if grep -q 'no such option' \"$e\"; then echo {NO_REPORT}; else cat \"$e\" >&2; fail dryrun; fi\nfi\n",
                Self::quoted(&words)
            ));
        }
        Ok(s)
    }

    /// The names that need pip, or `None` when the host is as wanted.
    fn decide(&self, facts: &Facts) -> Result<Option<Vec<String>>, TaskError> {
        let targets = self.targets()?;
        if !facts.venv_exists {
            return Ok(Some(targets));
        }
        match self.state.as_str() {
            "forcereinstall" => Ok(Some(targets)),
            "latest" => Ok(match &facts.would_install {
                Some(list) if list.is_empty() => None,
                _ => Some(targets),
            }),
            "absent" => {
                let installed: Vec<String> = targets
                    .into_iter()
                    .filter(|t| match Requirement::parse(t) {
                        Some(r) => facts.installed.contains_key(&r.name),
                        None => true,
                    })
                    .collect();
                Ok((!installed.is_empty()).then_some(installed))
            }
            _ if self.requirements.is_some() => Ok(match &facts.would_install {
                Some(list) if list.is_empty() => None,
                _ => Some(targets),
            }),
            _ => {
                let missing = targets.iter().any(|t| match Requirement::parse(t) {
                    Some(r) => !facts
                        .installed
                        .get(&r.name)
                        .is_some_and(|v| r.satisfied_by(v)),
                    None => true,
                });
                Ok(missing.then_some(targets))
            }
        }
    }

    fn create_venv(&self) -> Result<String, TaskError> {
        let words = remote::shlex_split(&self.virtualenv_command)
            .map_err(|e| TaskError::failed(format!("virtualenv_command cannot be split: {e}")))?;
        let Some(first) = words.first() else {
            return Err(TaskError::failed("virtualenv_command is empty"));
        };
        let is_venv = remote::base_name(first) == "pyvenv"
            || words.windows(2).any(|w| w[0] == "-m" && w[1] == "venv");
        let mut cmd = Self::quoted(&words);
        if self.virtualenv_site_packages {
            cmd.push_str(" --system-site-packages");
        }
        match (&self.virtualenv_python, is_venv) {
            (Some(_), true) => {
                return Err(TaskError::failed(
                    "virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command; \
                     use virtualenv_command to specify a different Python interpreter",
                ));
            }
            (Some(python), false) => {
                cmd.push_str(&format!(" {}", shell_quote(&format!("-p{python}"))))
            }
            (None, _) => {}
        }
        Ok(format!(
            "command -v {} >/dev/null 2>&1 || fail novenv\n{cmd} \"$env\" || fail venv\n",
            shell_quote(first)
        ))
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let msg = match failure.code.as_deref() {
            Some("nopip") => match (&self.virtualenv, &self.executable) {
                (Some(env), _) => format!("Unable to find pip in the virtualenv, {env}"),
                (None, Some(exe)) => format!("Unable to find any of {exe} to use. pip needs to be installed."),
                (None, None) => "Unable to find any of pip3, pip to use. pip needs to be installed (Debian: apt-get install python3-pip)".to_string(),
            },
            Some("novenv") => format!(
                "Failed to find required executable \"{}\" (virtualenv_command); install it, or use `virtualenv_command: python3 -m venv`",
                self.virtualenv_command
            ),
            Some("venv") => format!(
                "Failed to create the virtualenv {}",
                self.virtualenv.clone().unwrap_or_default()
            ),
            Some("chdir") => format!("chdir {} is not a directory the task can enter", self.chdir()),
            Some("dryrun") => "pip could not resolve the packages".to_string(),
            Some("install") => "pip failed".to_string(),
            _ => "could not list the installed Python packages".to_string(),
        };
        remote::with_detail(msg, &failure)
    }

    /// The entries of `name` whose distribution is among `changing`
    /// (canonical names), for a collapsed loop's items; an entry that is
    /// no plain requirement (a URL, a path) counts as changing. `None`
    /// when the names cannot be told apart (a requirements file, names
    /// that pip's syntax joined).
    fn entries_among(&self, changing: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let targets = self.packages().ok()?;
        if self.requirements.is_some() || targets.len() != self.name.len() {
            return None;
        }
        Some(
            self.name
                .iter()
                .zip(&targets)
                .filter(|(_, t)| Requirement::parse(t).is_none_or(|r| changing(&r.name)))
                .map(|(n, _)| n.clone())
                .collect(),
        )
    }

    fn base(&self, cmd: Vec<String>) -> Outcome {
        let opt = |v: &Option<String>| v.clone().map_or(serde_json::Value::Null, Into::into);
        Outcome::ok()
            .with_data("cmd", cmd)
            .with_data("name", self.name.clone())
            .with_data("version", opt(&self.version))
            .with_data("state", self.state.clone())
            .with_data("requirements", opt(&self.requirements))
            .with_data("virtualenv", opt(&self.virtualenv))
    }
}

#[async_trait]
impl Task for Pip {
    type Drift = PipDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<PipDrift>, TaskError> {
        self.validate()?;
        if self.virtualenv.is_some() {
            self.create_venv()?;
        }
        let out = cx.run(&self.check_script()?, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let facts = parse_facts(
            &out.stdout_text(),
            self.virtualenv.is_none(),
            &self.venv_pip(),
        )?;
        let decided = self.decide(&facts)?;
        let Some(targets) = decided else {
            let cmd = self.command_line(&facts.pip, &self.targets()?)?;
            return Ok(Check::InSync(
                self.base(cmd).with_data("stdout", facts.freeze),
            ));
        };
        let mut words = Vec::new();
        if !facts.venv_exists {
            words.push(format!(
                "create the virtualenv {}",
                self.virtualenv.clone().unwrap_or_default()
            ));
        }
        let verb = match self.state.as_str() {
            "absent" => "uninstall",
            "latest" => "upgrade",
            "forcereinstall" => "reinstall",
            _ => "install",
        };
        match &facts.would_install {
            Some(list) if !list.is_empty() => words.push(format!("{verb} {}", list.join(", "))),
            _ => words.push(format!("{verb} {}", targets.join(" "))),
        }
        let mut preview = self.base(self.command_line(&facts.pip, &targets)?);
        preview.changed = true;
        // Which names change, for a collapsed loop's items: those pip's
        // dry run names, else those missing, outdated or (for `absent`)
        // installed.
        let would: Option<Vec<String>> = facts.would_install.as_ref().map(|list| {
            list.iter()
                .filter_map(|l| l.split_whitespace().next())
                .map(version::canonical_name)
                .collect()
        });
        preview.changed_entries = self.entries_among(|name| {
            if !facts.venv_exists || self.state == "forcereinstall" {
                return true;
            }
            let installed = facts.installed.get(name);
            match (self.state.as_str(), &would) {
                ("absent", _) => installed.is_some(),
                (_, Some(would)) => would.iter().any(|w| w == name),
                _ => self
                    .name
                    .iter()
                    .filter_map(|n| Requirement::parse(n))
                    .find(|r| r.name == name)
                    .is_none_or(|r| !installed.is_some_and(|v| r.satisfied_by(v))),
            }
        });
        preview.msg = Some(format!("would {}", words.join(", then ")));
        Ok(Check::Drift {
            drift: PipDrift {
                create_venv: !facts.venv_exists,
                targets,
                freeze_before: facts.venv_exists.then_some(facts.freeze),
                pip: facts.pip,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: PipDrift) -> Result<Outcome, TaskError> {
        let mut s = self.prelude();
        if drift.create_venv {
            s.push_str(&self.create_venv()?);
        }
        s.push_str(&self.find_pip());
        let mut words: Vec<String> = self.state_args().iter().map(|w| w.to_string()).collect();
        words.extend(self.extra_words()?);
        words.extend(drift.targets.iter().cloned());
        let ok_absent = if self.state == "absent" {
            " || grep -q 'not installed' \"$e\""
        } else {
            ""
        };
        s.push_str(&format!(
            "e=$(mktemp) || fail tmp\ntrap 'rm -f \"$e\"' EXIT\n\
             pipc {} 2>\"$e\"; rc=$?\ncat \"$e\" >&2\n[ $rc = 0 ]{ok_absent} || fail install\n\
             echo {FREEZE}\npipc list --format=freeze 2>/dev/null || pipc freeze || :\n",
            Self::quoted(&words)
        ));
        let out = cx.run(&s, &[]).await?;
        let text = out.stdout_text();
        let (log, after) = text
            .split_once(&format!("{FREEZE}\n"))
            .unwrap_or((&text, ""));
        let registered = remote::without_marker(&out);
        let mut outcome = self
            .base(self.command_line(&drift.pip, &drift.targets)?)
            .with_output(&registered);
        outcome.data.insert("stdout".into(), log.trim_end().into());
        if !out.success() {
            let err = self.failure(&out);
            return Err(TaskError::failed_with(err.to_string(), outcome));
        }
        let said = if self.state == "absent" {
            log.contains("Successfully uninstalled")
        } else {
            log.contains("Successfully installed")
        };
        let differs = drift.freeze_before.as_deref().is_some_and(|b| b != after);
        outcome.changed = drift.create_venv || said || differs;
        // Which names changed, for a collapsed loop's items: those whose
        // installed version is not what it was (every one in a new
        // virtualenv).
        let listed = |freeze: &str| {
            parse_facts(&format!("{FREEZE}\n{freeze}"), true, "").map(|f| f.installed)
        };
        let now = listed(after).unwrap_or_default();
        let was = drift.freeze_before.as_deref().map(listed);
        outcome.changed_entries = self.entries_among(|name| match &was {
            Some(Ok(was)) => was.get(name) != now.get(name),
            _ => true,
        });
        outcome.msg = Some(
            log.lines()
                .rev()
                .find(|l| l.starts_with("Successfully"))
                .unwrap_or(if outcome.changed {
                    "changed"
                } else {
                    "nothing to do"
                })
                .to_string(),
        );
        Ok(outcome)
    }

    /// An item's result names its own packages, as Ansible's run of the
    /// module for that item does.
    fn item_outcome(&self, whole: &Outcome, entries: &[String]) -> Outcome {
        let mut share = crate::task::item_share(whole, entries);
        share.data.insert("name".into(), entries.to_vec().into());
        share
    }
}
