//! What a `docker_container` task wants of a container's configuration,
//! compared with what `docker container inspect` says, and the `docker
//! create` flags that make it.
//!
//! As in community.docker, only the options the task names are compared
//! (an option left out never recreates a container); `env` is compared with
//! the image's environment under the task's, `labels` allow more on the
//! container (the image's own), and `command`/`entrypoint` as the word lists
//! the engine stores. Each difference is one line of the diff.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::tasks::docker_cli::{self, DockerError};
use crate::tasks::docker_container_mounts::{self as mounts, Mount};
use crate::tasks::docker_container_networks::{self as networks, Network};
use crate::tasks::docker_container_ports as ports;
use crate::tasks::remote::{shell_quote, shlex_split};

/// The configuration a task asks for, as word lists and maps.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub labels: BTreeMap<String, String>,
    pub volumes: Option<Vec<String>>,
    pub restart_policy: Option<String>,
    pub restart_retries: Option<i64>,
    pub network_mode: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub privileged: Option<bool>,
    pub read_only: Option<bool>,
    pub init: Option<bool>,
    pub tty: Option<bool>,
    pub interactive: Option<bool>,
    pub auto_remove: Option<bool>,
    /// `published_ports` as written, each a `--publish` value.
    pub published_ports: Option<Vec<String>>,
    pub publish_all_ports: Option<bool>,
    pub exposed_ports: Option<Vec<String>>,
    pub mounts: Option<Vec<Mount>>,
    pub networks: Option<Vec<Network>>,
    pub networks_cli_compatible: bool,
    pub purge_networks: bool,
}

/// A command or entrypoint as written: a string (split as Python's shlex
/// would) or a list of words.
pub fn words(what: &str, value: &Value) -> Result<Vec<String>, DockerError> {
    match value {
        Value::String(s) => shlex_split(s)
            .map_err(|e| DockerError::Refused(format!("`{what}` cannot be split into words: {e}"))),
        Value::Array(items) => Ok(items.iter().map(docker_cli::scalar_text).collect()),
        other => Err(DockerError::Refused(format!(
            "`{what}` must be a string or a list of words, not {other}"
        ))),
    }
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(docker_cli::scalar_text).collect())
        .unwrap_or_default()
}

/// `KEY=value` lines as a map (the engine's `Env`).
fn env_map(value: &Value) -> BTreeMap<String, String> {
    string_list(value)
        .into_iter()
        .map(|line| match line.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (line, String::new()),
        })
        .collect()
}

fn text(value: &Value) -> String {
    docker_cli::scalar_text(value)
}

impl Wanted {
    /// What differs between `container` and this configuration, given the
    /// image the container should run (`image`, its inspection), as diff
    /// lines `(option, was, wanted)`.
    pub fn differences(&self, container: &Value, image: &Value) -> Vec<(String, String, String)> {
        let config = &container["Config"];
        let host = &container["HostConfig"];
        let mut out = Vec::new();
        let mut compare = |name: &str, was: String, wanted: String| {
            if was != wanted {
                out.push((name.to_string(), was, wanted));
            }
        };
        let join = |v: &[String]| format!("{v:?}");
        if let Some(entrypoint) = &self.entrypoint {
            compare(
                "entrypoint",
                join(&string_list(&config["Entrypoint"])),
                join(&entrypoint[..entrypoint.len().min(1)]),
            );
        }
        if let Some(command) = self.command_words() {
            compare(
                "command",
                join(&string_list(&config["Cmd"])),
                join(&command),
            );
        }
        if let Some(env) = &self.env {
            let mut expected = env_map(&image["Config"]["Env"]);
            expected.extend(env.clone());
            let was = env_map(&config["Env"]);
            compare("env", format!("{was:?}"), format!("{expected:?}"));
        }
        let labels = docker_cli::string_map(config, &["Labels"]);
        let missing: BTreeMap<&String, &String> = self
            .labels
            .iter()
            .filter(|(k, v)| labels.get(*k) != Some(*v))
            .collect();
        if !missing.is_empty() {
            let was: BTreeMap<&String, Option<&String>> =
                missing.keys().map(|k| (*k, labels.get(*k))).collect();
            compare("labels", format!("{was:?}"), format!("{missing:?}"));
        }
        if let Some(volumes) = &self.volumes {
            let mut was = string_list(&host["Binds"]);
            if let Some(anonymous) = config["Volumes"].as_object() {
                was.extend(anonymous.keys().cloned());
            }
            was.sort();
            let mut wanted = volumes.clone();
            wanted.sort();
            compare("volumes", join(&was), join(&wanted));
        }
        if let Some(policy) = &self.restart_policy {
            compare(
                "restart_policy",
                text(&host["RestartPolicy"]["Name"]),
                policy.clone(),
            );
        }
        if let Some(retries) = self.restart_retries {
            compare(
                "restart_retries",
                text(&host["RestartPolicy"]["MaximumRetryCount"]),
                retries.to_string(),
            );
        }
        let strings = [
            ("network_mode", &self.network_mode, &host["NetworkMode"]),
            ("user", &self.user, &config["User"]),
            ("working_dir", &self.working_dir, &config["WorkingDir"]),
            ("hostname", &self.hostname, &config["Hostname"]),
        ];
        for (name, wanted, was) in strings {
            if let Some(wanted) = wanted {
                compare(name, text(was), wanted.clone());
            }
        }
        let flags = [
            ("privileged", self.privileged, &host["Privileged"]),
            ("read_only", self.read_only, &host["ReadonlyRootfs"]),
            ("init", self.init, &host["Init"]),
            ("tty", self.tty, &config["Tty"]),
            ("interactive", self.interactive, &config["OpenStdin"]),
            ("auto_remove", self.auto_remove, &host["AutoRemove"]),
        ];
        for (name, wanted, was) in flags {
            if let Some(wanted) = wanted {
                let was = was.as_bool().unwrap_or(false);
                compare(name, was.to_string(), wanted.to_string());
            }
        }
        if let Some(wanted) = self.publish_all_ports {
            let was = host["PublishAllPorts"].as_bool().unwrap_or(false);
            compare("publish_all_ports", was.to_string(), wanted.to_string());
        }
        let published = self.bindings();
        if self.published_ports.is_some() {
            compare(
                "published_ports",
                ports::describe_bindings(&ports::inspected_bindings(host)),
                ports::describe_bindings(&published),
            );
        }
        if let Some(exposed) = &self.exposed_ports {
            // The engine exposes the image's ports and every published one
            // beside those the task names.
            let mut wanted = ports::exposed_keys(&image["Config"]);
            wanted.extend(published.iter().map(|b| b.0.clone()));
            for e in exposed {
                wanted.extend(ports::exposed(e).unwrap_or_default());
            }
            let was = ports::exposed_keys(config);
            compare("exposed_ports", format!("{was:?}"), format!("{wanted:?}"));
        }
        if let Some(mounts) = &self.mounts {
            let mut wanted = mounts.clone();
            wanted.sort();
            compare(
                "mounts",
                mounts::describe_mounts(&mounts::inspected_mounts(host)),
                mounts::describe_mounts(&wanted),
            );
        }
        if let Some(list) = &self.networks
            && let Some((was, wanted)) =
                networks::compare(list, container, self.purge_networks, self.first_network())
        {
            out.push(("networks".to_string(), was, wanted));
        }
        out
    }

    /// Every binding `published_ports` asks for; entries were checked when
    /// the task was read.
    fn bindings(&self) -> std::collections::BTreeSet<ports::Binding> {
        self.published_ports
            .iter()
            .flatten()
            .flat_map(|p| ports::bindings(p).unwrap_or_default())
            .collect()
    }

    /// The network the container is created on: `network_mode`, or with
    /// `networks_cli_compatible` the first of `networks`, as the docker
    /// command line does.
    fn first_network(&self) -> Option<&str> {
        match &self.network_mode {
            Some(mode) => Some(mode.as_str()),
            None if self.networks_cli_compatible => self
                .networks
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.name.as_str()),
            None => None,
        }
    }

    /// The commands that bring an existing container's networks to the
    /// task's without recreating it.
    pub fn network_commands(&self, container: &Value, name: &str) -> Vec<String> {
        networks::commands(
            self.networks.as_deref().unwrap_or_default(),
            container,
            name,
            self.purge_networks,
            self.first_network(),
        )
    }

    /// The `docker network connect` commands that attach the networks the
    /// container is not created on, run after `docker create`.
    pub fn connect_commands(&self, name: &str) -> Vec<String> {
        let first = self.first_network();
        self.networks
            .iter()
            .flatten()
            .filter(|n| Some(n.name.as_str()) != first)
            .map(|n| {
                format!(
                    "docker network connect{} -- {} {name} >/dev/null",
                    n.connect_options(),
                    shell_quote(&n.name)
                )
            })
            .collect()
    }

    /// The flags of `docker create` for this configuration (before the image).
    pub fn create_flags(&self) -> String {
        let mut c = String::new();
        let mut flag = |name: &str, value: &str| {
            c.push_str(&format!(" --{name} {}", shell_quote(value)));
        };
        if let Some(entrypoint) = &self.entrypoint {
            // `--entrypoint` takes one word; further words go before the
            // command, as the engine stores an entrypoint list.
            flag(
                "entrypoint",
                entrypoint.first().map(String::as_str).unwrap_or(""),
            );
        }
        for (k, v) in self.env.iter().flatten() {
            flag("env", &format!("{k}={v}"));
        }
        for (k, v) in &self.labels {
            flag("label", &format!("{k}={v}"));
        }
        for volume in self.volumes.iter().flatten() {
            flag("volume", volume);
        }
        if let Some(policy) = &self.restart_policy {
            match self.restart_retries {
                Some(n) if policy == "on-failure" => flag("restart", &format!("{policy}:{n}")),
                _ => flag("restart", policy),
            }
        }
        // The address, aliases and links of the network the container is
        // created on go with `--network`; the others are connected later.
        let mut attach = String::new();
        if let Some(mode) = self.first_network() {
            flag("network", mode);
            if let Some(n) = self.networks.iter().flatten().find(|n| n.name == mode) {
                attach = n.options();
            }
        }
        for p in self.published_ports.iter().flatten() {
            flag("publish", p);
        }
        for e in self.exposed_ports.iter().flatten() {
            flag("expose", e);
        }
        for m in self.mounts.iter().flatten() {
            flag("mount", &m.flag_value());
        }
        if let Some(user) = &self.user {
            flag("user", user);
        }
        if let Some(dir) = &self.working_dir {
            flag("workdir", dir);
        }
        if let Some(hostname) = &self.hostname {
            flag("hostname", hostname);
        }
        let bools = [
            ("privileged", self.privileged),
            ("read-only", self.read_only),
            ("init", self.init),
            ("tty", self.tty),
            ("interactive", self.interactive),
            ("rm", self.auto_remove),
            ("publish-all", self.publish_all_ports),
        ];
        for (name, value) in bools {
            if value == Some(true) {
                c.push_str(&format!(" --{name}"));
            }
        }
        c.push_str(&attach);
        c
    }

    /// The words the engine stores as the command: the entrypoint's words
    /// after its first (`docker create --entrypoint` takes one word), then
    /// the command; `None` when the task names neither, so the image's
    /// command stays.
    fn command_words(&self) -> Option<Vec<String>> {
        let extra: Vec<String> = self
            .entrypoint
            .iter()
            .flat_map(|e| e.iter().skip(1).cloned())
            .collect();
        if extra.is_empty() && self.command.is_none() {
            return None;
        }
        Some(
            extra
                .into_iter()
                .chain(self.command.iter().flatten().cloned())
                .collect(),
        )
    }

    /// The words after the image in `docker create`.
    pub fn create_args(&self) -> String {
        self.command_words()
            .unwrap_or_default()
            .iter()
            .map(|w| format!(" {}", shell_quote(w)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_named_options_are_compared_and_env_includes_the_images() {
        let container = json!({
            "Config": {"Cmd": ["sleep", "1"], "Env": ["PATH=/bin", "A=1"], "Labels": {"x": "y", "img": "1"}},
            "HostConfig": {"Binds": ["/srv:/data"], "RestartPolicy": {"Name": "no"}}
        });
        let image = json!({"Config": {"Env": ["PATH=/bin"]}});
        let mut wanted = Wanted {
            env: Some([("A".to_string(), "1".to_string())].into()),
            labels: [("x".to_string(), "y".to_string())].into(),
            volumes: Some(vec!["/srv:/data".to_string()]),
            ..Wanted::default()
        };
        assert!(wanted.differences(&container, &image).is_empty());
        wanted.command = Some(vec!["sleep".into(), "2".into()]);
        wanted.restart_policy = Some("always".into());
        let names: Vec<String> = wanted
            .differences(&container, &image)
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(names, ["command", "restart_policy"]);
    }

    #[test]
    fn commands_are_split_like_shlex() {
        assert_eq!(
            words("command", &json!("dash -c 'echo hi'")).expect("splits"),
            ["dash", "-c", "echo hi"]
        );
        assert!(words("command", &json!(3)).is_err());
    }
}
