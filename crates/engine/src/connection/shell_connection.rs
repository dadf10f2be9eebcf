//! The long-lived remote shell's state machine, written once for every SSH
//! transport: open a shell, exchange a request with it, give up on one that
//! timed out or was abandoned and have the next shell stop its script,
//! reopen after a broken channel, and shut everything down in order.
//!
//! The transports differ only in how a shell's three byte streams reach
//! the host: a channel of an in-process russh connection (`native.rs`), or
//! a system `ssh` process or a session a running ControlMaster opens for us
//! (`ssh.rs`, `mux.rs`). Each implements [`Transport`] (open a shell as a
//! user, after stopping the orphans given) and [`Shell`] (exchange one
//! framed request, end in one of three ways); everything that decides
//! *when* to do which lives here, so the transports cannot drift apart.
//!
//! Commands on one host run one at a time: the state's mutex is held for
//! the whole of a command, which is also what makes a slot's shell and its
//! orphans consistent. Each become user (and method) has a slot of its own,
//! because only a shell of the same user may signal that user's orphans.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::connection::escalate::Escalation;
use crate::connection::remote_shell::{Orphan, Reply, Session};
use crate::connection::{ConnError, Connection, Output};

/// How long stopping a timed-out script may delay the timeout's report.
const REAP_GRACE: Duration = Duration::from_secs(10);

/// What carries remote shells to one host.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    type Shell: Shell;

    /// Starts a shell as `who` (the login user when `None`) whose first act
    /// is to stop `orphans`. The transport reconnects when its connection
    /// is gone and retries transient failures itself; a failed escalation
    /// is reported as [`ConnError::Become`] and never retried.
    async fn open(
        &self,
        who: Option<&Escalation>,
        orphans: &[Orphan],
    ) -> Result<Self::Shell, ConnError>;

    /// Whether a shell opened now could still reach the host, so that
    /// closing is worth stopping orphans for.
    async fn reachable(&self) -> bool {
        true
    }

    /// Ends what carries the shells once they are all shut down.
    async fn finish(&self);

    /// Ends what carries the shells for good, even what would otherwise be
    /// kept for the next run (`Connection::reset`).
    async fn finish_for_good(&self) {
        self.finish().await;
    }

    /// See [`Connection::describe`].
    fn describe(&self) -> String;

    /// See [`Connection::warnings`].
    fn warnings(&self) -> Vec<String>;
}

/// One running remote shell of a transport.
#[async_trait]
pub trait Shell: Send + 'static {
    /// Why an exchange broke off, in the transport's words.
    type Broken: std::error::Error + Send + Sync + 'static;

    /// The framing of this shell.
    fn session(&mut self) -> &mut Session;

    /// Whether a command is in flight. A shell still busy when the next
    /// command comes was abandoned mid-reply (its caller's future was
    /// dropped), so its stream cannot be trusted.
    fn busy(&self) -> bool;

    /// Whether the next command may run on this shell: idle, and its
    /// carrier still there.
    fn is_usable(&mut self) -> bool;

    /// Writes `request` and feeds what comes back to `reply` until it is
    /// complete.
    async fn exchange(&mut self, request: &[u8], reply: Reply) -> Result<Output, Self::Broken>;

    /// Whether the request never reached the host, so that the script
    /// cannot have started and one fresh shell may run it.
    fn unsent(broken: &Self::Broken) -> bool;

    /// Ends the channel at once, without a goodbye.
    async fn abandon(self);

    /// Ends a channel that broke during a command, and says why it broke
    /// (with what the transport's carrier said as it died).
    async fn lost(self, broken: &Self::Broken) -> String;

    /// Ends the shell in order, so that background processes that scripts
    /// started on purpose live on. `escalated` shells run under sudo or su.
    async fn shutdown(self, escalated: bool);

    /// Whether other shells of the host may ride on what carries this one
    /// (an OpenSSH master), so that it must end after them.
    fn carries_others(&self) -> bool {
        false
    }
}

/// A connection made of remote shells over a transport: the login user's,
/// and one per become user, each opened on first use.
pub struct ShellConnection<T: Transport> {
    /// The inventory name, used in every message.
    host: String,
    transport: T,
    state: Mutex<State<T::Shell>>,
}

/// A connection's shells: the login user's, then one per become user and
/// method (`Escalation::key`).
struct State<S> {
    plain: Slot<S>,
    escalated: HashMap<String, Slot<S>>,
}

impl<S: Shell> State<S> {
    /// The slot of the shell that runs as `who`.
    fn slot(&mut self, who: Option<&Escalation>) -> &mut Slot<S> {
        match who {
            None => &mut self.plain,
            Some(escalation) => self
                .escalated
                .entry(escalation.key())
                .or_insert_with(|| Slot::new(Some(escalation.clone()))),
        }
    }

    /// Every slot, the login user's first.
    fn slots(&mut self) -> impl Iterator<Item = &mut Slot<S>> {
        std::iter::once(&mut self.plain).chain(self.escalated.values_mut())
    }
}

/// One shell, and the shells of the same user given up while busy, which
/// the next shell for that user stops.
struct Slot<S> {
    /// Whom the shell runs as (`None`: the login user).
    escalation: Option<Escalation>,
    /// `None` after a timeout, a lost channel or `close`, until the next
    /// command opens a new one.
    shell: Option<S>,
    orphans: Vec<Orphan>,
    /// Why the shell could not start when the connection opened it ahead
    /// of its first use (`connection::connect_as`): the first command for
    /// it gets this error instead of asking sudo again.
    failed: Option<ConnError>,
}

impl<S: Shell> Slot<S> {
    fn new(escalation: Option<Escalation>) -> Slot<S> {
        Slot {
            escalation,
            shell: None,
            orphans: Vec::new(),
            failed: None,
        }
    }

    /// Ends the shell's channel; if a script may still run in it (a command
    /// was in flight), the shell is kept as an orphan for the next shell to
    /// stop.
    async fn give_up(&mut self) {
        if let Some(mut shell) = self.shell.take() {
            if shell.busy()
                && let Some(orphan) = shell.session().orphan()
            {
                self.orphans.push(orphan);
            }
            shell.abandon().await;
        }
    }
}

impl<T: Transport> ShellConnection<T> {
    /// A connection to `host` whose first shell the transport opens now:
    /// `first`'s escalated shell when the host's tasks will become that
    /// user (`connection::connect_as`), else the login user's. If `first`
    /// cannot start, the login user's shell is started instead, and the
    /// escalation's failure waits in its slot for the first task that
    /// becomes.
    pub async fn start(
        host: &str,
        transport: T,
        first: Option<&Escalation>,
    ) -> Result<ShellConnection<T>, ConnError> {
        let mut connection = ShellConnection {
            host: host.to_string(),
            transport,
            state: Mutex::new(State {
                plain: Slot::new(None),
                escalated: HashMap::new(),
            }),
        };
        let state = connection.state.get_mut();
        if let Some(escalation) = first {
            match connection.transport.open(Some(escalation), &[]).await {
                Ok(shell) => {
                    state.slot(Some(escalation)).shell = Some(shell);
                    return Ok(connection);
                }
                Err(error @ ConnError::Become { .. }) => {
                    state.slot(Some(escalation)).failed = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        state.plain.shell = Some(connection.transport.open(None, &[]).await?);
        Ok(connection)
    }

    /// The transport under the shells.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The shell of `slot` to run the next command on: the current one if
    /// it is usable, else a new one (which first stops the slot's orphans).
    async fn usable_shell<'a>(
        &self,
        slot: &'a mut Slot<T::Shell>,
    ) -> Result<&'a mut T::Shell, ConnError> {
        if slot.shell.as_mut().is_some_and(|shell| shell.is_usable()) {
            return slot.shell.as_mut().ok_or_else(|| ConnError::Lost {
                host: self.host.clone(),
                message: "the shell is gone".to_string(),
            });
        }
        slot.give_up().await;
        let shell = self
            .transport
            .open(slot.escalation.as_ref(), &slot.orphans)
            .await?;
        slot.orphans.clear();
        Ok(slot.shell.insert(shell))
    }

    /// Runs a script in the shell of `who` (the login user when `None`).
    async fn run_in(
        &self,
        who: Option<&Escalation>,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        let mut state = self.state.lock().await;
        let mut reopened = false;
        loop {
            let shell = self.usable_shell(state.slot(who)).await?;
            let (request, reply) = shell.session().request(script, stdin);
            match tokio::time::timeout(timeout, shell.exchange(&request, reply)).await {
                Ok(Ok(output)) => return Ok(output),
                // Nothing of the request reached the host, so the script
                // cannot have started: one fresh shell may run it.
                Ok(Err(broken)) if !reopened && T::Shell::unsent(&broken) => {
                    if let Some(shell) = state.slot(who).shell.take() {
                        shell.abandon().await;
                    }
                    reopened = true;
                }
                Ok(Err(broken)) => {
                    // A broken channel leaves no orphan to stop: whatever
                    // broke it (the host, the network) is not ours to wait
                    // for again.
                    let message = match state.slot(who).shell.take() {
                        Some(shell) => shell.lost(&broken).await,
                        None => broken.to_string(),
                    };
                    return Err(ConnError::Lost {
                        host: self.host.clone(),
                        message,
                    });
                }
                Err(_) => {
                    // The script still runs; a fresh shell stops it now
                    // (and serves the next command). If none can be opened,
                    // the next command tries again.
                    let slot = state.slot(who);
                    slot.give_up().await;
                    let _ = tokio::time::timeout(REAP_GRACE, self.usable_shell(slot)).await;
                    return Err(ConnError::Timeout {
                        host: self.host.clone(),
                        after: timeout,
                    });
                }
            }
        }
    }
}

#[async_trait]
impl<T: Transport> Connection for ShellConnection<T> {
    async fn run(
        &self,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.run_in(None, script, stdin, timeout).await
    }

    async fn run_as(
        &self,
        escalation: &Escalation,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.run_in(Some(escalation), script, stdin, timeout).await
    }

    async fn close(&self) {
        self.shut_down().await;
        self.transport.finish().await;
    }

    async fn reset(&self) {
        self.shut_down().await;
        self.transport.finish_for_good().await;
    }

    fn describe(&self) -> String {
        self.transport.describe()
    }

    fn warnings(&self) -> Vec<String> {
        self.transport.warnings()
    }
}

impl<T: Transport> ShellConnection<T> {
    /// Ends every shell in order, after stopping the scripts abandoned on
    /// them; what carries the shells is left to the caller.
    async fn shut_down(&self) {
        let mut state = self.state.lock().await;
        let reachable = self.transport.reachable().await;
        for slot in state.slots() {
            // A command abandoned by its caller may still run: a shell of
            // the same user, opened for the purpose, stops it before we
            // leave.
            if slot.shell.as_mut().is_some_and(|shell| !shell.is_usable()) {
                slot.give_up().await;
            }
            if reachable && !slot.orphans.is_empty() {
                let _ = tokio::time::timeout(REAP_GRACE, self.usable_shell(slot)).await;
            }
        }
        // The shells riding on another one's carrier (an OpenSSH master:
        // the login user's, or the escalated shell the connection opened
        // with) end first, all at once; the carriers end last, since a
        // master with sessions left on it would wait for them.
        let mut shells: Vec<(T::Shell, bool)> = Vec::new();
        for slot in state.slots() {
            let escalated = slot.escalation.is_some();
            if let Some(shell) = slot.shell.take() {
                shells.push((shell, escalated));
            }
        }
        let (carriers, riders): (Vec<_>, Vec<_>) = shells
            .into_iter()
            .partition(|(shell, _)| shell.carries_others());
        futures::future::join_all(
            riders
                .into_iter()
                .map(|(shell, escalated)| shell.shutdown(escalated)),
        )
        .await;
        for (shell, escalated) in carriers {
            shell.shutdown(escalated).await;
        }
    }
}
