//! The implicit fact gathering at the start of a play (and of each
//! `serial` batch), as Ansible's "Gathering Facts" task.
//!
//! `gather_facts: false` turns it off, `gather_facts: true` always gathers,
//! and without the keyword a play gathers unless none of its templates can
//! read a fact (`facts::needed::play_reads_facts`), which `-v` reports.

use super::Executor;
use crate::facts::needed::play_reads_facts;
use crate::playbook::{Play, TaskDef};
use crate::report::{Event, Reporter};
use crate::yaml::{Node, Value};

impl Executor<'_> {
    /// The gathering task of a play on `hosts`, if it gathers.
    pub(super) fn gathering(
        &self,
        play: &Play,
        hosts: &[String],
        reporter: &mut dyn Reporter,
    ) -> Option<TaskDef> {
        match play.gather_facts {
            Some(false) => return None,
            Some(true) => {}
            None => {
                if !play_reads_facts(play, &self.inventory(), hosts, &self.playbook.dir) {
                    reporter.report(&Event::Notice {
                        message: "facts not gathered: no template of this play reads a fact \
                                  (write `gather_facts: true` to gather them anyway)"
                            .into(),
                    });
                    return None;
                }
            }
        }
        Some(implicit_setup(play))
    }
}

/// "Gathering Facts": `setup` with the play's `gather_subset`,
/// `gather_timeout` and `fact_path`, tagged `always` as in Ansible.
fn implicit_setup(play: &Play) -> TaskDef {
    let at = &play.node;
    let mut task = TaskDef::keywords(at);
    task.name = Some(Node::new(
        Value::Str("Gathering Facts".into()),
        at.span,
        &at.src,
    ));
    task.module = "setup".into();
    task.module_key = Node::new(Value::Str("setup".into()), at.span, &at.src);
    task.args = play.gather_args.clone();
    task.tags = vec!["always".into()];
    task
}
