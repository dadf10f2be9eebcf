//! Jump hosts (`ProxyJump`, `-J`) for the native transport: the jump host
//! is connected natively, and the host behind it is reached over a
//! `direct-tcpip` channel of that connection, on which the host's own SSH
//! connection runs as on a socket.
//!
//! A jump host is connected once per run however many hosts sit behind it:
//! its connection is kept in the run's table ([`Jumps`], carried by the
//! run's `ConnectOptions`, so it ends with the run) keyed by how it is reached (user,
//! address, port and its own jump chain), and every host behind it opens a
//! channel on it. The first host to need it connects; the others wait for
//! that connection rather than opening their own, which is what keeps a
//! bastion's `MaxStartups` out of the picture for large fleets. A
//! connection that died is opened again by the next host that needs it.
//!
//! Each jump host is resolved like any host, from the ssh configuration
//! (with the command line's `-F` file, as ssh passes it on) but without the
//! inventory's options, which are the final host's. A chain `a,b` reaches
//! `b` through `a`; a jump host's own `ProxyJump` is honoured the same way
//! when it is the first of its chain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};

use russh::ChannelStream;
use russh::client::{Handle, Msg};

use crate::connection::ConnectOptions;
use crate::connection::native::{Client, Failure, Io, Native, OpenError, Via, ViaStream};
use crate::connection::ssh_config::{self, Env, Hop, Resolution};

/// How deeply jump hosts may stand behind jump hosts.
const MAX_DEPTH: usize = 8;

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Handle<Client>>>>>;

/// The open jump connections of one run, by [`Jump::key`]. Clones share
/// the table.
#[derive(Clone, Default)]
pub struct Jumps(Arc<StdMutex<HashMap<String, Slot>>>);

impl std::fmt::Debug for Jumps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.0.lock().map(|m| m.len()).unwrap_or_default();
        f.debug_struct("Jumps").field("open", &open).finish()
    }
}

impl Jumps {
    fn slot(&self, key: &str) -> Slot {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(key.to_string()).or_default().clone()
    }
}

/// One jump host, ready to be connected.
pub struct Jump {
    /// User, address, port and the chain before it.
    key: String,
    /// The jump host as written, for messages.
    name: String,
    hop: Native,
    /// The run's open jump connections.
    jumps: Jumps,
}

impl Jump {
    /// The jump chain for `hops` (the last one is the one the host is
    /// reached from), or why the native client cannot take it.
    pub fn chain(
        hops: &[Hop],
        config_file: Option<&str>,
        env: &Env<'_>,
        options: &ConnectOptions,
    ) -> Result<Option<Arc<Jump>>, String> {
        chain(hops, config_file, env, options, 0)
    }

    /// A `direct-tcpip` channel to `host:port` from the jump host, as a
    /// stream; the jump host is connected first if no host did yet.
    async fn open_channel(&self, host: &str, port: u16) -> Result<ChannelStream<Msg>, Failure> {
        let slot = self.jumps.slot(&self.key);
        let handle = {
            let mut held = slot.lock().await;
            match held.as_ref().filter(|h| !h.is_closed()) {
                Some(handle) => handle.clone(),
                None => {
                    // Boxed: a jump host may itself be reached through one.
                    let connected = Box::pin(self.hop.connect()).await;
                    let handle = Arc::new(connected.map_err(|e| self.failed(e))?);
                    *held = Some(handle.clone());
                    handle
                }
            }
        };
        let channel = handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|error| {
                Failure::transient(
                    format!(
                        "the jump host {} could not open a connection to {host} port {port}: {error}",
                        self.name
                    ),
                    format!(
                        "check that {host} port {port} is reachable from {} and that its sshd allows TCP forwarding (AllowTcpForwarding, PermitOpen)",
                        self.name
                    ),
                )
            })?;
        Ok(channel.into_stream())
    }

    fn failed(&self, error: OpenError) -> Failure {
        let (message, hint) = match error {
            OpenError::Fallback(reason) => (reason, None),
            OpenError::Failed(error) => match error {
                crate::connection::ConnError::Connect { message, hint, .. } => (message, hint),
                other => (other.to_string(), None),
            },
        };
        Failure::fatal(
            format!("cannot connect to the jump host {}: {message}", self.name),
            hint.unwrap_or_else(|| {
                format!(
                    "the jump host {} is reached with its own ssh configuration (Host blocks, -F), not the inventory's options",
                    self.name
                )
            }),
        )
    }
}

impl Via for Jump {
    fn channel<'a>(&'a self, host: &'a str, port: u16) -> ViaStream<'a> {
        Box::pin(async move {
            let stream = self.open_channel(host, port).await?;
            Ok(Box::new(stream) as Box<dyn Io>)
        })
    }

    /// The jump host as written, with the ones before it.
    fn describe(&self) -> String {
        self.name.clone()
    }
}

fn chain(
    hops: &[Hop],
    config_file: Option<&str>,
    env: &Env<'_>,
    options: &ConnectOptions,
    depth: usize,
) -> Result<Option<Arc<Jump>>, String> {
    let Some((last, before)) = hops.split_last() else {
        return Ok(None);
    };
    if depth >= MAX_DEPTH {
        return Err("jump hosts nest too deeply".to_string());
    }
    let target = last.target(config_file);
    let settings = match ssh_config::resolve(&target, env) {
        Resolution::Native(settings) => *settings,
        Resolution::NotUnderstood { reason } => {
            return Err(format!("the jump host {}: {reason}", last.host));
        }
    };
    let via = if before.is_empty() {
        let own = settings.proxy_jump.clone();
        chain(
            &own,
            settings.config_file.as_deref(),
            env,
            options,
            depth + 1,
        )?
    } else {
        chain(before, config_file, env, options, depth + 1)?
    };
    let key = format!(
        "{}@{}:{} via {}",
        settings.user,
        settings.host_name,
        settings.port,
        via.as_ref().map_or("-", |v| v.key.as_str())
    );
    let name = match &via {
        Some(via) => format!("{} (via {})", last.host, via.name),
        None => last.host.clone(),
    };
    // A jump host never falls back on its own: the host behind it does,
    // as a whole, when the chain is not understood.
    let hop = Native::prepare(
        &last.host,
        settings,
        options,
        true,
        via.clone().map(|v| v as Arc<dyn Via>),
    )
    .map_err(|e| match e {
        OpenError::Fallback(reason) => reason,
        OpenError::Failed(error) => error.to_string(),
    })?;
    Ok(Some(Arc::new(Jump {
        key,
        name,
        hop,
        jumps: options.jumps.clone(),
    })))
}
