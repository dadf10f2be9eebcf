//! The counts a finished run hands back to the command line.
//!
//! Kept apart from the executor so that what a caller reads of a run (its
//! exit status and its counts) is one small type, whatever the run did.

use indexmap::IndexMap;

use crate::error::ExitStatus;
use crate::report::HostStats;

/// The counts of a finished run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub hosts: IndexMap<String, HostStats>,
    /// The run was interrupted before it finished.
    pub interrupted: bool,
}

impl Summary {
    /// 0 only when nothing failed and every host was reached.
    pub fn exit_status(&self) -> ExitStatus {
        if self.interrupted {
            ExitStatus::Interrupted
        } else if self.hosts.values().any(|s| s.failed > 0) {
            ExitStatus::TaskFailed
        } else if self.hosts.values().any(|s| s.unreachable > 0) {
            ExitStatus::Unreachable
        } else {
            ExitStatus::Success
        }
    }

    pub fn changed(&self) -> u32 {
        self.hosts.values().map(|s| s.changed).sum()
    }
}
