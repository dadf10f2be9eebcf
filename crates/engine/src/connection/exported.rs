//! A connection seen with a task's `environment`: every script runs with
//! the task's variables exported first (`crate::environment`). The view
//! wraps whatever the task runs on, an escalated view included, so the
//! variables are set inside the become user's shell, after sudo's
//! environment reset.

use std::time::Duration;

use async_trait::async_trait;

use crate::connection::{ConnError, Connection, Output, escalate};

pub struct Exported<'a> {
    pub conn: &'a dyn Connection,
    /// The `export NAME='value'` lines (`environment::exports`).
    pub exports: String,
}

impl Exported<'_> {
    fn script(&self, script: &str) -> String {
        format!("{}{script}", self.exports)
    }
}

#[async_trait]
impl Connection for Exported<'_> {
    async fn run(
        &self,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.conn.run(&self.script(script), stdin, timeout).await
    }

    async fn run_as(
        &self,
        escalation: &escalate::Escalation,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.conn
            .run_as(escalation, &self.script(script), stdin, timeout)
            .await
    }

    /// The view owns nothing: the connection is closed by its owner.
    async fn close(&self) {}

    fn describe(&self) -> String {
        self.conn.describe()
    }
}
