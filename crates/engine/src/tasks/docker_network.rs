//! The `docker_network` task (community.docker's name, with or without the
//! `community.docker.` prefix): a network of the host's Docker engine
//! present with its driver, options, IPAM configuration and labels, or
//! absent, through the host's `docker` command line.
//!
//! The check is one `docker network inspect`; as in community.docker, a
//! network whose named options differ is removed and created again (the
//! engine refuses while containers are attached, and the task says so in
//! its words). Only the options the task names are compared; labels allow
//! more on the network. The registered result has `network` (the engine's
//! inspection, `{}` when absent).
//!
//! Differences from community.docker: `connected`/`appends`, `force`,
//! `ipam_driver_options`, `config_from` and the connection options other
//! than `docker_host` are not supported (a playbook naming them fails
//! validation). The lab's engines run without bridges, so the tests create
//! `config_only` networks, which need no interface on the machine.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::docker_cli::{self, DockerError, shell_env};
use crate::tasks::remote::shell_quote;

/// The arguments of `docker_network`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerNetwork {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub driver_options: Map<String, Value>,
    pub ipam_driver: Option<String>,
    pub ipam_config: Option<Vec<Value>>,
    pub internal: Option<bool>,
    pub attachable: Option<bool>,
    pub enable_ipv6: Option<bool>,
    pub config_only: Option<bool>,
    pub scope: Option<String>,
    #[serde(default)]
    pub labels: Map<String, Value>,
    pub state: String,
    pub docker_host: Option<String>,
    #[serde(default)]
    pub debug: bool,
}

/// The parameters of `docker_network`, as community.docker names them.
pub fn spec() -> Spec {
    Spec::new(
        "docker_network",
        vec![
            Param::new("name", Kind::Str)
                .required()
                .aliases(&["network_name"]),
            Param::new("driver", Kind::Str).default("bridge"),
            Param::new("driver_options", Kind::Dict),
            Param::new("ipam_driver", Kind::Str),
            Param::new("ipam_config", Kind::List),
            Param::new("internal", Kind::Bool),
            Param::new("attachable", Kind::Bool),
            Param::new("enable_ipv6", Kind::Bool),
            Param::new("config_only", Kind::Bool),
            Param::new("scope", Kind::Str).choices(&["local", "global", "swarm"]),
            Param::new("labels", Kind::Dict),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("docker_host", Kind::Str).aliases(&["docker_url"]),
            Param::new("debug", Kind::Bool).default(false),
        ],
    )
    .removed(
        "ipam_options",
        "write `ipam_config:` as a list of mappings (subnet, gateway, iprange) instead (community.docker 2.0.0 removed `ipam_options`)",
    )
}

/// What `apply` does.
#[derive(Debug)]
pub enum NetworkDrift {
    Create,
    Recreate(Vec<String>),
    Remove,
}

/// One `ipam_config` entry, with community.docker's names and the engine's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Pool {
    subnet: Option<String>,
    gateway: Option<String>,
    iprange: Option<String>,
}

/// The names of an `ipam_config` entry, community.docker's first.
const POOL_KEYS: [(&str, &str); 3] = [
    ("subnet", "Subnet"),
    ("gateway", "Gateway"),
    ("iprange", "IPRange"),
];

fn pool(entry: &Value, engine: bool) -> Pool {
    let get = |ours: &str, theirs: &str| {
        let key = if engine { theirs } else { ours };
        entry
            .get(key)
            .or_else(|| {
                (!engine && ours == "iprange")
                    .then(|| entry.get("ip_range"))
                    .flatten()
            })
            .map(docker_cli::scalar_text)
            .filter(|s| !s.is_empty())
    };
    Pool {
        subnet: get(POOL_KEYS[0].0, POOL_KEYS[0].1),
        gateway: get(POOL_KEYS[1].0, POOL_KEYS[1].1),
        iprange: get(POOL_KEYS[2].0, POOL_KEYS[2].1),
    }
}

impl Pool {
    fn describe(&self) -> String {
        let part = |name: &str, v: &Option<String>| v.as_ref().map(|v| format!("{name}={v}"));
        [
            part("subnet", &self.subnet),
            part("gateway", &self.gateway),
            part("iprange", &self.iprange),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",")
    }
}

impl DockerNetwork {
    fn prefix(&self) -> String {
        shell_env(self.docker_host.as_deref())
    }

    fn pools(&self) -> Result<Option<Vec<Pool>>, DockerError> {
        let Some(config) = &self.ipam_config else {
            return Ok(None);
        };
        let mut pools = Vec::new();
        for entry in config {
            let Some(map) = entry.as_object() else {
                return Err(DockerError::Refused(format!(
                    "each `ipam_config` entry must be a mapping (subnet, gateway, iprange), not {entry}"
                )));
            };
            if let Some(key) = map
                .keys()
                .find(|k| !["subnet", "gateway", "iprange", "ip_range"].contains(&k.as_str()))
            {
                return Err(DockerError::Refused(format!(
                    "`ipam_config` entries take subnet, gateway and iprange; `{key}` is not supported by dtrplay"
                )));
            }
            pools.push(pool(entry, false));
        }
        Ok(Some(pools))
    }

    /// What differs, as `(option, was, wanted)`.
    fn differences(&self, network: &Value) -> Result<Vec<(String, String, String)>, DockerError> {
        let mut out = Vec::new();
        let mut compare = |name: &str, was: String, wanted: String| {
            if was != wanted {
                out.push((name.to_string(), was, wanted));
            }
        };
        let config_only = network["ConfigOnly"].as_bool() == Some(true);
        // A configuration-only network has no driver of its own (the
        // engine reports `null`).
        if !config_only {
            compare(
                "driver",
                docker_cli::scalar_text(&network["Driver"]),
                self.driver.clone(),
            );
        }
        if !self.driver_options.is_empty() {
            let was = docker_cli::string_map(network, &["Options"]);
            compare(
                "driver_options",
                format!("{was:?}"),
                format!("{:?}", docker_cli::pairs(&self.driver_options)),
            );
        }
        if let Some(driver) = &self.ipam_driver {
            compare(
                "ipam_driver",
                docker_cli::scalar_text(&network["IPAM"]["Driver"]),
                driver.clone(),
            );
        }
        if let Some(pools) = self.pools()? {
            let was: Vec<String> = network["IPAM"]["Config"]
                .as_array()
                .map(|a| a.iter().map(|e| pool(e, true).describe()).collect())
                .unwrap_or_default();
            let wanted: Vec<String> = pools.iter().map(Pool::describe).collect();
            compare("ipam_config", was.join(" "), wanted.join(" "));
        }
        let flags = [
            ("internal", self.internal, "Internal"),
            ("attachable", self.attachable, "Attachable"),
            ("enable_ipv6", self.enable_ipv6, "EnableIPv6"),
            ("config_only", self.config_only, "ConfigOnly"),
        ];
        for (name, wanted, key) in flags {
            if let Some(wanted) = wanted {
                let was = network[key].as_bool().unwrap_or(false);
                compare(name, was.to_string(), wanted.to_string());
            }
        }
        if let Some(scope) = &self.scope {
            compare(
                "scope",
                docker_cli::scalar_text(&network["Scope"]),
                scope.clone(),
            );
        }
        let labels = docker_cli::string_map(network, &["Labels"]);
        let missing: BTreeMap<String, String> = docker_cli::pairs(&self.labels)
            .into_iter()
            .filter(|(k, v)| labels.get(k) != Some(v))
            .collect();
        if !missing.is_empty() {
            let was: BTreeMap<&String, Option<&String>> =
                missing.keys().map(|k| (k, labels.get(k))).collect();
            compare("labels", format!("{was:?}"), format!("{missing:?}"));
        }
        Ok(out)
    }

    fn create_command(&self) -> Result<String, DockerError> {
        let mut c = format!(
            "docker network create --driver {}",
            shell_quote(&self.driver)
        );
        c.push_str(&docker_cli::flags(
            "--opt",
            &docker_cli::pairs(&self.driver_options),
        ));
        c.push_str(&docker_cli::flags(
            "--label",
            &docker_cli::pairs(&self.labels),
        ));
        if let Some(driver) = &self.ipam_driver {
            c.push_str(&format!(" --ipam-driver {}", shell_quote(driver)));
        }
        for pool in self.pools()?.unwrap_or_default() {
            let flags = [
                ("--subnet", &pool.subnet),
                ("--gateway", &pool.gateway),
                ("--ip-range", &pool.iprange),
            ];
            for (flag, value) in flags {
                if let Some(value) = value {
                    c.push_str(&format!(" {flag} {}", shell_quote(value)));
                }
            }
        }
        let bools = [
            ("--internal", self.internal),
            ("--attachable", self.attachable),
            ("--ipv6", self.enable_ipv6),
            ("--config-only", self.config_only),
        ];
        for (flag, value) in bools {
            if value == Some(true) {
                c.push_str(&format!(" {flag}"));
            }
        }
        if let Some(scope) = &self.scope {
            c.push_str(&format!(" --scope {}", shell_quote(scope)));
        }
        c.push_str(&format!(" -- {} >/dev/null", shell_quote(&self.name)));
        Ok(c)
    }

    fn message(&self, drift: &NetworkDrift) -> String {
        let n = &self.name;
        match drift {
            NetworkDrift::Create => format!("created network {n}"),
            NetworkDrift::Recreate(differs) => {
                format!("recreated network {n} ({})", differs.join(", "))
            }
            NetworkDrift::Remove => format!("removed network {n}"),
        }
    }
}

fn result(network: Option<Value>) -> Outcome {
    Outcome::ok().with_data(
        "network",
        network.unwrap_or_else(|| Value::Object(Map::new())),
    )
}

#[async_trait]
impl Task for DockerNetwork {
    type Drift = NetworkDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<NetworkDrift>, TaskError> {
        docker_cli::check_name("network", &self.name)?;
        self.pools()?;
        let body = format!(
            "{}{}",
            self.prefix(),
            docker_cli::inspect_line("network", &self.name, "network")
        );
        let (_, mut inspected) = docker_cli::run(cx, &body).await?;
        let network = inspected.take("network")?;
        let mut lines = Vec::new();
        let drift = match (self.state.as_str(), &network) {
            ("absent", None) => return Ok(Check::InSync(result(None))),
            ("absent", Some(_)) => NetworkDrift::Remove,
            (_, None) => NetworkDrift::Create,
            (_, Some(existing)) => {
                lines = self.differences(existing)?;
                if lines.is_empty() {
                    return Ok(Check::InSync(result(network)));
                }
                NetworkDrift::Recreate(lines.iter().map(|d| d.0.clone()).collect())
            }
        };
        let msg = self.message(&drift);
        let mut preview = result(network.clone()).with_msg(format!("would have {msg}"));
        preview.changed = true;
        if cx.diff {
            let present = |pairs: Vec<(String, String)>| {
                let mut text = "state: present\n".to_string();
                for (k, v) in pairs {
                    text.push_str(&format!("{k}: {v}\n"));
                }
                text
            };
            let (before, after) = match &drift {
                NetworkDrift::Remove => (present(Vec::new()), "state: absent\n".to_string()),
                NetworkDrift::Create => {
                    let mut wanted = vec![("driver".to_string(), self.driver.clone())];
                    if let Some(pools) = self.pools()? {
                        let text: Vec<String> = pools.iter().map(Pool::describe).collect();
                        wanted.push(("ipam_config".into(), text.join(" ")));
                    }
                    for (k, v) in docker_cli::pairs(&self.labels) {
                        wanted.push((format!("labels.{k}"), v));
                    }
                    ("state: absent\n".to_string(), present(wanted))
                }
                NetworkDrift::Recreate(_) => (
                    present(
                        lines
                            .iter()
                            .map(|(k, was, _)| (k.clone(), was.clone()))
                            .collect(),
                    ),
                    present(
                        lines
                            .iter()
                            .map(|(k, _, w)| (k.clone(), w.clone()))
                            .collect(),
                    ),
                ),
            };
            preview.diffs.push(Diff {
                subject: format!("docker network {}", self.name),
                before: Some(before),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: NetworkDrift) -> Result<Outcome, TaskError> {
        let name = shell_quote(&self.name);
        let mut body = self.prefix();
        if matches!(drift, NetworkDrift::Remove | NetworkDrift::Recreate(_)) {
            body.push_str(&docker_cli::step(
                "network rm",
                &format!("docker network rm -- {name} >/dev/null"),
            ));
        }
        if matches!(drift, NetworkDrift::Create | NetworkDrift::Recreate(_)) {
            body.push_str(&docker_cli::step("network create", &self.create_command()?));
        }
        body.push_str(&docker_cli::inspect_line("network", &self.name, "network"));
        let (_, mut inspected) = docker_cli::run(cx, &body).await?;
        let mut outcome = result(inspected.take("network")?).with_msg(self.message(&drift));
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pools_read_both_spellings_the_same() {
        let ours = pool(
            &json!({"subnet": "10.1.0.0/24", "ip_range": "10.1.0.0/25"}),
            false,
        );
        let engine = pool(
            &json!({"Subnet": "10.1.0.0/24", "IPRange": "10.1.0.0/25"}),
            true,
        );
        assert_eq!(ours, engine);
        assert_eq!(ours.describe(), "subnet=10.1.0.0/24,iprange=10.1.0.0/25");
    }
}
