//! The `docker_volume` task (community.docker's name, with or without the
//! `community.docker.` prefix): a volume of the host's Docker engine
//! present, with its driver, driver options and labels, or absent, through
//! the host's `docker` command line (`docker_cli.rs`).
//!
//! The check is one `docker volume inspect`; the apply is one script that
//! removes (when recreating), creates, and inspects again. As in
//! community.docker, a volume that exists with other options is left alone
//! unless `recreate` says `options-changed` (or `always`); the registered
//! result has `volume` (the engine's inspection) and `actions`.
//!
//! Differences from community.docker: the connection options other than
//! `docker_host` (TLS, API version) are not supported; the client's own
//! environment (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, ...) applies.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::docker_cli::{self, shell_env};
use crate::tasks::remote::shell_quote;

/// The arguments of `docker_volume`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerVolume {
    pub volume_name: String,
    pub driver: String,
    #[serde(default)]
    pub driver_options: Map<String, Value>,
    pub labels: Option<Map<String, Value>>,
    pub recreate: String,
    pub state: String,
    pub docker_host: Option<String>,
    #[serde(default)]
    pub debug: bool,
}

/// The parameters of `docker_volume`, as community.docker names them.
pub fn spec() -> Spec {
    Spec::new(
        "docker_volume",
        vec![
            Param::new("volume_name", Kind::Str)
                .required()
                .aliases(&["name"]),
            Param::new("driver", Kind::Str).default("local"),
            Param::new("driver_options", Kind::Dict).aliases(&["driver_opts"]),
            Param::new("labels", Kind::Dict),
            Param::new("recreate", Kind::Str)
                .choices(&["always", "never", "options-changed"])
                .default("never"),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("docker_host", Kind::Str).aliases(&["docker_url"]),
            Param::new("debug", Kind::Bool).default(false),
        ],
    )
}

/// What `apply` does.
#[derive(Debug)]
pub enum VolumeDrift {
    Create,
    Recreate,
    Remove,
}

/// The parts of a volume the task compares and shows.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    driver: String,
    options: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

impl Shape {
    fn of(volume: &Value) -> Shape {
        Shape {
            driver: docker_cli::scalar_text(&volume["Driver"]),
            options: docker_cli::string_map(volume, &["Options"]),
            labels: docker_cli::string_map(volume, &["Labels"]),
        }
    }

    fn describe(&self) -> String {
        let mut text = format!("state: present\ndriver: {}\n", self.driver);
        for (k, v) in &self.options {
            text.push_str(&format!("driver_options.{k}: {v}\n"));
        }
        for (k, v) in &self.labels {
            text.push_str(&format!("labels.{k}: {v}\n"));
        }
        text
    }
}

impl DockerVolume {
    fn wanted(&self) -> Shape {
        let to_map = docker_cli::pairs;
        Shape {
            driver: self.driver.clone(),
            options: to_map(&self.driver_options),
            labels: self.labels.as_ref().map(to_map).unwrap_or_default(),
        }
    }

    /// What differs between the volume and the task, as community.docker
    /// names the options; labels not named by the task do not count.
    fn differences(&self, current: &Shape) -> Vec<&'static str> {
        let wanted = self.wanted();
        let mut out = Vec::new();
        if wanted.driver != current.driver {
            out.push("driver");
        }
        if !self.driver_options.is_empty() && wanted.options != current.options {
            out.push("driver_options");
        }
        if wanted
            .labels
            .iter()
            .any(|(k, v)| current.labels.get(k) != Some(v))
        {
            out.push("labels");
        }
        out
    }

    fn result(&self, volume: Option<Value>, actions: Vec<String>) -> Outcome {
        Outcome::ok()
            .with_data(
                "volume",
                volume.unwrap_or_else(|| Value::Object(Map::new())),
            )
            .with_data("actions", actions)
    }

    fn prefix(&self) -> String {
        shell_env(self.docker_host.as_deref())
    }
}

#[async_trait]
impl Task for DockerVolume {
    type Drift = VolumeDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<VolumeDrift>, TaskError> {
        docker_cli::check_name("volume", &self.volume_name)?;
        let body = format!(
            "{}{}",
            self.prefix(),
            docker_cli::inspect_line("volume", &self.volume_name, "volume")
        );
        let (_, mut inspected) = docker_cli::run(cx, &body).await?;
        let current = inspected.take("volume")?;
        let shape = current.as_ref().map(Shape::of);
        let name = &self.volume_name;
        let (drift, msg) = match (self.state.as_str(), &shape) {
            ("absent", None) => return Ok(Check::InSync(self.result(None, Vec::new()))),
            ("absent", Some(_)) => (VolumeDrift::Remove, format!("Removed volume {name}")),
            (_, None) => (
                VolumeDrift::Create,
                format!("Created volume {name} with driver {}", self.driver),
            ),
            (_, Some(shape)) => {
                let differs = self.differences(shape);
                let recreate = match self.recreate.as_str() {
                    "always" => true,
                    "options-changed" => !differs.is_empty(),
                    _ => false,
                };
                if !recreate {
                    return Ok(Check::InSync(self.result(current, Vec::new())));
                }
                (
                    VolumeDrift::Recreate,
                    format!(
                        "Removed volume {name}, created volume {name} with driver {}",
                        self.driver
                    ),
                )
            }
        };
        let mut preview = self.result(current, vec![msg.clone()]).with_msg(msg);
        preview.changed = true;
        if cx.diff {
            let after = match drift {
                VolumeDrift::Remove => "state: absent\n".to_string(),
                _ => self.wanted().describe(),
            };
            preview.diffs.push(Diff {
                subject: format!("docker volume {name}"),
                before: Some(
                    shape
                        .map(|s| s.describe())
                        .unwrap_or_else(|| "state: absent\n".to_string()),
                ),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: VolumeDrift) -> Result<Outcome, TaskError> {
        let name = shell_quote(&self.volume_name);
        let wanted = self.wanted();
        let create = format!(
            "docker volume create --driver {}{}{} -- {name}",
            shell_quote(&self.driver),
            docker_cli::flags("--opt", &wanted.options),
            docker_cli::flags("--label", &wanted.labels),
        );
        let remove = format!("docker volume rm -- {name}");
        let mut body = self.prefix();
        match drift {
            VolumeDrift::Create => body.push_str(&docker_cli::step("volume create", &create)),
            VolumeDrift::Recreate => {
                body.push_str(&docker_cli::step("volume rm", &remove));
                body.push_str(&docker_cli::step("volume create", &create));
            }
            VolumeDrift::Remove => body.push_str(&docker_cli::step("volume rm", &remove)),
        }
        body.push_str(&docker_cli::inspect_line(
            "volume",
            &self.volume_name,
            "volume",
        ));
        let (_, mut inspected) = docker_cli::run(cx, &body).await?;
        let volume = inspected.take("volume")?;
        let n = &self.volume_name;
        let action = match drift {
            VolumeDrift::Create => format!("Created volume {n} with driver {}", self.driver),
            VolumeDrift::Recreate => {
                format!(
                    "Removed volume {n}, created volume {n} with driver {}",
                    self.driver
                )
            }
            VolumeDrift::Remove => format!("Removed volume {n}"),
        };
        let mut outcome = self.result(volume, vec![action.clone()]).with_msg(action);
        outcome.changed = true;
        Ok(outcome)
    }
}
