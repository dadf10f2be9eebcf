//! The `docker_image` task (community.docker's name, with or without the
//! `community.docker.` prefix): an image of the host's Docker engine
//! present, got from where `source` says (`local`: it must be there
//! already; `load`: `docker load` of `load_path`; `pull`: `docker pull`;
//! `build`: `docker build` of `build.path`), optionally tagged into
//! `repository` and saved to `archive_path`, or absent.
//!
//! The check is one script that inspects the image (and the `repository`
//! tag, and reads the archive's `manifest.json`); the apply is one script
//! that runs the steps the check found missing, then inspects again. As in
//! community.docker, an image that is there is not fetched again unless
//! `force_source` is set, and a forced fetch only counts as a change when
//! the image id changed. The registered result has `image` (the engine's
//! inspection, `{}` when absent) and `actions`.
//!
//! With `push`, the image (or its `repository` tag) is pushed with
//! `docker push` unless the engine already knows it by a digest in that
//! repository, which it records when it pushed it there or pulled it from
//! there; a tag moved in the registry by someone else is not noticed.
//!
//! Differences from community.docker: `build.platform`,
//! `build.cache_from`, `build.container_limits`, `build.etc_hosts` and the
//! connection options other than `docker_host` are not supported (a
//! playbook naming them fails validation); `build` runs `docker build`
//! with the client's own builder.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::docker_cli::{self, DockerError, shell_env};
use crate::tasks::remote::{path_arg, shell_quote};

/// The arguments of `docker_image`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerImage {
    pub name: String,
    pub tag: String,
    pub source: Option<String>,
    pub state: String,
    #[serde(default)]
    pub force_source: bool,
    #[serde(default)]
    pub force_absent: bool,
    #[serde(default)]
    pub force_tag: bool,
    pub load_path: Option<String>,
    pub archive_path: Option<String>,
    pub repository: Option<String>,
    pub build: Option<Map<String, Value>>,
    #[serde(default)]
    pub push: bool,
    pub docker_host: Option<String>,
    #[serde(default)]
    pub debug: bool,
}

/// The `build` options, as community.docker names them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Build {
    path: String,
    dockerfile: Option<String>,
    #[serde(default)]
    args: Map<String, Value>,
    #[serde(default)]
    nocache: bool,
    #[serde(default)]
    pull: bool,
    network: Option<String>,
    target: Option<String>,
    #[serde(default)]
    labels: Map<String, Value>,
    #[serde(default = "yes")]
    rm: bool,
}

fn yes() -> bool {
    true
}

/// The parameters of `docker_image`, as community.docker names them.
pub fn spec() -> Spec {
    Spec::new(
        "docker_image",
        vec![
            Param::new("name", Kind::Str).required(),
            Param::new("tag", Kind::Str).default("latest"),
            Param::new("source", Kind::Str).choices(&["build", "load", "pull", "local"]),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("force_source", Kind::Bool).default(false),
            Param::new("force_absent", Kind::Bool).default(false),
            Param::new("force_tag", Kind::Bool).default(false),
            Param::new("load_path", Kind::Path),
            Param::new("archive_path", Kind::Path),
            Param::new("repository", Kind::Str),
            Param::new("build", Kind::Dict),
            Param::new("push", Kind::Bool).default(false),
            Param::new("docker_host", Kind::Str).aliases(&["docker_url"]),
            Param::new("debug", Kind::Bool).default(false),
        ],
    )
}

/// How the image is got.
#[derive(Debug, Clone)]
enum Fetch {
    Pull,
    Load(String),
    Build(Box<Build>),
}

/// What `apply` does, in order.
#[derive(Debug, Default)]
pub struct ImageDrift {
    fetch: Option<Fetch>,
    remove: bool,
    tag: Option<String>,
    archive: Option<String>,
    /// The reference pushed to its registry.
    push: Option<String>,
    /// The image id before, to tell a forced fetch that changed nothing.
    before: Option<String>,
    /// Whether anything but a forced fetch of an image that is there runs.
    certain: bool,
}

/// `name:tag`, unless the name carries its own tag or digest.
fn reference(name: &str, tag: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:{tag}")
    }
}

/// The image id a `docker save` archive's manifest names (its config
/// blob: `<hex>.json` in the classic layout, `blobs/sha256/<hex>` in OCI).
fn archive_id(manifest: &Value) -> Option<String> {
    let config = manifest.get(0)?.get("Config")?.as_str()?;
    let name = config.rsplit('/').next()?;
    Some(format!("sha256:{}", name.trim_end_matches(".json")))
}

/// A reference without its tag (`registry:5000/app:1` → `registry:5000/app`).
fn repository_of(reference: &str) -> &str {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => reference,
    }
}

/// Whether the engine knows the image by a digest in `repository`, which
/// it records when the image was pushed there or pulled from there.
fn has_digest_in(image: &Option<Value>, repository: &str) -> bool {
    let prefix = format!("{repository}@");
    image
        .as_ref()
        .and_then(|i| i["RepoDigests"].as_array())
        .is_some_and(|digests| {
            digests
                .iter()
                .filter_map(Value::as_str)
                .any(|d| d.starts_with(&prefix))
        })
}

fn image_id(image: &Option<Value>) -> Option<String> {
    image
        .as_ref()
        .and_then(|i| i["Id"].as_str())
        .map(str::to_string)
}

impl DockerImage {
    fn reference(&self) -> String {
        reference(&self.name, &self.tag)
    }

    /// What `push` sends: the `repository` tag when there is one, as in
    /// community.docker, else the image itself.
    fn pushed(&self) -> String {
        self.target().unwrap_or_else(|| self.reference())
    }

    /// The `repository` target, with the task's tag when it has none.
    fn target(&self) -> Option<String> {
        let repo = self.repository.as_ref()?;
        let tag = self
            .reference()
            .rsplit_once(':')
            .map(|(_, t)| t.to_string());
        Some(reference(repo, tag.as_deref().unwrap_or(&self.tag)))
    }

    fn fetch(&self) -> Result<Option<Fetch>, DockerError> {
        let source = match self.source.as_deref() {
            Some(source) => source,
            None if self.state == "present" => {
                return Err(DockerError::Refused(
                    "docker_image: state is present but `source` is missing: say where the image comes from (source: local, load, pull or build)".to_string(),
                ));
            }
            None => return Ok(None),
        };
        Ok(match source {
            "pull" => Some(Fetch::Pull),
            "load" => match &self.load_path {
                Some(path) => Some(Fetch::Load(path.clone())),
                None => {
                    return Err(DockerError::Refused(
                        "docker_image: source is load but `load_path` is missing: name the archive `docker save` wrote".to_string(),
                    ));
                }
            },
            "build" => {
                let Some(build) = &self.build else {
                    return Err(DockerError::Refused(
                        "docker_image: source is build but `build` is missing: give at least `build.path`, the build context".to_string(),
                    ));
                };
                let build: Build = serde_json::from_value(Value::Object(build.clone()))
                    .map_err(|e| {
                        DockerError::Refused(format!(
                            "docker_image: `build` is not understood: {e} (dtrplay supports path, dockerfile, args, nocache, pull, network, target, labels, rm)"
                        ))
                    })?;
                Some(Fetch::Build(Box::new(build)))
            }
            _ => None,
        })
    }

    fn prefix(&self) -> String {
        shell_env(self.docker_host.as_deref())
    }

    fn inspect_body(&self) -> String {
        let mut body = self.prefix();
        body.push_str(&docker_cli::inspect_line(
            "image",
            &self.reference(),
            "image",
        ));
        if let Some(target) = self.target() {
            body.push_str(&docker_cli::inspect_line("image", &target, "target"));
        }
        if let Some(archive) = &self.archive_path {
            body.push_str(&format!(
                "a={}\nif [ -f \"$a\" ]; then m=$(tar -xOf \"$a\" manifest.json 2>/dev/null | tr -d '\\n'); \
                 if [ -n \"$m\" ]; then printf '@archive %s\\n' \"$m\"; else echo '@archive \"unreadable\"'; fi; \
                 else echo '@archive null'; fi\n",
                path_arg(archive)
            ));
        }
        body
    }

    fn result(&self, image: Option<Value>, actions: Vec<String>) -> Outcome {
        Outcome::ok()
            .with_data("image", image.unwrap_or_else(|| Value::Object(Map::new())))
            .with_data("actions", actions)
    }

    fn actions(&self, drift: &ImageDrift) -> Vec<String> {
        let r = self.reference();
        let mut out = Vec::new();
        if drift.remove {
            out.push(format!("Removed image {r}"));
        }
        match &drift.fetch {
            Some(Fetch::Pull) => out.push(format!("Pulled image {r}")),
            Some(Fetch::Load(path)) => out.push(format!("Loaded image {r} from {path}")),
            Some(Fetch::Build(build)) => out.push(format!("Built image {r} from {}", build.path)),
            None => {}
        }
        if let Some(target) = &drift.tag {
            out.push(format!("Tagged image {r} to {target}"));
        }
        if let Some(archive) = &drift.archive {
            out.push(format!("Archived image {r} to {archive}"));
        }
        if let Some(pushed) = &drift.push {
            out.push(format!("Pushed image {pushed}"));
        }
        out
    }

    fn fetch_command(&self, fetch: &Fetch) -> (String, String) {
        let r = shell_quote(&self.reference());
        match fetch {
            Fetch::Pull => ("pull".into(), format!("docker pull -q -- {r}")),
            Fetch::Load(path) => ("load".into(), format!("docker load -i {}", path_arg(path))),
            Fetch::Build(build) => {
                let mut c = format!("docker build -q -t {r}");
                if let Some(file) = &build.dockerfile {
                    c.push_str(&format!(" -f {}", path_arg(file)));
                }
                c.push_str(&docker_cli::flags(
                    "--build-arg",
                    &docker_cli::pairs(&build.args),
                ));
                c.push_str(&docker_cli::flags(
                    "--label",
                    &docker_cli::pairs(&build.labels),
                ));
                if build.nocache {
                    c.push_str(" --no-cache");
                }
                if build.pull {
                    c.push_str(" --pull");
                }
                if !build.rm {
                    c.push_str(" --rm=false");
                }
                if let Some(network) = &build.network {
                    c.push_str(&format!(" --network {}", shell_quote(network)));
                }
                if let Some(target) = &build.target {
                    c.push_str(&format!(" --target {}", shell_quote(target)));
                }
                c.push_str(&format!(" -- {}", path_arg(&build.path)));
                ("build".into(), c)
            }
        }
    }

    fn describe(&self, id: Option<&str>) -> String {
        match id {
            None => "state: absent\n".to_string(),
            Some(id) => format!("state: present\nid: {id}\n"),
        }
    }
}

#[async_trait]
impl Task for DockerImage {
    type Drift = ImageDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<ImageDrift>, TaskError> {
        docker_cli::check_name("image", &self.name)?;
        if let Some(repo) = &self.repository {
            docker_cli::check_name("repository", repo)?;
        }
        let fetch = self.fetch()?;
        let (_, mut inspected) = docker_cli::run(cx, &self.inspect_body()).await?;
        let image = inspected.take("image")?;
        let target_image = match self.target() {
            Some(_) => inspected.take("target")?,
            None => None,
        };
        let id = image_id(&image);
        let r = self.reference();
        let mut drift = ImageDrift {
            before: id.clone(),
            ..ImageDrift::default()
        };
        if self.state == "absent" {
            if id.is_none() {
                return Ok(Check::InSync(self.result(None, Vec::new())));
            }
            drift.remove = true;
            drift.certain = true;
        } else {
            match (&fetch, &id) {
                (None, None) => {
                    return Err(DockerError::Refused(format!(
                        "Cannot find the image {r} locally."
                    ))
                    .into());
                }
                (Some(_), Some(_)) if !self.force_source => {}
                (Some(f), _) => {
                    drift.certain = id.is_none();
                    drift.fetch = Some(f.clone());
                }
                (None, Some(_)) => {}
            }
            if let Some(target) = self.target() {
                let tagged = image_id(&target_image);
                if self.force_tag || tagged.is_none() || tagged != id || drift.fetch.is_some() {
                    drift.certain |= self.force_tag || tagged.is_none() || tagged != id;
                    drift.tag = Some(target);
                }
            }
            if let Some(archive) = &self.archive_path {
                let saved = inspected.take("archive")?;
                let saved_id = saved.as_ref().and_then(archive_id);
                if saved_id.is_none() || saved_id != id || drift.fetch.is_some() {
                    drift.certain |= saved_id.is_none() || saved_id != id;
                    drift.archive = Some(archive.clone());
                }
            }
        }
        if self.push && self.state == "present" {
            let pushed = self.pushed();
            let known = match self.target() {
                Some(_) => target_image.clone(),
                None => image.clone(),
            };
            let missing = !has_digest_in(&known, repository_of(&pushed));
            if missing || drift.fetch.is_some() || drift.tag.is_some() {
                drift.certain |= missing;
                drift.push = Some(pushed);
            }
        }
        if drift.fetch.is_none()
            && drift.tag.is_none()
            && drift.archive.is_none()
            && drift.push.is_none()
            && !drift.remove
        {
            return Ok(Check::InSync(self.result(image, Vec::new())));
        }
        let actions = self.actions(&drift);
        let mut preview = self
            .result(image, actions.clone())
            .with_msg(actions.join("; "));
        preview.changed = true;
        if cx.diff {
            let after = if drift.remove {
                self.describe(None)
            } else if drift.fetch.is_some() {
                "state: present\nid: (the engine's, once fetched)\n".to_string()
            } else {
                self.describe(id.as_deref())
            };
            let mut after = after;
            if let Some(target) = &drift.tag {
                after.push_str(&format!("tagged: {target}\n"));
            }
            if let Some(archive) = &drift.archive {
                after.push_str(&format!("archived: {archive}\n"));
            }
            if let Some(pushed) = &drift.push {
                after.push_str(&format!("pushed: {pushed}\n"));
            }
            preview.diffs.push(Diff {
                subject: format!("docker image {r}"),
                before: Some(self.describe(id.as_deref())),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: ImageDrift) -> Result<Outcome, TaskError> {
        let r = self.reference();
        let quoted = shell_quote(&r);
        let mut body = self.prefix();
        if drift.remove {
            let force = if self.force_absent { " -f" } else { "" };
            body.push_str(&docker_cli::step(
                "rmi",
                &format!("docker rmi{force} -- {quoted} >/dev/null"),
            ));
        }
        if let Some(fetch) = &drift.fetch {
            let (action, command) = self.fetch_command(fetch);
            body.push_str(&docker_cli::step(&action, &format!("{command} >/dev/null")));
        }
        if let Some(target) = &drift.tag {
            body.push_str(&docker_cli::step(
                "tag",
                &format!("docker tag {quoted} {}", shell_quote(target)),
            ));
        }
        if let Some(archive) = &drift.archive {
            body.push_str(&docker_cli::step(
                "save",
                &format!("docker save -o {} -- {quoted}", path_arg(archive)),
            ));
        }
        if let Some(pushed) = &drift.push {
            body.push_str(&docker_cli::step(
                "push",
                &format!("docker push -- {} >/dev/null", shell_quote(pushed)),
            ));
        }
        body.push_str(&docker_cli::inspect_line("image", &r, "image"));
        let (_, mut inspected) = docker_cli::run(cx, &body).await?;
        let image = inspected.take("image")?;
        let after = image_id(&image);
        if let Some(Fetch::Load(path)) = &drift.fetch
            && after.is_none()
        {
            return Err(DockerError::Refused(format!(
                "the archive {path} did not contain the image {r}: `docker load` loaded it, but the engine has no {r} now"
            ))
            .into());
        }
        let actions = self.actions(&drift);
        let mut outcome = self.result(image, actions.clone());
        outcome.changed = drift.certain || after != drift.before;
        outcome.msg = Some(if outcome.changed {
            actions.join("; ")
        } else {
            format!("{r} was fetched again and is unchanged")
        });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_keep_a_tag_or_digest_in_the_name() {
        assert_eq!(reference("lab/app", "1"), "lab/app:1");
        assert_eq!(reference("lab/app:2", "1"), "lab/app:2");
        assert_eq!(reference("127.0.0.1:5000/app", "1"), "127.0.0.1:5000/app:1");
        assert_eq!(reference("app@sha256:ab", "1"), "app@sha256:ab");
    }

    #[test]
    fn archives_name_their_image_in_both_layouts() {
        let classic = serde_json::json!([{"Config": "24ede9.json"}]);
        let oci = serde_json::json!([{"Config": "blobs/sha256/24ede9"}]);
        assert_eq!(archive_id(&classic).as_deref(), Some("sha256:24ede9"));
        assert_eq!(archive_id(&oci).as_deref(), Some("sha256:24ede9"));
        assert_eq!(archive_id(&serde_json::json!("unreadable")), None);
    }
}
