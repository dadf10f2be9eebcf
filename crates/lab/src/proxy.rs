//! The lab's name service for HTTPS: a small CONNECT proxy on loopback that
//! maps the lab's host names (`ucp.lab.test:<port>`, `dtr.lab.test:<port>`)
//! to the lab's listening addresses and refuses everything else.
//!
//! Why a proxy: a real dockerd treats every registry on 127.0.0.0/8 as
//! insecure (it skips TLS verification and ignores `certs.d`, a rule that
//! cannot be switched off), so an engine that reached DTR at `127.0.0.1`
//! would never fail with x509 whatever step 5 did. Reached by a name, the
//! registry is secure and verified against `certs.d` as in production
//! (real-world-facts.md §1). The names do not resolve anywhere (`.test` is
//! reserved), and nothing on this machine's resolver or `/etc/hosts` is
//! changed: dockerd gets `HTTPS_PROXY=http://127.0.0.1:<proxy>`, Go's HTTP
//! client then sends `CONNECT dtr.lab.test:<port>` here without resolving
//! the name, and does its TLS handshake, verification included, through the
//! tunnel. dtrplay's own API clients honour `HTTPS_PROXY` the same way.
//!
//! Only exact `name:port` pairs of this lab are tunnelled, so two labs side
//! by side keep to their own servers, and no traffic leaves loopback.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The lab's UCP host name, carried in UCP's server certificate.
pub const UCP_NAME: &str = "ucp.lab.test";
/// The lab's DTR host name, carried in DTR's server certificate.
pub const DTR_NAME: &str = "dtr.lab.test";

/// The longest request head the proxy reads before refusing.
const MAX_HEAD: usize = 8 * 1024;

/// A running proxy. Dropping it stops accepting; tunnels already open end
/// with their connections.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1` (an ephemeral port) and tunnels each
    /// `name:port` of `routes` to its address.
    pub async fn start(routes: HashMap<String, SocketAddr>) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let routes: Arc<HashMap<String, SocketAddr>> = Arc::new(
            routes
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let routes = Arc::clone(&routes);
                tokio::spawn(async move {
                    let _ = tunnel(stream, &routes).await;
                });
            }
        });
        Ok(Proxy { addr, task })
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, the value of `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the proxy answers to one request head.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Tunnel(SocketAddr),
    Refuse(&'static str),
}

/// Decides on a request head (everything up to the blank line).
fn decide(head: &str, routes: &HashMap<String, SocketAddr>) -> Decision {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Decision::Refuse("400 Bad Request");
    };
    if !version.starts_with("HTTP/1.") {
        return Decision::Refuse("400 Bad Request");
    }
    if method != "CONNECT" {
        return Decision::Refuse("405 Method Not Allowed");
    }
    match routes.get(&target.to_ascii_lowercase()) {
        Some(addr) => Decision::Tunnel(*addr),
        None => Decision::Refuse("403 Forbidden"),
    }
}

async fn tunnel(
    mut client: TcpStream,
    routes: &HashMap<String, SocketAddr>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the blank line, so that nothing of the TLS
    // handshake that follows is swallowed.
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !head.ends_with(b"\r\n\r\n") && head.len() < MAX_HEAD {
            if client.read(&mut byte).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            head.push(byte[0]);
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) || !head.ends_with(b"\r\n\r\n") {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return Ok(());
    }
    let text = String::from_utf8_lossy(&head);
    match decide(&text, routes) {
        Decision::Refuse(status) => {
            let body =
                "the dtrplay lab's proxy only reaches this lab's UCP and DTR by their names\n";
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(response.as_bytes()).await
        }
        Decision::Tunnel(addr) => {
            let Ok(mut upstream) = TcpStream::connect(addr).await else {
                return client
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    .await;
            };
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> HashMap<String, SocketAddr> {
        HashMap::from([(
            "dtr.lab.test:4443".to_string(),
            SocketAddr::from(([127, 0, 0, 1], 4443)),
        )])
    }

    #[test]
    fn only_this_labs_names_and_ports_are_tunnelled() {
        let r = routes();
        assert_eq!(
            decide("CONNECT DTR.lab.test:4443 HTTP/1.1\r\n\r\n", &r),
            Decision::Tunnel(SocketAddr::from(([127, 0, 0, 1], 4443)))
        );
        assert_eq!(
            decide("CONNECT dtr.lab.test:443 HTTP/1.1\r\n\r\n", &r),
            Decision::Refuse("403 Forbidden")
        );
        assert_eq!(
            decide("CONNECT example.com:443 HTTP/1.1\r\n\r\n", &r),
            Decision::Refuse("403 Forbidden")
        );
        assert_eq!(
            decide("GET http://dtr.lab.test:4443/ HTTP/1.1\r\n\r\n", &r),
            Decision::Refuse("405 Method Not Allowed")
        );
        assert_eq!(decide("nonsense", &r), Decision::Refuse("400 Bad Request"));
    }
}
