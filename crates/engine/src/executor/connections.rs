//! Each host's connection: opened in the background when a play starts,
//! kept for the whole run, replaced when a play reaches the host another
//! way, reset on `meta: reset_connection`, and closed all at once at the end.
//!
//! These live apart from the task walk because they are the executor's only
//! contact with SSH: the rest of it only asks for "the connection of a host".

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};

use super::Executor;
use crate::connection::{self, ConnError, ConnectOptions, Connection, SshClient, Target};
use crate::error::{Error, InputError};
use crate::playbook::Play;
use crate::report::{Event, Reporter};

pub(super) type ConnFuture = Shared<BoxFuture<'static, Result<Arc<dyn Connection>, ConnError>>>;

/// Connection settings shared by every connection of a run, with the SSH
/// control directory created.
pub fn connect_options(
    persist: Option<Duration>,
    ssh_client: SshClient,
) -> Result<ConnectOptions, Error> {
    Ok(ConnectOptions {
        control_dir: control_dir()?,
        persist,
        connect_timeout: Duration::from_secs(10),
        retries: 3,
        ssh_client,
        jumps: Default::default(),
    })
}

impl<'a> Executor<'a> {
    /// Reports how each of `hosts` is connected, once per host, as soon as
    /// its connection is open.
    pub(super) fn announce(&mut self, hosts: &[String], reporter: &mut dyn Reporter) {
        for host in hosts {
            if self.announced.contains(host) {
                continue;
            }
            let open = self
                .conns
                .borrow()
                .get(host)
                .and_then(|fut| fut.peek().and_then(|r| r.as_ref().ok()).cloned());
            let Some(conn) = open else {
                continue;
            };
            reporter.report(&Event::Connected {
                host: host.clone(),
                via: conn.describe(),
            });
            for message in conn.warnings() {
                reporter.report(&Event::Warning {
                    host: Some(host.clone()),
                    message,
                });
            }
            self.announced.insert(host.clone());
        }
    }

    /// Starts opening a host's connection in the background, once per
    /// target: a play that reaches the host differently gets a new one.
    pub(super) fn open(&self, play: &Play, host: &str) {
        let target = self.target(play, host);
        let wanted = target.as_ref().ok().cloned();
        if self.conns.borrow().contains_key(host) {
            if self.opened.borrow().get(host) == Some(&wanted) {
                return;
            }
            if let Some(old) = self.conns.borrow_mut().remove(host) {
                self.retired.borrow_mut().push(old);
            }
        }
        self.opened.borrow_mut().insert(host.to_string(), wanted);
        let first = self.play_escalation(play, host);
        let options = self.options.clone();
        let forks = self.forks.clone();
        let fut: BoxFuture<'static, Result<Arc<dyn Connection>, ConnError>> = async move {
            let target = target?;
            // The handshake is the costly part of a connection, so it is
            // bounded by --forks like the work itself.
            let _slot = forks.acquire().await;
            connection::connect_as(&target, &options, first)
                .await
                .map(Arc::from)
        }
        .boxed();
        let shared = fut.shared();
        // Drive the connection now, not when the first task needs it.
        tokio::spawn(shared.clone().map(|_| ()));
        self.conns.borrow_mut().insert(host.to_string(), shared);
    }

    /// `meta: reset_connection` on `host`: its connection closes (every
    /// shell of it, escalated ones included, ends in order, so background
    /// jobs live on) and a new one starts opening, which the next task
    /// uses. A new login is how a session picks up a change of the user's
    /// groups, as in Ansible.
    pub(super) async fn reset_connection(&self, play: &Play, host: &str) {
        let old = self.conns.borrow_mut().remove(host);
        self.opened.borrow_mut().remove(host);
        if let Some(Ok(conn)) = match old {
            Some(fut) => Some(fut.await),
            None => None,
        } {
            conn.reset().await;
        }
        self.open(play, host);
    }

    /// Whom a task without become keywords of its own runs as on `host` in
    /// `play`: the play's keywords, the host's `ansible_become*` and the
    /// command line. The connection opens that user's shell first, so
    /// that a fleet reached as a login user and run as root pays nothing
    /// for becoming. Anything that cannot be resolved yet (a keyword
    /// templated on facts) opens the login user's shell, as before.
    pub(super) fn play_escalation(
        &self,
        play: &Play,
        host: &str,
    ) -> Option<connection::escalate::Escalation> {
        let vars = self.vars.host(host);
        let var = |name: &str| {
            if !vars.contains(name) {
                return Ok(None);
            }
            self.templates
                .eval_str(name, &vars)
                .map(Some)
                .map_err(|e| e.message.clone())
        };
        let render = |node: &crate::yaml::Node| self.templates.render_node(node, &vars);
        crate::escalation::resolve(&self.cfg.escalation, &[&play.escalation], &var, &render)
            .ok()
            .flatten()
    }

    pub(super) async fn connection(
        &self,
        play: &Play,
        host: &str,
    ) -> Result<Arc<dyn Connection>, ConnError> {
        let kept = self.conns.borrow().get(host).cloned();
        match kept {
            Some(fut) => fut.await,
            None => {
                // A delegate outside the play: connect now (not kept).
                let target = self.target(play, host)?;
                connection::connect(&target, &self.options)
                    .await
                    .map(Arc::from)
            }
        }
    }

    /// How to reach `host` in `play`: extra variables (`-e`), then its own
    /// connection variables, then the play's keywords, then the command
    /// line and settings.
    pub(super) fn target(&self, play: &Play, host: &str) -> Result<Target, ConnError> {
        let bad_vars = |e: InputError| ConnError::Connect {
            host: host.to_string(),
            message: e.message.clone(),
            hint: Some(format!(
                "fix the connection variables of `{host}` ({})",
                e.location()
            )),
        };
        let vars = self.vars.host(host);
        let inventory = self.inventory();
        let mut host_vars = inventory.connection_vars(host, &self.cfg.extra_vars);
        crate::inventory::render_connection_vars(&mut host_vars, |_, value| {
            self.templates.render_node(value.origin(), &vars)
        })
        .map_err(bad_vars)?;
        let target = inventory.target(host, &host_vars).map_err(bad_vars)?;
        let keys = &play.connection;
        if keys.remote_user.is_none() && keys.port.is_none() && keys.connection.is_none() {
            return Ok(self.cfg.connection.apply(target));
        }
        let has = |names: &[&str]| names.iter().any(|n| host_vars.contains_key(*n));
        let render = |node: &crate::yaml::Node| self.templates.render_node(node, &vars);
        let target = keys
            .apply(target, &has, &render)
            .map_err(|e| ConnError::Connect {
                host: host.to_string(),
                message: e.to_string(),
                hint: Some("fix the play's `remote_user`, `port` or `connection`".into()),
            })?;
        Ok(self.cfg.connection.apply(target))
    }

    /// Closes every connection at once: each close is a round trip (and,
    /// without `--ssh-persist`, stopping a master), so closing them in turn
    /// cost about 0.8 s at 100 hosts.
    pub(super) async fn close(&mut self) {
        let conns: Vec<Arc<dyn Connection>> = self
            .conns
            .get_mut()
            .drain()
            .map(|(_, fut)| fut)
            .chain(self.retired.get_mut().drain(..))
            .filter_map(|fut| fut.peek().and_then(|r| r.as_ref().ok()).cloned())
            .collect();
        futures::future::join_all(conns.iter().map(|c| c.close())).await;
    }
}

pub(super) fn hint_of(e: &ConnError) -> Vec<String> {
    match e {
        ConnError::Connect { hint: Some(h), .. } => vec![h.clone()],
        _ => Vec::new(),
    }
}

/// A private, short directory for SSH control sockets. Unix socket paths
/// are limited to about 104 bytes, so this must stay short.
fn control_dir() -> Result<PathBuf, Error> {
    let uid = nix::unistd::getuid();
    let dir = PathBuf::from(format!("/tmp/dtrplay-{uid}"));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        context: format!(
            "could not create the SSH control directory {}",
            dir.display()
        ),
        source,
    })?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        Error::Io {
            context: format!("could not make {} private", dir.display()),
            source,
        }
    })?;
    Ok(dir)
}
