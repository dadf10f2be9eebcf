//! `docker_container`'s `networks` (community.docker's list of `name`,
//! `ipv4_address`, `ipv6_address`, `aliases`, `links`), compared with the
//! inspection's `NetworkSettings.Networks`, and the `docker create` /
//! `docker network connect` lines that attach them.
//!
//! A network the task names must be attached with the address, aliases and
//! links it names (the engine may add aliases of its own, such as the
//! container's short id); networks it does not name are left attached
//! unless `purge_networks` asks otherwise. As in community.docker, an
//! existing container whose only difference is its networks is
//! disconnected and connected again rather than recreated.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::tasks::docker_cli::{self, DockerError};
use crate::tasks::remote::shell_quote;

/// One entry of `networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub aliases: Vec<String>,
    pub links: Vec<String>,
}

const NETWORK_KEYS: &[&str] = &["name", "ipv4_address", "ipv6_address", "aliases", "links"];

/// A link as the engine stores it on an endpoint: `container:alias`, the
/// alias being the container's name when the task gives none.
fn link(text: &str) -> String {
    match text.split_once(':') {
        Some((c, a)) => format!("{c}:{a}"),
        None => format!("{text}:{text}"),
    }
}

fn words(map: &serde_json::Map<String, Value>, key: &str) -> Result<Vec<String>, DockerError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().map(docker_cli::scalar_text).collect()),
        Some(other) => Err(DockerError::Refused(format!(
            "networks: `{key}` must be a list, not {other}"
        ))),
    }
}

impl Network {
    /// A `networks` entry of the task.
    pub fn parse(entry: &Value) -> Result<Network, DockerError> {
        let map = entry.as_object().ok_or_else(|| {
            DockerError::Refused(format!(
                "networks: each entry must be a mapping with `name`, not {entry}"
            ))
        })?;
        if let Some(key) = map.keys().find(|k| !NETWORK_KEYS.contains(&k.as_str())) {
            return Err(DockerError::Refused(format!(
                "networks: unknown key `{key}`; known keys are {}",
                NETWORK_KEYS.join(", ")
            )));
        }
        let text = |k: &str| {
            map.get(k)
                .filter(|v| !v.is_null())
                .map(docker_cli::scalar_text)
        };
        let name = text("name")
            .ok_or_else(|| DockerError::Refused("networks: an entry has no `name`".to_string()))?;
        docker_cli::check_name("network", &name)?;
        Ok(Network {
            name,
            ipv4_address: text("ipv4_address"),
            ipv6_address: text("ipv6_address"),
            aliases: words(map, "aliases")?,
            links: words(map, "links")?.iter().map(|l| link(l)).collect(),
        })
    }

    /// How the attachment reads in the diff.
    fn describe(&self) -> String {
        let mut parts = vec![self.name.clone()];
        if let Some(ip) = &self.ipv4_address {
            parts.push(format!("ipv4_address={ip}"));
        }
        if let Some(ip) = &self.ipv6_address {
            parts.push(format!("ipv6_address={ip}"));
        }
        if !self.aliases.is_empty() {
            parts.push(format!("aliases={}", self.aliases.join("+")));
        }
        if !self.links.is_empty() {
            parts.push(format!("links={}", self.links.join("+")));
        }
        parts.join(",")
    }

    /// The attachment as the engine reports it, keeping only what the task
    /// names (so an address the engine picked is no difference).
    fn as_attached(&self, endpoint: &Value) -> Network {
        let text = |v: &Value| Some(docker_cli::scalar_text(v)).filter(|s| !s.is_empty());
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(docker_cli::scalar_text)
                .collect()
        };
        let aliases: BTreeSet<String> = list(&endpoint["Aliases"]).into_iter().collect();
        Network {
            name: self.name.clone(),
            ipv4_address: self
                .ipv4_address
                .as_ref()
                .and(text(&endpoint["IPAMConfig"]["IPv4Address"])),
            ipv6_address: self
                .ipv6_address
                .as_ref()
                .and(text(&endpoint["IPAMConfig"]["IPv6Address"])),
            // The engine adds aliases of its own; only the task's count.
            aliases: self
                .aliases
                .iter()
                .filter(|a| aliases.contains(*a))
                .cloned()
                .collect(),
            links: {
                let mut l: Vec<String> = list(&endpoint["Links"]).iter().map(|l| link(l)).collect();
                l.sort();
                l
            },
        }
    }

    /// The options of `docker create` or `docker network connect` that
    /// attach this way (without the network's name).
    pub fn options(&self) -> String {
        let mut c = String::new();
        if let Some(ip) = &self.ipv4_address {
            c.push_str(&format!(" --ip {}", shell_quote(ip)));
        }
        if let Some(ip) = &self.ipv6_address {
            c.push_str(&format!(" --ip6 {}", shell_quote(ip)));
        }
        for a in &self.aliases {
            c.push_str(&format!(" --network-alias {}", shell_quote(a)));
        }
        for l in &self.links {
            c.push_str(&format!(" --link {}", shell_quote(l)));
        }
        c
    }

    /// The same options for `docker network connect`, which spells the
    /// alias flag `--alias`.
    pub fn connect_options(&self) -> String {
        self.options().replace(" --network-alias ", " --alias ")
    }
}

/// The `docker network disconnect`/`connect` commands that bring an
/// existing container's networks to the task's, as community.docker
/// changes them in place: a network attached otherwise is disconnected and
/// connected again.
pub fn commands(
    wanted: &[Network],
    container: &Value,
    name: &str,
    purge: bool,
    exempt: Option<&str>,
) -> Vec<String> {
    let attached = container["NetworkSettings"]["Networks"].as_object();
    let endpoint = |n: &str| attached.and_then(|m| m.get(n));
    let disconnect = |net: &str| {
        format!(
            "docker network disconnect -- {} {name} >/dev/null",
            shell_quote(net)
        )
    };
    let mut out = Vec::new();
    for n in wanted {
        let mut sorted = n.clone();
        sorted.links.sort();
        if let Some(e) = endpoint(&n.name) {
            if sorted.as_attached(e) == sorted {
                continue;
            }
            out.push(disconnect(&n.name));
        }
        out.push(format!(
            "docker network connect{} -- {} {name} >/dev/null",
            n.connect_options(),
            shell_quote(&n.name)
        ));
    }
    if purge {
        let named: BTreeSet<&str> = wanted.iter().map(|n| n.name.as_str()).collect();
        for net in attached.into_iter().flatten().map(|(k, _)| k) {
            if !named.contains(net.as_str()) && Some(net.as_str()) != exempt {
                out.push(disconnect(net));
            }
        }
    }
    out
}

/// The differences of the container's networks from the task's, as one
/// `(was, wanted)` pair of texts, or `None` when they agree. `exempt` is
/// the network mode, which purging never detaches.
pub fn compare(
    wanted: &[Network],
    container: &Value,
    purge: bool,
    exempt: Option<&str>,
) -> Option<(String, String)> {
    let attached: BTreeMap<String, Value> = container["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut was = Vec::new();
    let mut want = Vec::new();
    let mut sorted: Vec<Network> = wanted.to_vec();
    for n in &mut sorted {
        n.links.sort();
    }
    for n in &sorted {
        want.push(n.describe());
        match attached.get(&n.name) {
            Some(endpoint) => was.push(n.as_attached(endpoint).describe()),
            None => was.push(format!("{} (not attached)", n.name)),
        }
    }
    let named: BTreeSet<&str> = wanted.iter().map(|n| n.name.as_str()).collect();
    for name in attached.keys() {
        if purge && !named.contains(name.as_str()) && Some(name.as_str()) != exempt {
            was.push(name.clone());
        }
    }
    (was != want).then(|| (format!("{was:?}"), format!("{want:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_networks_compare_and_engine_aliases_are_ignored() {
        let wanted = vec![
            Network::parse(&json!({"name": "back", "aliases": ["db"], "links": ["web"]}))
                .expect("parses"),
        ];
        let container = json!({"NetworkSettings": {"Networks": {
            "back": {"Aliases": ["db", "1a2b3c"], "Links": ["web:web"], "IPAMConfig": null},
            "front": {}
        }}});
        assert_eq!(compare(&wanted, &container, false, None), None);
        let (was, want) = compare(&wanted, &container, true, None).expect("purge differs");
        assert!(was.contains("front"), "{was}");
        assert!(!want.contains("front"), "{want}");
        assert_eq!(compare(&wanted, &container, true, Some("front")), None);
        let moved = vec![Network {
            ipv4_address: Some("10.9.0.5".into()),
            ..wanted[0].clone()
        }];
        assert!(compare(&moved, &container, false, None).is_some());
        assert!(Network::parse(&json!({"name": "x", "ip": "1"})).is_err());
        assert_eq!(wanted[0].connect_options(), " --alias db --link web:web");
    }
}
