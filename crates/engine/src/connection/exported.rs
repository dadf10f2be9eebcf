//! A connection seen with a task's `environment`: every script runs with
//! the task's variables exported first (`crate::environment`). The view
//! wraps whatever the task runs on, an escalated view included, so the
//! variables are set inside the become user's shell, after sudo's
//! environment reset.

use std::time::Duration;

use async_trait::async_trait;

use crate::connection::{ConnError, Connection, Output, View, escalate};

pub struct Exported<'a> {
    pub conn: &'a dyn Connection,
    /// The `export NAME='value'` lines (`environment::exports`).
    pub exports: String,
}

impl Exported<'_> {
    fn with_exports(&self, script: &str) -> String {
        format!("{}{script}", self.exports)
    }
}

#[async_trait]
impl View for Exported<'_> {
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
        let script = self.with_exports(script);
        match escalation {
            Some(e) => self.conn.run_as(e, &script, stdin, timeout).await,
            None => self.conn.run(&script, stdin, timeout).await,
        }
    }
}
