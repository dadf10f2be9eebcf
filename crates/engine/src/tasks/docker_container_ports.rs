//! `docker_container`'s published and exposed ports, as community.docker
//! names them: parsed from the task, compared with what `docker container
//! inspect` says (`HostConfig.PortBindings`, `Config.ExposedPorts`), and
//! written as `docker create` flags.
//!
//! Both sides of each comparison are brought to one text per binding, so a
//! difference reads in the diff as the engine would be told it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::tasks::docker_cli::{self, DockerError};

fn refused(text: String) -> DockerError {
    DockerError::Refused(text)
}

/// One published port binding: the container port with its protocol
/// (`80/tcp`), the host address (empty for every address) and the host port
/// (empty for one the engine picks, or a range).
pub type Binding = (String, String, String);

/// A port number or a `low-high` range, as a list of ports.
fn port_range(what: &str, text: &str) -> Result<Vec<u32>, DockerError> {
    let number = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| {
                refused(format!(
                    "{what}: `{text}` is not a port (1-65535) or a range `low-high`"
                ))
            })
    };
    match text.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (number(low)?, number(high)?);
            if low > high {
                return Err(refused(format!(
                    "{what}: the range `{text}` ends before it starts"
                )));
            }
            Ok((low..=high).collect())
        }
        None => Ok(vec![number(text)?]),
    }
}

/// Splits `/udp` (or `/tcp`, `/sctp`) off a port text; tcp when absent.
fn protocol<'a>(what: &str, text: &'a str) -> Result<(&'a str, &'a str), DockerError> {
    match text.rsplit_once('/') {
        Some((port, proto)) if ["tcp", "udp", "sctp"].contains(&proto) => Ok((port, proto)),
        Some((_, proto)) => Err(refused(format!(
            "{what}: `{text}` names the protocol `{proto}`; use tcp, udp or sctp"
        ))),
        None => Ok((text, "tcp")),
    }
}

/// The engine does not tell "every address" written as `0.0.0.0` from one
/// left out, and neither does community.docker's comparison.
fn host_ip(ip: &str) -> String {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip == "0.0.0.0" {
        String::new()
    } else {
        ip.to_string()
    }
}

/// The bindings one `published_ports` entry makes, as `docker create
/// --publish` makes them: `80`, `8080:80`, `127.0.0.1:8080:80/udp`,
/// `127.0.0.1::80`, `[::1]:8080:80`, equal ranges port by port, and a host
/// range for one container port.
pub fn bindings(entry: &str) -> Result<Vec<Binding>, DockerError> {
    let what = "published_ports";
    let (spec, proto) = protocol(what, entry)?;
    let (ip, rest) = match spec.strip_prefix('[') {
        Some(v6) => {
            let (ip, rest) = v6.split_once("]:").ok_or_else(|| {
                refused(format!(
                    "{what}: `{entry}` opens `[` for an IPv6 address and never closes it before `:`"
                ))
            })?;
            (ip.to_string(), rest)
        }
        None => match spec.matches(':').count() {
            0 | 1 => (String::new(), spec),
            2 => {
                let (ip, rest) = spec.split_once(':').unwrap_or(("", spec));
                (ip.to_string(), rest)
            }
            _ => {
                return Err(refused(format!(
                    "{what}: `{entry}` has too many `:`; write [address]:host_port:container_port"
                )));
            }
        },
    };
    let (host, container) = match rest.rsplit_once(':') {
        Some((host, container)) => (host, container),
        None => ("", rest),
    };
    let ports = port_range(what, container)?;
    let ip = host_ip(&ip);
    let key = |p: u32| format!("{p}/{proto}");
    if host.is_empty() {
        return Ok(ports
            .into_iter()
            .map(|p| (key(p), ip.clone(), String::new()))
            .collect());
    }
    let hosts = port_range(what, host)?;
    if ports.len() == 1 {
        // One container port behind a host range: the engine picks a free
        // port of the range, and stores the range.
        return Ok(vec![(key(ports[0]), ip, host.to_string())]);
    }
    if hosts.len() != ports.len() {
        return Err(refused(format!(
            "{what}: `{entry}` maps {} host ports to {} container ports; ranges must have the same length",
            hosts.len(),
            ports.len()
        )));
    }
    Ok(ports
        .into_iter()
        .zip(hosts)
        .map(|(p, h)| (key(p), ip.clone(), h.to_string()))
        .collect())
}

/// The task's `published_ports` (each checked) and `publish_all_ports`,
/// with community.docker's older `published_ports: [all]` read as
/// `publish_all_ports: true`.
pub fn published(
    list: Option<&[Value]>,
    publish_all: Option<bool>,
) -> Result<(Option<Vec<String>>, Option<bool>), DockerError> {
    let Some(list) = list else {
        return Ok((None, publish_all));
    };
    let texts: Vec<String> = list.iter().map(docker_cli::scalar_text).collect();
    if texts.iter().any(|p| p == "all") {
        if texts.len() > 1 {
            return Err(refused(
                "published_ports: `all` publishes every exposed port and cannot be combined with other entries; use publish_all_ports: true".to_string(),
            ));
        }
        return Ok((None, Some(true)));
    }
    for p in &texts {
        bindings(p)?;
    }
    Ok((Some(texts), publish_all))
}

/// The task's `exposed_ports`, each checked.
pub fn exposed_list(list: Option<&[Value]>) -> Result<Option<Vec<String>>, DockerError> {
    list.map(|l| {
        l.iter()
            .map(|e| {
                let text = docker_cli::scalar_text(e);
                exposed(&text).map(|_| text)
            })
            .collect()
    })
    .transpose()
}

/// The container's bindings (`HostConfig.PortBindings`).
pub fn inspected_bindings(host_config: &Value) -> BTreeSet<Binding> {
    let mut out = BTreeSet::new();
    for (port, list) in host_config["PortBindings"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for b in list.as_array().into_iter().flatten() {
            out.insert((
                port.clone(),
                host_ip(&docker_cli::scalar_text(&b["HostIp"])),
                docker_cli::scalar_text(&b["HostPort"]),
            ));
        }
    }
    out
}

/// A set of bindings as `address:host:container/proto` texts, for the diff.
pub fn describe_bindings(set: &BTreeSet<Binding>) -> String {
    let texts: Vec<String> = set
        .iter()
        .map(|(port, ip, host)| {
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.clone()
            };
            match (ip.is_empty(), host.is_empty()) {
                (true, true) => port.clone(),
                (true, false) => format!("{host}:{port}"),
                (false, _) => format!("{ip}:{host}:{port}"),
            }
        })
        .collect();
    format!("{texts:?}")
}

/// The ports one `exposed_ports` entry names (`80`, `80/udp`, `8000-8010`).
pub fn exposed(entry: &str) -> Result<Vec<String>, DockerError> {
    let (port, proto) = protocol("exposed_ports", entry)?;
    Ok(port_range("exposed_ports", port)?
        .into_iter()
        .map(|p| format!("{p}/{proto}"))
        .collect())
}

/// The keys of a `Config.ExposedPorts` object.
pub fn exposed_keys(config: &Value) -> BTreeSet<String> {
    config["ExposedPorts"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(port: &str, ip: &str, host: &str) -> Binding {
        (port.to_string(), ip.to_string(), host.to_string())
    }

    #[test]
    fn published_ports_read_as_the_docker_command_line_reads_them() {
        assert_eq!(bindings("80").expect("ok"), [b("80/tcp", "", "")]);
        assert_eq!(
            bindings("0.0.0.0:8080:80").expect("ok"),
            [b("80/tcp", "", "8080")]
        );
        assert_eq!(
            bindings("127.0.0.1:8080:80/udp").expect("ok"),
            [b("80/udp", "127.0.0.1", "8080")]
        );
        assert_eq!(
            bindings("127.0.0.1::80").expect("ok"),
            [b("80/tcp", "127.0.0.1", "")]
        );
        assert_eq!(
            bindings("[::1]:8080:80").expect("ok"),
            [b("80/tcp", "::1", "8080")]
        );
        assert_eq!(
            bindings("9000-9001:9100-9101").expect("ok"),
            [b("9100/tcp", "", "9000"), b("9101/tcp", "", "9001")]
        );
        assert_eq!(
            bindings("8000-8010:80").expect("ok"),
            [b("80/tcp", "", "8000-8010")]
        );
        assert!(bindings("1-3:4-5").is_err());
        assert!(bindings("80/icmp").is_err());
        assert!(bindings("a:b:c:d").is_err());
        assert_eq!(
            published(Some(&[json!("all")]), None).expect("ok"),
            (None, Some(true))
        );
        assert!(published(Some(&[json!("all"), json!(80)]), None).is_err());
        assert_eq!(
            published(Some(&[json!(80)]), None).expect("ok"),
            (Some(vec!["80".to_string()]), None)
        );
        let inspected = json!({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}});
        let set = inspected_bindings(&inspected);
        assert_eq!(describe_bindings(&set), "[\"8080:80/tcp\"]");
    }
}
