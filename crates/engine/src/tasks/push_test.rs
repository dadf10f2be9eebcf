//! `push-test`: step 6 of the procedure, proving the integration works.
//!
//! The push is the procedure's: through UCP with a client bundle, no
//! `docker login` (`push_bundle.rs`): the image (`hello-world`, pulled only
//! when the cluster lacks it) is tagged `<dtr-host[:port]>/<push_test_repo>:<tag>`
//! and pushed, once per run; then the tag is checked through the DTR API.
//! The private test repository is created first when missing, once per run
//! however many nodes run the task (`REPOSITORY_EXISTS` counts as done).
//! Then every node proves that its own engine trusts DTR: an anonymous
//! `docker pull` of the pushed tag over SSH. A certificate error means step
//! 5 is broken on that node; a registry refusal (`denied`) or the image
//! itself means TLS trust holds there.
//!
//! The check only reads the repository and tag. The apply always pushes,
//! because the push is the test; it reports `changed` only when the run
//! created the repository or moved the tag to a new digest, so a second
//! run is ok. Those run-wide changes are reported by one host, the first of
//! `ansible_play_batch`, whichever host's request happened to make them:
//! the plan shows them once, and the same node reports them on every run.
//!
//! A failure is diagnosed, not just printed: the engines' texts
//! (`push_failure.rs`) name the broken trust link, the node and, for a
//! certificate error, what that node's `ca.crt` holds.

use async_trait::async_trait;
use serde::Deserialize;

use crate::api::contract::{self, DtrAccess, DtrArgs, UcpAccess, UcpArgs};
use crate::api::dtr::{Created, Dtr};
use crate::api::registry::{
    ca_crt_path, check_tag, image_reference, registry_host, split_repository,
};
use crate::cert;
use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::run_memory::RunMemory;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy_ca_crt::{self, Remote};
use crate::tasks::dump_certs::shell_quote;
use crate::tasks::push_bundle;

/// The procedure's test image.
pub const DEFAULT_IMAGE: &str = "hello-world";
/// The procedure's tag.
pub const DEFAULT_TAG: &str = "1";
pub use crate::tasks::push_failure::{
    PushFailure, UNAUTHORIZED, UNKNOWN_AUTHORITY, classify as classify_failure,
};

/// The arguments of `push-test`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTest {
    /// `<namespace>/<name>`; default `push_test_repo`, else
    /// `<dtr_username>/hello-world`.
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default = "default_tag")]
    pub tag: String,
    /// The image pulled and re-tagged.
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default)]
    pub dtr_url: Option<String>,
    #[serde(default)]
    pub dtr_username: Option<String>,
    #[serde(default)]
    pub dtr_password: Option<String>,
    #[serde(default)]
    pub dtr_ca_file: Option<String>,
    #[serde(default)]
    pub docker_certs_dir: Option<String>,
}

fn default_tag() -> String {
    DEFAULT_TAG.to_string()
}

fn default_image() -> String {
    DEFAULT_IMAGE.to_string()
}

pub fn spec() -> Spec {
    Spec::new(
        "push-test",
        vec![
            Param::new("repo", Kind::Str),
            Param::new("tag", Kind::Str).default(DEFAULT_TAG),
            Param::new("image", Kind::Str).default(DEFAULT_IMAGE),
            Param::new("dtr_url", Kind::Str),
            Param::new("dtr_username", Kind::Str),
            Param::new("dtr_password", Kind::Str).secret(),
            Param::new("dtr_ca_file", Kind::Path),
            Param::new("docker_certs_dir", Kind::Path),
        ],
    )
}

/// The anonymous pull on a node that shows whether its engine trusts DTR,
/// with all output on stdout.
pub fn probe_script(reference: &str) -> String {
    format!("exec 2>&1\ndocker pull {}\n", shell_quote(reference))
}

/// The digest of `<tag>: digest: sha256:... size: N` in a push's output.
pub fn pushed_digest(output: &str, tag: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(tag)?.strip_prefix(": digest: ")?;
        let digest = rest.split_whitespace().next()?;
        digest.starts_with("sha256:").then(|| digest.to_string())
    })
}

/// The diagnosis of a refused push through UCP.
pub fn unauthorized_diagnosis(text: &str) -> String {
    format!(
        "the push through UCP with a client bundle failed with `{text}`: UCP is not configured for DTR, or DTR does not trust the UCP cluster CA (steps 3–4): run `dtrplay doctor`"
    )
}

/// Whether a failed pull's output shows that the registry answered over
/// verified TLS (it refused, or lacks the image).
fn registry_answered(output: &str) -> bool {
    let lower = output.to_ascii_lowercase();
    classify_failure(output) == PushFailure::Refused
        || lower.contains("manifest unknown")
        || lower.contains("name unknown")
}

/// What the check found, for the apply.
pub struct PushDrift {
    dtr: Dtr,
    namespace: String,
    name: String,
    origin: String,
    repo_exists: bool,
    tag_digest_before: Option<String>,
    reference: String,
    ca_path: String,
    dtr_access: DtrAccess,
    /// `<dtr-host[:port]>/<namespace>/<name>`, what is tagged and pushed.
    repository: String,
    ucp: UcpAccess,
}

/// The kinds of what the push test remembers in the run's memory.
const CREATED: &str = "push-test repository";
const MOVED: &str = "push-test tag move";

/// Who reports the run-wide changes (a created repository, a moved tag):
/// `Some(true)` on the first host of `ansible_play_batch`, `Some(false)` on
/// the others, `None` where the batch is not known (the task driven
/// without a play), where the first host to see a change reports it.
fn reporter_of_run_changes(cx: &Context<'_>) -> Option<bool> {
    // A shared run-wide value: not among the copied variables, so asked of
    // the evaluator.
    let batch = (cx.eval)("ansible_play_batch").ok()?;
    let first = batch.as_array()?.first()?.as_str()?.to_string();
    Some(first == cx.host)
}

/// Creates the repository once per run; `Ok(true)` for the one caller whose
/// request created it.
async fn create_once(
    memory: &RunMemory,
    dtr: &Dtr,
    origin: &str,
    namespace: &str,
    name: &str,
) -> Result<bool, String> {
    let key = repo_key(origin, namespace, name);
    let (result, ran_here) = memory
        .once(CREATED, &key, || async {
            dtr.create_repository(
                namespace,
                name,
                "private",
                "dtrplay integration test (procedure step 6)",
            )
            .await
            .map(|c| matches!(c, Created::Created(_)))
            .map_err(|e| e.to_string())
        })
        .await;
    result.map(|created| created && ran_here)
}

fn repo_key(origin: &str, namespace: &str, name: &str) -> String {
    format!("{origin}/{namespace}/{name}")
}

#[async_trait]
impl Task for PushTest {
    type Drift = PushDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<PushDrift>, TaskError> {
        let lookup = contract::context_lookup(cx);
        let fail = |e: &dyn std::fmt::Display| TaskError::failed(e.to_string());
        let repo = contract::push_test_repo(self.repo.as_deref(), &lookup).map_err(|e| fail(&e))?;
        let (namespace, name) = split_repository(&repo).map_err(|e| fail(&e))?;
        check_tag(&self.tag).map_err(|e| fail(&e))?;
        let access = DtrAccess::resolve(
            DtrArgs {
                url: self.dtr_url.as_deref(),
                username: self.dtr_username.as_deref(),
                password: self.dtr_password.as_deref(),
                ca_file: self.dtr_ca_file.as_deref(),
            },
            &lookup,
            true,
        )
        .map_err(|e| fail(&e))?;
        let host = registry_host(&access.url).map_err(|e| fail(&e))?;
        let certs_dir =
            contract::certs_dir(self.docker_certs_dir.as_deref(), &lookup).map_err(|e| fail(&e))?;
        let ucp = UcpAccess::resolve(UcpArgs::default(), &lookup).map_err(|e| fail(&e))?;
        let dtr = access.connect().await.map_err(|e| fail(&e))?;
        let origin = crate::api::origin(&dtr.endpoint().base);
        let repo_exists = dtr
            .repository(&namespace, &name)
            .await
            .map_err(|e| fail(&e))?
            .is_some();
        let tag_digest_before = if repo_exists {
            dtr.tags(&namespace, &name)
                .await
                .map_err(|e| fail(&e))?
                .into_iter()
                .find(|t| t.name == self.tag)
                .map(|t| t.digest)
        } else {
            None
        };
        let reference = image_reference(&host, &repo, &self.tag);
        let mut preview = Outcome::ok()
            .with_msg(format!("push {reference} from {}", cx.host))
            .with_data("image", reference.clone());
        // The repository and the tag are the run's, not this node's: one
        // node shows their changes.
        if reporter_of_run_changes(cx) != Some(false) {
            if !repo_exists {
                preview.changed = true;
                preview.diffs.push(Diff {
                    subject: format!("DTR repository {repo}"),
                    before: None,
                    after: Some("visibility: private\n".into()),
                });
            }
            if tag_digest_before.is_none() {
                preview.changed = true;
                preview.diffs.push(Diff {
                    subject: format!("DTR tag {repo}:{}", self.tag),
                    before: None,
                    after: Some(format!("pushed through UCP ({})\n", self.image)),
                });
            }
        }
        Ok(Check::Drift {
            drift: PushDrift {
                dtr,
                namespace,
                name,
                origin,
                repo_exists,
                tag_digest_before,
                reference,
                ca_path: ca_crt_path(&certs_dir, &host),
                dtr_access: access,
                repository: format!("{host}/{repo}"),
                ucp,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: PushDrift) -> Result<Outcome, TaskError> {
        let repo = format!("{}/{}", drift.namespace, drift.name);
        let mut notes = Vec::new();
        let mut changed = false;
        let reports = reporter_of_run_changes(cx);
        let mut created = false;
        if !drift.repo_exists {
            created = create_once(
                cx.memory(),
                &drift.dtr,
                &drift.origin,
                &drift.namespace,
                &drift.name,
            )
            .await
            .map_err(|e| {
                TaskError::failed(format!("cannot create the test repository {repo}: {e}"))
            })?;
        }
        let created = match reports {
            None => created,
            Some(false) => false,
            // Another host's request may have made it, before or after this
            // host looked.
            Some(true) => {
                let key = repo_key(&drift.origin, &drift.namespace, &drift.name);
                created
                    || matches!(
                        cx.memory().peek::<Result<bool, String>>(CREATED, &key),
                        Some(Ok(true))
                    )
            }
        };
        if created {
            changed = true;
            notes.push(format!("created private repository {repo}"));
        }
        let pushed = push_bundle::push_once(
            cx.memory(),
            &drift.ucp,
            &self.image,
            &drift.repository,
            &self.tag,
        )
        .await;
        // Whatever the push did, this node's engine must trust DTR.
        let out = cx.run(&probe_script(&drift.reference), b"").await?;
        let probe = out.stdout_text();
        if !out.success() && !registry_answered(&probe) {
            let action = format!(
                "the anonymous `docker pull {}` on {}",
                drift.reference, cx.host
            );
            let msg = self.diagnose(cx, &drift, &probe, &action).await;
            return Err(TaskError::failed_with(msg, Outcome::ok().with_output(&out)));
        }
        let pushed = pushed.map_err(|e| {
            TaskError::failed(format!("cannot push through UCP with a client bundle: {e}"))
        })?;
        let output = pushed.output.clone();
        if pushed.error.is_some() {
            let msg = self
                .diagnose(cx, &drift, &output, "the push through UCP")
                .await;
            return Err(TaskError::failed_with(
                msg,
                Outcome::ok()
                    .with_output(&out)
                    .with_data("push_output", output),
            ));
        }
        let digest = pushed_digest(&output, &self.tag);
        let tags = drift
            .dtr
            .tags(&drift.namespace, &drift.name)
            .await
            .map_err(|e| TaskError::failed(e.to_string()))?;
        let Some(tag) = tags.into_iter().find(|t| t.name == self.tag) else {
            return Err(TaskError::failed_with(
                format!(
                    "the push of {} through UCP reported success, but DTR has no tag `{}` in {repo}",
                    drift.reference, self.tag
                ),
                Outcome::ok().with_output(&out),
            ));
        };
        if let Some(digest) = &digest
            && !tag.digest.is_empty()
            && *digest != tag.digest
        {
            // Another node may have pushed a different image in between;
            // DTR's answer is the truth, the mismatch is worth a warning.
            cx.warn(format!(
                "push-test: {} pushed {digest}, but DTR's tag now points at {}",
                cx.host, tag.digest
            ));
        }
        let move_key = format!("{}/{repo}:{}@{}", drift.origin, self.tag, tag.digest);
        let moved_here = drift.tag_digest_before.as_deref() != Some(tag.digest.as_str());
        let first_to_see = moved_here && cx.memory().claim(MOVED, &move_key);
        let moved = match reports {
            None => first_to_see,
            Some(false) => false,
            Some(true) => moved_here || cx.memory().claimed(MOVED, &move_key),
        };
        if moved {
            changed = true;
            notes.push(format!("tag {} now at {}", self.tag, tag.digest));
        }
        let mut outcome = Outcome {
            changed,
            msg: Some(if notes.is_empty() {
                format!("pushed {} from {}", drift.reference, cx.host)
            } else {
                format!(
                    "pushed {} from {} ({})",
                    drift.reference,
                    cx.host,
                    notes.join("; ")
                )
            }),
            ..Outcome::ok()
        };
        outcome = outcome
            .with_output(&out)
            .with_data("push_output", output)
            .with_data("image", drift.reference.clone())
            .with_data("digest", tag.digest.clone());
        if changed {
            if created {
                outcome.diffs.push(Diff {
                    subject: format!("DTR repository {repo}"),
                    before: None,
                    after: Some("visibility: private\n".into()),
                });
            }
            outcome.diffs.push(Diff {
                subject: format!("DTR tag {repo}:{}", self.tag),
                before: drift.tag_digest_before.map(|d| format!("{d}\n")),
                after: Some(format!("{}\n", tag.digest)),
            });
        }
        Ok(outcome)
    }
}

impl PushTest {
    /// Names the broken link of a failed push through UCP or of a node's
    /// failed anonymous pull (`action` says which).
    async fn diagnose(
        &self,
        cx: &Context<'_>,
        drift: &PushDrift,
        output: &str,
        action: &str,
    ) -> String {
        let through_ucp = action == "the push through UCP";
        match classify_failure(output) {
            PushFailure::Refused => {
                let text = if output.contains(crate::tasks::push_failure::UNAUTHORIZED_1_11) {
                    UNAUTHORIZED
                } else {
                    PushFailure::Refused.text()
                };
                unauthorized_diagnosis(text)
            }
            PushFailure::UnknownAuthority if through_ucp => format!(
                "{action} failed with `{UNKNOWN_AUTHORITY}`: the engine UCP pushed from does not trust DTR's CA (step 5 on that node; {} trusts it: run copy-ca-crt on every node)",
                cx.host
            ),
            PushFailure::UnknownAuthority => {
                let state = self.ca_state(cx, drift).await;
                format!(
                    "{action} failed with `{UNKNOWN_AUTHORITY}`: this node's engine does not trust DTR's CA: {} {state} (step 5: run copy-ca-crt)",
                    drift.ca_path
                )
            }
            failure @ (PushFailure::WrongName | PushFailure::Expired) => format!(
                "{action} failed with `{}`: DTR's certificate is not valid for the engine (DTR's TLS certificate, or the host in dtr_url)",
                failure.text()
            ),
            PushFailure::MissingClientKey => format!(
                "{action} failed with `{}`: {} {} directory holds a client certificate without its key (step 5 there: only ca.crt belongs there)",
                PushFailure::MissingClientKey.text(),
                if through_ucp {
                    "the pushing node's"
                } else {
                    "this node's"
                },
                drift
                    .ca_path
                    .rsplit_once('/')
                    .map(|(dir, _)| dir)
                    .unwrap_or(&drift.ca_path)
            ),
            PushFailure::Other => {
                let tail: Vec<&str> = output
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .rev()
                    .take(3)
                    .collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "{action} of {} failed: {}",
                    drift.reference,
                    tail.join(" / ")
                )
            }
        }
    }

    /// "is missing" / "differs from DTR's CA ..." for the node's `ca.crt`.
    async fn ca_state(&self, cx: &Context<'_>, drift: &PushDrift) -> String {
        let probe = cx
            .run(&copy_ca_crt::probe_script(&drift.ca_path), b"")
            .await
            .ok()
            .and_then(|out| copy_ca_crt::parse_probe(&out.stdout_text()));
        let dtr_ca = crate::api::dtr_ca::resolve(cx.memory(), &drift.dtr_access.ca_source())
            .await
            .ok();
        let wanted = dtr_ca
            .as_ref()
            .and_then(|ca| ca.primary())
            .map(|c| format!("{} (SHA-256 {})", c.info.subject, c.info.sha256));
        match probe {
            Some(Remote::Absent) => "is missing".into(),
            Some(Remote::File { content, .. }) if content.trim().is_empty() => "is empty".into(),
            Some(Remote::File { content, .. }) => {
                let have = cert::parse_pem(&content, "ca.crt")
                    .ok()
                    .and_then(|c| {
                        c.first()
                            .map(|c| format!("{} (SHA-256 {})", c.info.subject, c.info.sha256))
                    })
                    .unwrap_or_else(|| "something that is not a certificate".into());
                let same = dtr_ca
                    .as_ref()
                    .is_some_and(|ca| cert::same_certificates(&content, &ca.pem));
                if same {
                    format!(
                        "holds DTR's CA {have}, yet the engine rejects DTR's certificate: DTR may serve a certificate from another CA"
                    )
                } else {
                    format!(
                        "is different: it holds {have}, DTR's CA is {}",
                        wanted.unwrap_or_else(|| "unknown".into())
                    )
                }
            }
            Some(Remote::Unreadable) => "cannot be read by the SSH user".into(),
            Some(Remote::NotAFile) => "is not a regular file".into(),
            None => "is missing or different".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_an_anonymous_pull() {
        let script = probe_script("dtr:4443/admin/hello-world:1");
        assert!(script.contains("docker pull dtr:4443/admin/hello-world:1\n"));
        assert!(!script.contains("login"));
    }

    #[test]
    fn digests_come_from_the_trailer() {
        let out = "The push refers to repository [dtr/admin/hello-world]\n5f70bf18a086: Pushed\n1: digest: sha256:7d9e482c0cc9e68c7f07bf76e0aafcb1869d32446547909200db990e7bc5461a size: 1930\n";
        assert_eq!(
            pushed_digest(out, "1").as_deref(),
            Some("sha256:7d9e482c0cc9e68c7f07bf76e0aafcb1869d32446547909200db990e7bc5461a")
        );
        assert_eq!(pushed_digest(out, "2"), None);
    }

    #[test]
    fn the_two_procedure_errors_are_told_apart() {
        assert_eq!(
            classify_failure(
                "5f70bf18a086: Image push failed\nunauthorized: authentication required\n"
            ),
            PushFailure::Refused
        );
        assert_eq!(
            classify_failure(
                "Error response from daemon: Get \"https://dtr/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"
            ),
            PushFailure::UnknownAuthority
        );
        assert_eq!(classify_failure("no space left"), PushFailure::Other);
    }
}
