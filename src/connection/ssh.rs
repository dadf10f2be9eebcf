//! SSH transport (placeholder until the SSH engineer lands it).

use std::time::Duration;

use async_trait::async_trait;

use crate::connection::{ConnError, ConnectOptions, Connection, Output, Target};

pub struct SshConnection {
    name: String,
}

impl SshConnection {
    pub async fn open(
        target: &Target,
        _options: &ConnectOptions,
    ) -> Result<SshConnection, ConnError> {
        Ok(SshConnection {
            name: target.name.clone(),
        })
    }
}

#[async_trait]
impl Connection for SshConnection {
    async fn run(
        &self,
        _script: &str,
        _stdin: &[u8],
        _timeout: Duration,
    ) -> Result<Output, ConnError> {
        Err(ConnError::Connect {
            host: self.name.clone(),
            message: "SSH transport not built yet".to_string(),
            hint: None,
        })
    }

    async fn close(&self) {}
}
