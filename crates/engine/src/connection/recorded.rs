//! A connection that keeps the scripts a task sends, for `-vv`.
//!
//! The scripts are recorded as the task wrote them, before the escalation
//! and `environment` views wrap them, so what is shown is the task's own
//! work. The invocation masks them like any other output before they reach
//! a reporter: a secret written into a script on the host is shown as
//! `********`.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::connection::{ConnError, Connection, Output, View, escalate};

pub struct Recorded<'a> {
    pub conn: &'a dyn Connection,
    pub scripts: &'a Mutex<Vec<String>>,
}

impl Recorded<'_> {
    fn keep(&self, script: &str) {
        self.scripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(script.to_string());
    }
}

#[async_trait]
impl View for Recorded<'_> {
    fn wrapped(&self) -> &dyn Connection {
        self.conn
    }

    async fn script(
        &self,
        escalation: Option<&escalate::Escalation>,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.keep(script);
        match escalation {
            Some(e) => self.conn.run_as(e, script, stdin, timeout).await,
            None => self.conn.run(script, stdin, timeout).await,
        }
    }
}
