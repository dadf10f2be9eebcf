//! The `template` task: a file rendered on the control machine, then put on
//! the host exactly like `copy` puts content (atomic write, sha256 compare,
//! mode and owner in the same round trip).
//!
//! Rendering needs the host's variables and the template engine, which
//! belong to the executor; the task reaches them through its `Context`:
//! `find_src` looks `src` up the way Ansible does (`templates/` beside the
//! playbook, then the playbook's directory; roles come first), and
//! `render_file` renders the text (honouring `trim_blocks` and
//! `lstrip_blocks`). The check renders, then compares like `copy`, so
//! check mode, diffs, `validate` and `backup` are `copy`'s.
//! [`Template::rendered`] gives the [`RenderedTemplate`] for text rendered
//! elsewhere.

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::search_path::SrcKind;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::{self, FileDrift, FileOptions, WantedFile};
use crate::tasks::remote;

/// The arguments of `template`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The template on the control machine, as written; relative paths are
    /// looked up with `Context::find_src`.
    pub src: String,
    pub dest: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    #[serde(default)]
    pub backup: bool,
    #[serde(default = "yes")]
    pub force: bool,
    pub validate: Option<String>,
    /// For the renderer: drop the first newline after a block tag. Ansible's
    /// default is true, unlike Jinja's.
    #[serde(default = "yes")]
    pub trim_blocks: bool,
    /// For the renderer: strip whitespace before a block tag on its line.
    #[serde(default)]
    pub lstrip_blocks: bool,
    /// For the renderer: the line ending of the output, as written; see
    /// [`Template::line_ending`].
    #[serde(default = "newline")]
    pub newline_sequence: String,
    /// SELinux contexts: ignored where SELinux is off (`tasks/selinux.rs`).
    pub seuser: Option<String>,
    pub serole: Option<String>,
    pub setype: Option<String>,
    pub selevel: Option<String>,
}

fn yes() -> bool {
    true
}

fn newline() -> String {
    "\n".to_string()
}

/// The parameters of `template`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "template",
        vec![
            Param::new("src", Kind::Path).required(),
            Param::new("dest", Kind::Path).required(),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("backup", Kind::Bool).default(false),
            Param::new("force", Kind::Bool).default(true),
            Param::new("validate", Kind::Str),
            Param::new("trim_blocks", Kind::Bool).default(true),
            Param::new("lstrip_blocks", Kind::Bool).default(false),
            Param::new("newline_sequence", Kind::Str)
                .default("\n")
                .choices(&["\n", "\r", "\r\n", "\\n", "\\r", "\\r\\n"]),
        ]
        .into_iter()
        .chain(crate::tasks::selinux::params())
        .collect(),
    )
}

impl Template {
    /// The line ending the renderer should produce. Like Ansible, this
    /// accepts the escaped spellings (`'\r\n'` in single quotes) too.
    pub fn line_ending(&self) -> &str {
        match self.newline_sequence.as_str() {
            "\\r\\n" | "\r\n" => "\r\n",
            "\\r" | "\r" => "\r",
            _ => "\n",
        }
    }

    /// Reads the template source on the control machine.
    pub async fn read_src(&self, path: &Path) -> Result<String, TaskError> {
        let shown = path.display();
        // A vaulted template is decrypted first, as Ansible does.
        let bytes = crate::vault::read_file(path).map_err(|e| {
            TaskError::failed(format!(
                "Could not find or access '{}' on the control machine: {e}",
                self.src
            ))
        })?;
        String::from_utf8(bytes)
            .map_err(|_| TaskError::failed(format!("template {shown} is not UTF-8 text")))
    }

    /// Finds, reads and renders `src` for this host.
    async fn render(&self, cx: &Context<'_>) -> Result<RenderedTemplate, TaskError> {
        let path = cx.find_src(SrcKind::Templates, &self.src);
        let source = self.read_src(&path).await?;
        let extra = crate::tasks::template_vars::template_vars(&self.src, &path, &self.dest);
        let text = cx
            .render_file(&source, self.trim_blocks, self.lstrip_blocks, &extra)
            .map_err(|e| TaskError::failed(format!("could not render {}: {e}", self.src)))?;
        let text = match self.line_ending() {
            "\n" => text,
            ending => text.replace('\n', ending),
        };
        Ok(self.clone().rendered(text))
    }

    /// The runnable task, given the text the executor rendered from `src`.
    pub fn rendered(self, text: String) -> RenderedTemplate {
        RenderedTemplate {
            template: self,
            text,
        }
    }
}

/// A template whose text is rendered: a `copy` of that text to `dest`.
#[derive(Debug, Clone)]
pub struct RenderedTemplate {
    pub template: Template,
    pub text: String,
}

impl RenderedTemplate {
    fn wanted(&self) -> Result<WantedFile, TaskError> {
        let t = &self.template;
        WantedFile::new(
            &t.dest,
            Some(remote::base_name(&t.src).to_string()),
            self.text.clone().into_bytes(),
            FileOptions {
                mode: t.mode.as_deref(),
                owner: t.owner.as_deref(),
                group: t.group.as_deref(),
                force: t.force,
                backup: t.backup,
                validate: t.validate.as_deref(),
            },
        )
    }
}

#[async_trait]
impl Task for Template {
    type Drift = FileDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<FileDrift>, TaskError> {
        crate::tasks::selinux::check(
            cx,
            crate::tasks::selinux::Wanted::of(
                &self.seuser,
                &self.serole,
                &self.setype,
                &self.selevel,
            ),
        )
        .await?;
        self.render(cx).await?.check(cx).await
    }

    async fn apply(&self, cx: &Context<'_>, drift: FileDrift) -> Result<Outcome, TaskError> {
        copy::apply_file(cx, drift).await
    }
}

#[async_trait]
impl Task for RenderedTemplate {
    type Drift = FileDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<FileDrift>, TaskError> {
        copy::check_file(cx, self.wanted()?).await
    }

    async fn apply(&self, cx: &Context<'_>, drift: FileDrift) -> Result<Outcome, TaskError> {
        copy::apply_file(cx, drift).await
    }
}
