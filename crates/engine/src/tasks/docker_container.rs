//! The `docker_container` task (community.docker's name, with or without
//! the `community.docker.` prefix): a container of the host's Docker engine
//! started, stopped, present (created) or absent, with the configuration
//! the task names, through the host's `docker` command line.
//!
//! The check is one script that inspects the container and its image; the
//! comparison (`docker_container_config.rs`) decides between nothing, a
//! start or stop, and a recreate (remove, create, start). The apply is one
//! script: pull when asked, remove, create, start (attached, when `detach`
//! is false), stop, restart, then inspect again. The registered result has
//! `container` (the inspection, `{}` once gone) and, for `detach: false`,
//! `status` (the exit status) and `output`.
//!
//! Published and exposed ports are parsed and compared in
//! `docker_container_ports.rs`, `mounts` in `docker_container_mounts.rs`,
//! `networks` in `docker_container_networks.rs`.
//!
//! Differences from community.docker: resource limits, health checks (`state: healthy`), `comparisons` and
//! the connection options other than `docker_host` are not supported (a
//! playbook naming them fails validation). With
//! `pull: true` the engine is asked again on every run, and the task only
//! counts as a change when the image it pulled differs from the one the
//! container runs.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec, to_bool};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::docker_cli::{self, DockerError, shell_env};
use crate::tasks::docker_container_config::{Wanted, words};
use crate::tasks::docker_container_mounts::Mount;
use crate::tasks::docker_container_networks::Network;
use crate::tasks::docker_container_ports as ports;
use crate::tasks::remote::shell_quote;

/// The arguments of `docker_container`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerContainer {
    pub name: String,
    pub image: Option<String>,
    pub state: String,
    pub command: Option<Value>,
    pub entrypoint: Option<Value>,
    // Boxed so the task list's enum of every task stays small.
    pub env: Option<Box<Map<String, Value>>>,
    pub labels: Option<Box<Map<String, Value>>>,
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
    pub published_ports: Option<Vec<Value>>,
    pub publish_all_ports: Option<bool>,
    pub exposed_ports: Option<Vec<Value>>,
    pub mounts: Option<Vec<Value>>,
    pub networks: Option<Vec<Value>>,
    #[serde(default = "yes")]
    pub networks_cli_compatible: bool,
    pub purge_networks: Option<bool>,
    #[serde(default)]
    pub recreate: bool,
    #[serde(default)]
    pub restart: bool,
    pub detach: bool,
    #[serde(default)]
    pub cleanup: bool,
    #[serde(default)]
    pub force_kill: bool,
    pub stop_timeout: Option<i64>,
    pub pull: Option<Value>,
    pub keep_volumes: bool,
    pub container_default_behavior: Option<String>,
    pub docker_host: Option<String>,
    #[serde(default)]
    pub debug: bool,
}

fn yes() -> bool {
    true
}

/// The parameters of `docker_container`, as community.docker names them.
pub fn spec() -> Spec {
    Spec::new(
        "docker_container",
        vec![
            Param::new("name", Kind::Str).required(),
            Param::new("image", Kind::Str),
            Param::new("state", Kind::Str)
                .choices(&["absent", "present", "stopped", "started"])
                .default("started"),
            Param::new("command", Kind::Raw),
            Param::new("entrypoint", Kind::Raw),
            Param::new("env", Kind::Dict),
            Param::new("labels", Kind::Dict),
            Param::new("volumes", Kind::List),
            Param::new("restart_policy", Kind::Str).choices(&[
                "no",
                "on-failure",
                "always",
                "unless-stopped",
            ]),
            Param::new("restart_retries", Kind::Int),
            Param::new("network_mode", Kind::Str),
            Param::new("user", Kind::Str),
            Param::new("working_dir", Kind::Str),
            Param::new("hostname", Kind::Str),
            Param::new("privileged", Kind::Bool),
            Param::new("read_only", Kind::Bool),
            Param::new("init", Kind::Bool),
            Param::new("tty", Kind::Bool),
            Param::new("interactive", Kind::Bool),
            Param::new("auto_remove", Kind::Bool),
            Param::new("published_ports", Kind::List).aliases(&["ports"]),
            Param::new("publish_all_ports", Kind::Bool),
            Param::new("exposed_ports", Kind::List).aliases(&["exposed", "expose"]),
            Param::new("mounts", Kind::List),
            Param::new("networks", Kind::List),
            Param::new("networks_cli_compatible", Kind::Bool).default(true),
            Param::new("purge_networks", Kind::Bool),
            Param::new("recreate", Kind::Bool).default(false),
            Param::new("restart", Kind::Bool).default(false),
            Param::new("detach", Kind::Bool).default(true),
            Param::new("cleanup", Kind::Bool).default(false),
            Param::new("force_kill", Kind::Bool)
                .default(false)
                .aliases(&["forcekill"]),
            Param::new("stop_timeout", Kind::Int),
            Param::new("pull", Kind::Raw),
            Param::new("keep_volumes", Kind::Bool).default(true),
            Param::new("container_default_behavior", Kind::Str)
                .choices(&["compatibility", "no_defaults"]),
            Param::new("docker_host", Kind::Str).aliases(&["docker_url"]),
            Param::new("debug", Kind::Bool).default(false),
        ],
    )
}

/// When the image is pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pull {
    Missing,
    Always,
    Never,
}

/// What `apply` does, in order.
#[derive(Debug, Default)]
pub struct ContainerDrift {
    pull: bool,
    /// Only a pull that may bring a new image: recreate if it did.
    verify: bool,
    /// The image the container runs now, for `verify`.
    running_image: String,
    remove: bool,
    create: bool,
    start: bool,
    stop: bool,
    restart: bool,
    /// The differences, for the message.
    differs: Vec<String>,
    /// The network commands that change the container in place, when its
    /// networks are all that differs.
    reconnect: Vec<String>,
}

impl DockerContainer {
    fn wanted(&self) -> Result<Wanted, DockerError> {
        let map = |m: &Option<Box<Map<String, Value>>>| m.as_deref().map(docker_cli::pairs);
        let (published, publish_all) =
            ports::published(self.published_ports.as_deref(), self.publish_all_ports)?;
        let exposed = ports::exposed_list(self.exposed_ports.as_deref())?;
        Ok(Wanted {
            published_ports: published,
            publish_all_ports: publish_all,
            exposed_ports: exposed,
            mounts: self
                .mounts
                .as_ref()
                .map(|m| m.iter().map(Mount::parse).collect::<Result<Vec<_>, _>>())
                .transpose()?,
            networks: self
                .networks
                .as_ref()
                .map(|n| n.iter().map(Network::parse).collect::<Result<Vec<_>, _>>())
                .transpose()?,
            networks_cli_compatible: self.networks_cli_compatible,
            purge_networks: self.purge_networks.unwrap_or(false),
            command: self
                .command
                .as_ref()
                .map(|c| words("command", c))
                .transpose()?,
            entrypoint: self
                .entrypoint
                .as_ref()
                .map(|e| words("entrypoint", e))
                .transpose()?,
            env: map(&self.env),
            labels: map(&self.labels).unwrap_or_default(),
            volumes: self.volumes.clone(),
            restart_policy: self.restart_policy.clone(),
            restart_retries: self.restart_retries,
            network_mode: self.network_mode.clone(),
            user: self.user.clone(),
            working_dir: self.working_dir.clone(),
            hostname: self.hostname.clone(),
            privileged: self.privileged,
            read_only: self.read_only,
            init: self.init,
            tty: self.tty,
            interactive: self.interactive,
            auto_remove: self.auto_remove,
        })
    }

    fn pull(&self) -> Result<Pull, DockerError> {
        match &self.pull {
            None => Ok(Pull::Missing),
            Some(Value::String(s)) if s == "missing" => Ok(Pull::Missing),
            Some(Value::String(s)) if s == "always" => Ok(Pull::Always),
            Some(Value::String(s)) if s == "never" => Ok(Pull::Never),
            // community.docker before 4.0: a boolean, `false` meaning
            // "only when missing".
            Some(v) => match to_bool(v) {
                Some(true) => Ok(Pull::Always),
                Some(false) => Ok(Pull::Missing),
                None => Err(DockerError::Refused(format!(
                    "`pull` must be always, missing, never or a boolean, not {v}"
                ))),
            },
        }
    }

    fn prefix(&self) -> String {
        shell_env(self.docker_host.as_deref())
    }

    fn describe(state: &str, lines: &[(String, String)]) -> String {
        let mut text = format!("state: {state}\n");
        for (k, v) in lines {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text
    }

    fn message(&self, drift: &ContainerDrift) -> String {
        let n = &self.name;
        let mut parts = Vec::new();
        if drift.verify {
            parts.push(format!(
                "pulled {} to compare",
                self.image.as_deref().unwrap_or("")
            ));
        } else if drift.pull {
            parts.push(format!("pulled {}", self.image.as_deref().unwrap_or("")));
        }
        if !drift.reconnect.is_empty() {
            parts.push(format!("changed the networks of container {n}"));
        }
        if drift.remove && drift.create {
            parts.push(format!(
                "recreated container {n} ({})",
                drift.differs.join(", ")
            ));
        } else if drift.remove {
            parts.push(format!("removed container {n}"));
        } else if drift.create {
            parts.push(format!("created container {n}"));
        }
        if drift.start {
            parts.push(format!("started container {n}"));
        }
        if drift.stop {
            parts.push(format!("stopped container {n}"));
        }
        if drift.restart {
            parts.push(format!("restarted container {n}"));
        }
        parts.join("; ")
    }

    /// The script lines that stop the container, gracefully unless
    /// `force_kill`.
    fn stop_line(&self, name: &str) -> String {
        if self.force_kill {
            return docker_cli::step("kill", &format!("docker kill -- {name} >/dev/null"));
        }
        let timeout = self
            .stop_timeout
            .map(|t| format!(" -t {t}"))
            .unwrap_or_default();
        docker_cli::step(
            "stop",
            &format!("docker stop{timeout} -- {name} >/dev/null"),
        )
    }

    fn recreate_lines(
        &self,
        drift: &ContainerDrift,
        wanted: &Wanted,
    ) -> Result<String, DockerError> {
        let name = shell_quote(&self.name);
        let mut body = String::new();
        if drift.remove {
            let volumes = if self.keep_volumes { "" } else { " -v" };
            if !self.force_kill {
                body.push_str(&format!(
                    "if [ \"$(docker container inspect --format '{{{{.State.Running}}}}' -- {name})\" = true ]; then\n{}fi\n",
                    self.stop_line(&name)
                ));
            }
            body.push_str(&docker_cli::step(
                "rm",
                &format!("docker rm -f{volumes} -- {name} >/dev/null"),
            ));
        }
        if drift.create {
            let image = self.image.as_deref().ok_or_else(|| {
                DockerError::Refused(format!(
                    "docker_container: `image` is needed to create container {}",
                    self.name
                ))
            })?;
            body.push_str(&docker_cli::step(
                "create",
                &format!(
                    "docker create --name {name}{} -- {}{} >/dev/null",
                    wanted.create_flags(),
                    shell_quote(image),
                    wanted.create_args()
                ),
            ));
            for connect in wanted.connect_commands(&name) {
                body.push_str(&docker_cli::step("network connect", &connect));
            }
        }
        Ok(body)
    }
}

#[async_trait]
impl Task for DockerContainer {
    type Drift = ContainerDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<ContainerDrift>, TaskError> {
        docker_cli::check_name("container", &self.name)?;
        if let Some(image) = &self.image {
            docker_cli::check_name("image", image)?;
        }
        let wanted = self.wanted()?;
        let pull = self.pull()?;
        let mut body = self.prefix();
        body.push_str(&docker_cli::inspect_line(
            "container",
            &self.name,
            "container",
        ));
        if let Some(image) = &self.image {
            body.push_str(&docker_cli::inspect_line("image", image, "image"));
        }
        let (_, mut inspected) = docker_cli::run(cx, &body).await?;
        let container = inspected.take("container")?;
        let image = match &self.image {
            Some(_) => inspected.take("image")?,
            None => None,
        };
        let running = container
            .as_ref()
            .is_some_and(|c| c["State"]["Running"].as_bool() == Some(true));
        let status = container
            .as_ref()
            .map(|c| docker_cli::scalar_text(&c["State"]["Status"]))
            .unwrap_or_else(|| "absent".to_string());
        let result = |c: Option<Value>| {
            Outcome::ok().with_data("container", c.unwrap_or_else(|| Value::Object(Map::new())))
        };
        let mut drift = ContainerDrift::default();
        let mut lines = Vec::new();
        if self.state == "absent" {
            if container.is_none() {
                return Ok(Check::InSync(result(None)));
            }
            drift.remove = true;
        } else {
            if let (Some(name), None) = (&self.image, &image) {
                if pull == Pull::Never {
                    return Err(DockerError::Refused(format!(
                        "Cannot find the image {name} locally, and `pull` is never"
                    ))
                    .into());
                }
                drift.pull = true;
            }
            match &container {
                None => {
                    if self.image.is_none() {
                        return Err(DockerError::Refused(format!(
                            "docker_container: container {} does not exist and `image` is missing: name the image to create it from",
                            self.name
                        ))
                        .into());
                    }
                    drift.create = true;
                }
                Some(c) => {
                    let empty = Value::Object(Map::new());
                    let mut differences = wanted.differences(c, image.as_ref().unwrap_or(&empty));
                    if let Some(want) = &self.image {
                        let have = docker_cli::scalar_text(&c["Image"]);
                        let id = image.as_ref().map(|i| docker_cli::scalar_text(&i["Id"]));
                        if id.as_deref() != Some(have.as_str()) {
                            differences.push(("image".into(), have.clone(), want.clone()));
                        } else if pull == Pull::Always {
                            drift.verify = true;
                            drift.pull = true;
                            drift.running_image = have;
                        }
                    }
                    if self.recreate {
                        differences.push(("recreate".into(), String::new(), "requested".into()));
                    }
                    if differences.len() == 1 && differences[0].0 == "networks" && !drift.verify {
                        // As community.docker: networks change in place
                        // (unless a pull may bring another image, which
                        // recreates the container anyway).
                        drift.reconnect = wanted.network_commands(c, &shell_quote(&self.name));
                    } else if !differences.is_empty() {
                        drift.verify = false;
                        drift.remove = true;
                        drift.create = true;
                    }
                    drift.differs = differences.iter().map(|d| d.0.clone()).collect();
                    lines = differences;
                }
            }
            let fresh = drift.create;
            match self.state.as_str() {
                "started" => {
                    drift.start = fresh || !running;
                    drift.restart = self.restart && running && !fresh;
                }
                "stopped" => drift.stop = running && !fresh,
                _ => {}
            }
        }
        let nothing = !drift.pull
            && !drift.remove
            && !drift.create
            && !drift.start
            && drift.reconnect.is_empty();
        if nothing && !drift.stop && !drift.restart {
            return Ok(Check::InSync(result(container)));
        }
        let msg = self.message(&drift);
        let mut preview = result(container).with_msg(format!("would have {msg}"));
        // A pull that only verifies is not a change unless it finds a newer
        // image, which only the apply can know.
        preview.changed = !(drift.verify && !drift.start && !drift.stop && !drift.restart);
        if cx.diff && preview.changed {
            let before: Vec<(String, String)> = lines
                .iter()
                .map(|(k, was, _)| (k.clone(), was.clone()))
                .collect();
            let after: Vec<(String, String)> = lines
                .iter()
                .map(|(k, _, wanted)| (k.clone(), wanted.clone()))
                .collect();
            let after_state = match self.state.as_str() {
                "absent" => "absent",
                "started" => "running",
                "stopped" if drift.create => "created",
                "stopped" => "exited",
                _ if drift.create => "created",
                _ => status.as_str(),
            };
            preview.diffs.push(Diff {
                subject: format!("docker container {}", self.name),
                before: Some(Self::describe(&status, &before)),
                after: Some(if self.state == "absent" {
                    "state: absent\n".to_string()
                } else {
                    Self::describe(after_state, &after)
                }),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: ContainerDrift) -> Result<Outcome, TaskError> {
        let wanted = self.wanted()?;
        let name = shell_quote(&self.name);
        let mut body = self.prefix();
        if drift.pull
            && let Some(image) = &self.image
        {
            body.push_str(&docker_cli::step(
                "pull",
                &format!("docker pull -q -- {} >/dev/null", shell_quote(image)),
            ));
        }
        if drift.verify {
            // Recreate only when the pull brought another image.
            let again = ContainerDrift {
                remove: true,
                create: true,
                ..ContainerDrift::default()
            };
            body.push_str(&format!(
                "if [ \"$(docker image inspect --format '{{{{.Id}}}}' -- {image})\" != {running} ]; then\necho '@recreated true'\n{lines}{start}fi\n",
                image = shell_quote(self.image.as_deref().unwrap_or_default()),
                running = shell_quote(&drift.running_image),
                lines = self.recreate_lines(&again, &wanted)?,
                start = if self.state == "started" {
                    docker_cli::step("start", &format!("docker start -- {name} >/dev/null"))
                } else {
                    String::new()
                },
            ));
        }
        body.push_str(&self.recreate_lines(&drift, &wanted)?);
        for command in &drift.reconnect {
            body.push_str(&docker_cli::step("network", command));
        }
        if drift.start && self.detach {
            body.push_str(&docker_cli::step(
                "start",
                &format!("docker start -- {name} >/dev/null"),
            ));
        } else if drift.start {
            // Attached: the container's exit status and output are the
            // task's result.
            body.push_str(&format!(
                "o=$(docker start -a -- {name} 2>&1); s=$?\nprintf '@status %s\\n' \"$s\"\n\
                 printf '%s\\n' \"$o\" | while IFS= read -r l; do printf '|%s\\n' \"$l\"; done\n"
            ));
            if self.cleanup {
                body.push_str(&docker_cli::step(
                    "rm",
                    &format!("docker rm -f -- {name} >/dev/null"),
                ));
            }
        }
        if drift.stop {
            body.push_str(&self.stop_line(&name));
        }
        if drift.restart {
            let timeout = self
                .stop_timeout
                .map(|t| format!(" -t {t}"))
                .unwrap_or_default();
            body.push_str(&docker_cli::step(
                "restart",
                &format!("docker restart{timeout} -- {name} >/dev/null"),
            ));
        }
        body.push_str(&docker_cli::inspect_line(
            "container",
            &self.name,
            "container",
        ));
        let (out, mut inspected) = docker_cli::run(cx, &body).await?;
        let container = inspected.take("container")?;
        let recreated = inspected.take("recreated").ok().flatten().is_some();
        let mut outcome = Outcome::ok().with_data(
            "container",
            container.unwrap_or_else(|| Value::Object(Map::new())),
        );
        outcome.changed = !drift.verify
            || recreated
            || drift.start
            || drift.stop
            || drift.restart
            || !drift.reconnect.is_empty();
        outcome.msg = Some(if drift.verify && !recreated {
            format!(
                "pulled {} again: unchanged",
                self.image.as_deref().unwrap_or("")
            )
        } else {
            self.message(&drift)
        });
        if drift.start && !self.detach {
            let status = inspected
                .take("status")
                .ok()
                .flatten()
                .and_then(|s| s.as_i64())
                .unwrap_or(-1);
            let text = out.stdout_text();
            let output: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix('|')).collect();
            let output = output.join("\n");
            outcome = outcome
                .with_data("status", status)
                .with_data("output", output.clone());
            if status != 0 {
                return Err(TaskError::failed_with(
                    format!(
                        "container {} exited with status {status}: {output}",
                        self.name
                    ),
                    outcome,
                ));
            }
        }
        Ok(outcome)
    }
}
