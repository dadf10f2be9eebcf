//! How plays and tasks are named on screen: rendered with the variables
//! known at that point, prefixed with their role, and masked when they
//! would show a secret.
//!
//! Names are rendered in several places (the play header, each task's
//! header, `--step`, the interrupted list), so they are computed here once.

use super::Executor;
use crate::error::Error;
use crate::params::text;
use crate::playbook::TaskDef;

impl<'a> Executor<'a> {
    /// Renders a play-level value (name, hosts) with extra variables only,
    /// as Ansible does before any host is known.
    pub(super) fn render_static(&self, node: &crate::yaml::Node) -> Result<String, Error> {
        Ok(text(
            &self.templates.render_node(node, &self.vars.play_level())?,
        ))
    }

    /// A play's name as shown: rendered with extra variables, and masked
    /// when it shows a secret.
    pub(super) fn play_name(&self, node: &crate::yaml::Node) -> Result<String, Error> {
        let mut vars = self.vars.play_level();
        vars.track(crate::secret::Taint::new());
        let name = text(&self.templates.render_node(node, &vars)?);
        Ok(self.templates.secrets(&vars).mask(&name))
    }

    /// A task's name as shown, rendered with the first host's variables and
    /// masked when it shows a secret (or a value computed from one).
    pub(super) fn task_name(&self, task: &TaskDef, host: &str) -> String {
        let name = self.plain_task_name(task, host);
        match &task.role {
            Some(role) => format!("{} : {name}", role.name),
            None => name,
        }
    }

    pub(super) fn plain_task_name(&self, task: &TaskDef, host: &str) -> String {
        match &task.name {
            Some(node) if node.has_template() => {
                let mut vars = self.vars.task(host, task, self.cfg.check);
                vars.track(crate::secret::Taint::new());
                let name = self
                    .templates
                    .render_node(node, &vars)
                    .map(|v| text(&v))
                    .unwrap_or_else(|_| node.scalar_text().unwrap_or_default());
                self.templates.secrets(&vars).mask(&name)
            }
            _ => task.display_name(),
        }
    }
}
