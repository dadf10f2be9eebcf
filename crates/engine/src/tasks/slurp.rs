//! The `slurp` task: a file of the host registered as base64 (`content`,
//! `encoding`, `source`), as Ansible's `slurp` does; read-only, so check
//! mode reads it too.
//!
//! One script: refuse what is not a readable regular file, then `base64`
//! (coreutils) of at most [`SLURP_LIMIT`] bytes.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote;

/// The arguments of `slurp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slurp {
    pub src: String,
}

/// The parameters of `slurp`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "slurp",
        vec![Param::new("src", Kind::Path).required().aliases(&["path"])],
    )
}

/// The largest file `slurp` registers (the result lives in memory and in
/// every later template's variables).
pub const SLURP_LIMIT: u64 = 16 * 1024 * 1024;

#[async_trait]
impl Task for Slurp {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let script = format!(
            "{}p={}\n[ -e \"$p\" ] || fail missing\n[ -d \"$p\" ] && fail dir\n\
             [ -r \"$p\" ] || fail unreadable\n\
             [ \"$(stat -L -c %s -- \"$p\")\" -le {SLURP_LIMIT} ] || fail big\nexec base64 -w0 -- \"$p\"\n",
            remote::FAIL_FN,
            remote::path_arg(&self.src)
        );
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let src = &self.src;
            let msg = match failure.code.as_deref() {
                Some("missing") => format!("file not found: {src}"),
                Some("dir") => format!("source is a directory and must be a file: {src}"),
                Some("unreadable") => format!("file is not readable: {src}"),
                Some("big") => format!(
                    "{src} is larger than {} MiB, too large to slurp",
                    SLURP_LIMIT / (1024 * 1024)
                ),
                _ => format!("could not read {src}"),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        Ok(Check::InSync(
            Outcome::ok()
                .with_data("content", out.stdout_text().trim_end().to_string())
                .with_data("encoding", "base64")
                .with_data("source", self.src.clone()),
        ))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}
