//! A delay proxy in front of every node (`--delay-ms`): this kernel has no
//! netem, so latency is made in user space. Each node gets a listener on
//! its own loopback address and a port of its own; every connection to it
//! is forwarded to the node's sshd, and every chunk of bytes is held for the
//! delay before it is passed on, in each direction. Chunks keep their order
//! and do not wait for each other, so the delay adds latency, not a
//! bandwidth limit.
//!
//! The proxy also counts round trips, as measured rather than assumed: a
//! round trip is counted each time the client sends after it has received
//! something since its last send (the first send counts too). That is the
//! number of times a client that waits for answers pays the delay twice.
//! Banners and other bytes both sides send without waiting may be counted
//! in either order, so the count is exact to about one per connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The proxies of one fleet: where each node is reached through its proxy,
/// and the round trips counted since the last [`DelayProxy::take`].
pub struct DelayProxy {
    /// Node address (`host:port` of its sshd) to the proxy's address.
    pub fronts: HashMap<SocketAddr, SocketAddr>,
    round_trips: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DelayProxy {
    /// Starts one listener per node in `nodes`, on the node's own address,
    /// delaying every chunk by `delay` in each direction.
    pub fn start(nodes: &[SocketAddr], delay: Duration) -> Result<DelayProxy, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the delay proxy's runtime: {e}"))?;
        let mut listeners = Vec::new();
        let mut fronts = HashMap::new();
        for node in nodes {
            let listener = runtime
                .block_on(TcpListener::bind(SocketAddr::new(node.ip(), 0)))
                .map_err(|e| format!("cannot listen in front of {node}: {e}"))?;
            let front = listener.local_addr().map_err(|e| e.to_string())?;
            fronts.insert(*node, front);
            listeners.push((listener, *node));
        }
        let round_trips = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (round_trips.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                for (listener, node) in listeners {
                    tokio::spawn(accept(listener, node, delay, count.clone()));
                }
                while !stopping.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        });
        Ok(DelayProxy {
            fronts,
            round_trips,
            stop,
            thread: Some(thread),
        })
    }

    /// The round trips counted since the last call.
    pub fn take(&self) -> u64 {
        self.round_trips.swap(0, Ordering::Relaxed)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(listener: TcpListener, node: SocketAddr, delay: Duration, count: Arc<AtomicU64>) {
    while let Ok((client, _)) = listener.accept().await {
        let count = count.clone();
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(node).await {
                forward(client, server, delay, count).await;
            }
        });
    }
}

/// Which side last sent bytes on a connection, for counting round trips.
const CLIENT: u8 = 1;
const SERVER: u8 = 2;

async fn forward(client: TcpStream, server: TcpStream, delay: Duration, count: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let last = Arc::new(AtomicU8::new(0));
    let up = pipe(
        client_read,
        server_write,
        delay,
        CLIENT,
        last.clone(),
        count.clone(),
    );
    let down = pipe(server_read, client_write, delay, SERVER, last, count);
    tokio::join!(up, down);
}

/// Copies one direction (`side` is the sender), holding each chunk for
/// `delay`; a client chunk after server bytes is a round trip.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    side: u8,
    last: Arc<AtomicU8>,
    count: Arc<AtomicU64>,
) {
    let (send, mut receive) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, bytes)) = receive.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if last.swap(side, Ordering::Relaxed) != side && side == CLIENT {
            count.fetch_add(1, Ordering::Relaxed);
        }
        if send
            .send((Instant::now() + delay, buffer[..read].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(send);
    let _ = writer.await;
}
