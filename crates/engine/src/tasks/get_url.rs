//! The `get_url` task: a file downloaded by the host (not the control
//! machine, as in Ansible) to `dest`, with an optional `checksum`, `force`
//! and the file attributes; TLS verified, against `ca_path` if given.
//!
//! The check is one script (see `tasks::http` for how curl is driven):
//! where the file goes (`dest` itself, or the URL's last path segment
//! inside a `dest` directory), whether it is there with the wanted
//! checksum, and only when a download is due, the download itself into a
//! temporary file beside `dest`, its digests and size. Without `force`, an
//! existing file is never downloaded again (unless its checksum differs from
//! `checksum`). A download identical to `dest` is removed at once; a
//! different one waits for the apply, which gives it `dest`'s attributes
//! and renames it into place atomically. In check mode nothing is left
//! behind, and a missing `dest` is not downloaded at all.
//!
//! `checksum` is `<algorithm>:<hex digest>` or `<algorithm>:<URL>` of a
//! checksum file (`sha256sum` format: the line naming the file, or its
//! only line). Registered as Ansible does: `dest`, `url`, `status_code`,
//! `checksum_src`/`checksum_dest` (SHA-1), `size`, `msg`.
//!
//! Differences from Ansible: the host needs curl; `tmp_dest`, `decompress`,
//! `unredirected_headers`, `use_gssapi`, `use_netrc` and `ciphers` are not
//! supported; a `dest` directory names the file after the URL, not after
//! a `Content-Disposition` header.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::http::{self, Request};
use crate::tasks::remote::{self, Reach, Report, SetAttrs, shell_quote};

/// The arguments of `get_url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUrl {
    #[serde(flatten)]
    pub request: Request,
    pub dest: String,
    pub checksum: String,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub backup: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// The parameters of `get_url`, as Ansible names them.
pub fn spec() -> Spec {
    let mut params = http::params(10);
    params.extend([
        Param::new("dest", Kind::Path).required(),
        Param::new("checksum", Kind::Str).default(""),
        Param::new("force", Kind::Bool)
            .default(false)
            .aliases(&["thirsty"]),
        Param::new("backup", Kind::Bool).default(false),
        Param::new("mode", Kind::Mode),
        Param::new("owner", Kind::Str),
        Param::new("group", Kind::Str),
    ]);
    Spec::new("get_url", params).removed(
        "sha256sum",
        "write `checksum: sha256:<the hex digest>` instead (ansible-core 2.14 removed `sha256sum`)",
    )
}

/// The algorithms `checksum:` may name, each with its `<name>sum` tool.
const ALGORITHMS: [&str; 6] = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// A parsed `checksum:` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    None,
    Digest {
        algorithm: String,
        hex: String,
    },
    /// A checksum file to fetch first.
    File {
        algorithm: String,
        url: String,
    },
}

/// What the check found; `tmp` is the downloaded file awaiting `apply`.
#[derive(Debug)]
pub struct GetUrlDrift {
    dest: String,
    exists: bool,
    tmp: Option<String>,
    /// Only the attributes of an existing, up to date `dest` differ.
    attrs_only: bool,
    outcome: Outcome,
}

impl GetUrl {
    fn wanted(&self) -> Result<Wanted, TaskError> {
        if self.checksum.is_empty() {
            return Ok(Wanted::None);
        }
        let bad = || {
            TaskError::failed(format!(
                "checksum {:?} must be <algorithm>:<digest or URL>, with one of {}",
                self.checksum,
                ALGORITHMS.join(", ")
            ))
        };
        let (algorithm, rest) = self.checksum.split_once(':').ok_or_else(bad)?;
        let algorithm = algorithm.to_ascii_lowercase();
        if !ALGORITHMS.contains(&algorithm.as_str()) || rest.is_empty() {
            return Err(bad());
        }
        if http::scheme_ok(rest) {
            return Ok(Wanted::File {
                algorithm,
                url: rest.to_string(),
            });
        }
        let hex = rest.trim().to_ascii_lowercase();
        if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Wanted::Digest { algorithm, hex })
    }

    fn attrs(&self) -> Result<SetAttrs<'_>, TaskError> {
        Ok(SetAttrs {
            mode: self.mode.as_deref().map(remote::parse_mode).transpose()?,
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        })
    }

    /// The file name a directory `dest` gets: the URL's last path segment.
    fn url_name(&self) -> Option<String> {
        let rest = self.request.url.split_once("://")?.1;
        let path = rest.split(['?', '#']).next()?;
        let name = path.split_once('/')?.1.rsplit('/').next()?;
        (!name.is_empty()).then(|| name.to_string())
    }

    fn check_script(&self, wanted: &Wanted, check_mode: bool) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(http::NEED_CURL);
        s.push_str(&http::write_config(&self.request.config()));
        s.push_str(&format!("d={}\n", remote::path_arg(&self.dest)));
        match self.url_name() {
            Some(name) => s.push_str(&format!(
                "if [ -d \"$d\" ]; then d=\"${{d%/}}\"/{}; fi\n",
                shell_quote(&name)
            )),
            None => s.push_str("[ -d \"$d\" ] && fail noname\n"),
        }
        s.push_str(
            "case $d in */*) dir=${d%/*}; dir=${dir:-/};; *) dir=.;; esac\n\
             [ -d \"$dir\" ] || fail parent\necho \"dest=$d\"\n\
             if [ -f \"$d\" ]; then echo exists=1; s=$(sha1sum < \"$d\") || fail read; \
             echo \"checksum_dest=${s%% *}\"; stat -c 'attrs=%a %u %U %g %G' -- \"$d\" || fail read; \
             else echo exists=0; fi\n",
        );
        let algorithm = match wanted {
            Wanted::None => {
                s.push_str("want=\n");
                "sha1".to_string()
            }
            Wanted::Digest { algorithm, hex } => {
                s.push_str(&format!("want={hex}\n"));
                algorithm.clone()
            }
            Wanted::File { algorithm, url } => {
                let mut sums = self.request.clone();
                sums.url = url.clone();
                let name = self.url_name().unwrap_or_default();
                s.push_str(&format!(
                    "cfg2=$(umask 077; mktemp) || fail tmp\ntrap 'rm -f \"$cfg\" \"$cfg2\"' EXIT\n{} > \"$cfg2\" || fail tmp\n\
                     sums=$(curl -K \"$cfg2\" --fail) || fail sums\n\
                     want=$(printf '%s\\n' \"$sums\" | awk -v f={} '{{n=$2; sub(/^\\*/,\"\",n); sub(/^\\.\\//,\"\",n)}} n==f {{print tolower($1); exit}} NR==1 && NF==1 {{print tolower($1); exit}}')\n\
                     [ -n \"$want\" ] || fail nosum\n",
                    remote::printf_command(sums.config().as_bytes()),
                    shell_quote(&name),
                ));
                algorithm.clone()
            }
        };
        s.push_str(&format!(
            "need=1\nif [ -f \"$d\" ] && [ {force} = 0 ]; then \
             if [ -z \"$want\" ]; then need=0; else s=$({algorithm}sum < \"$d\") || fail read; \
             [ \"${{s%% *}}\" = \"$want\" ] && need=0; fi; fi\necho \"need=$need\"\n\
             [ $need = 1 ] || exit 0\n",
            force = u8::from(self.force),
        ));
        if check_mode {
            // Nothing to compare a download with: it would be a change.
            s.push_str("[ -f \"$d\" ] || exit 0\n");
        }
        s.push_str(&format!(
            "t=$(mktemp \"$dir/.dtrplay.get_url.XXXXXXXX\") || fail tmp\n\
             code=$(curl -K \"$cfg\" -o \"$t\" -w '%{{http_code}}') || {{ rm -f \"$t\"; fail curl; }}\n\
             echo \"status=$code\"\n\
             case $code in 200|226|000) ;; *) rm -f \"$t\"; exit 0;; esac\n\
             if [ -n \"$want\" ]; then s=$({algorithm}sum < \"$t\") || fail read; \
             if [ \"${{s%% *}}\" != \"$want\" ]; then rm -f \"$t\"; echo \"mismatch=${{s%% *}}\"; exit 0; fi; fi\n\
             s=$(sha1sum < \"$t\") || fail read; echo \"checksum_src=${{s%% *}}\"\n\
             echo \"size=$(stat -c %s -- \"$t\")\"\n\
             same=0; [ -f \"$d\" ] && [ \"$(sha1sum < \"$d\")\" = \"$s\" ] && same=1; echo \"same=$same\"\n\
             if [ {check} = 1 ] || [ $same = 1 ]; then rm -f \"$t\"; else echo \"tmp=$t\"; fi\n",
            check = u8::from(check_mode),
        ));
        s
    }

    /// Whether the wanted attributes differ from `attrs` (`mode uid user gid group`).
    fn attrs_differ(&self, attrs: &str) -> Result<bool, TaskError> {
        let f: Vec<&str> = attrs.split(' ').collect();
        let [mode, uid, user, gid, group] = f.as_slice() else {
            return Err(TaskError::failed(format!("stat printed {attrs:?}")));
        };
        let wanted = self.attrs()?;
        let names = |want: &str, name: &str, id: &str| match want.parse::<u32>() {
            Ok(_) => want == id,
            Err(_) => want == name,
        };
        let mode_differs = wanted
            .mode
            .is_some_and(|m| u32::from_str_radix(mode, 8).ok() != Some(m));
        let owner_differs = self.owner.as_deref().is_some_and(|o| !names(o, user, uid));
        let group_differs = self.group.as_deref().is_some_and(|g| !names(g, group, gid));
        Ok(mode_differs || owner_differs || group_differs)
    }
}

#[async_trait]
impl Task for GetUrl {
    type Drift = GetUrlDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<GetUrlDrift>, TaskError> {
        if !http::scheme_ok(&self.request.url) {
            return Err(TaskError::failed(format!(
                "url {:?} is not an http, https, ftp or file URL",
                self.request.url
            )));
        }
        let wanted = self.wanted()?;
        self.attrs()?;
        if let Some(w) = self.request.insecure_warning() {
            cx.warn(w);
        }
        let out = cx
            .run(&self.check_script(&wanted, cx.check_mode), &[])
            .await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("nocurl") => http::no_curl("get_url"),
                Some("parent") => format!("Destination directory of {} does not exist", self.dest),
                Some("noname") => format!(
                    "dest {} is a directory and the URL {} names no file",
                    self.dest, self.request.url
                ),
                Some("sums") => format!("could not fetch the checksum file of {}", self.checksum),
                Some("nosum") => format!(
                    "Unable to find a checksum for file '{}' in '{}'",
                    self.url_name().unwrap_or_default(),
                    self.checksum
                ),
                Some("curl") => format!("Request failed: {}", self.request.url),
                _ => format!("could not download {} to {}", self.request.url, self.dest),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let mut report = Report::parse(&out.stdout)?;
        let dest = report.require("dest")?;
        let exists = report.flag("exists")?;
        let checksum_dest = report.take("checksum_dest");
        let attrs = report.take("attrs");
        let need = report.flag("need")?;
        let status = report.take("status");
        let mismatch = report.take("mismatch");
        let checksum_src = report.take("checksum_src");
        let size = report.take("size");
        let same = report.take("same").map(|v| v == "1");
        let tmp = report.take("tmp");
        report.finish()?;

        let mut base = Outcome::ok()
            .with_data("dest", dest.clone())
            .with_data("url", self.request.url.clone());
        if let Some(sum) = &checksum_dest {
            base = base.with_data("checksum_dest", sum.clone());
        }
        if let Some(code) = &status {
            let n: i64 = code.parse().unwrap_or(-1);
            base = base.with_data("status_code", n);
            if !matches!(code.as_str(), "200" | "226" | "000") {
                return Err(TaskError::failed_with(
                    format!("Request failed: HTTP Error {code}"),
                    base,
                ));
            }
        }
        if let Some(got) = mismatch {
            let want = match &wanted {
                Wanted::Digest { hex, .. } => hex.clone(),
                _ => self.checksum.clone(),
            };
            return Err(TaskError::failed_with(
                format!("The checksum for {dest} did not match {want}; it was {got}."),
                base,
            ));
        }
        if let Some(sum) = &checksum_src {
            base = base.with_data("checksum_src", sum.clone());
        }
        if let Some(n) = size.as_deref().and_then(|s| s.parse::<u64>().ok()) {
            base = base
                .with_data("size", n)
                .with_msg(format!("OK ({n} bytes)"));
            base = base.clone().with_data("msg", format!("OK ({n} bytes)"));
        }
        let differs = match &attrs {
            Some(a) => self.attrs_differ(a)?,
            None => false,
        };
        // Downloaded (or, in check mode, due) and different from dest.
        let content_changes = need && same != Some(true);
        if !content_changes {
            if !need {
                base = base.with_msg("file already exists");
            }
            if !differs {
                return Ok(Check::InSync(base));
            }
        }
        let mut preview = base.clone();
        preview.changed = true;
        preview.msg = Some(match content_changes {
            true => format!("would download {} to {dest}", self.request.url),
            false => format!("would change the attributes of {dest}"),
        });
        Ok(Check::Drift {
            drift: GetUrlDrift {
                dest,
                exists,
                tmp,
                attrs_only: !content_changes,
                outcome: base,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: GetUrlDrift) -> Result<Outcome, TaskError> {
        let attrs = self.attrs()?;
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(&format!("d={}\n", remote::path_arg(&drift.dest)));
        match (&drift.tmp, drift.attrs_only) {
            (Some(tmp), false) => {
                s.push_str(&format!(
                    "t={}\ntrap 'rm -f \"$t\"' EXIT\n",
                    shell_quote(tmp)
                ));
                if drift.exists {
                    s.push_str(
                        "chmod --reference=\"$d\" -- \"$t\" || fail chmod\n\
                         chown --reference=\"$d\" -- \"$t\" 2>/dev/null || :\n",
                    );
                } else {
                    // mktemp made it 0600; a new file gets the umask's mode.
                    s.push_str("chmod $(printf %o $((0666 & ~$(umask)))) \"$t\" || fail chmod\n");
                }
                s.push_str(&remote::attrs_script("\"$t\"", &attrs, Reach::Path));
                if self.backup && drift.exists {
                    s.push_str(
                        "b=\"$d.$$.$(date +%Y-%m-%d@%H:%M:%S~)\"\ncp -p -- \"$d\" \"$b\" || fail backup\necho \"backup_file=$b\"\n",
                    );
                }
                s.push_str(
                    "sync -- \"$t\" 2>/dev/null || sync\nmv -f -- \"$t\" \"$d\" || fail mv\n",
                );
            }
            _ => s.push_str(&remote::attrs_script("\"$d\"", &attrs, Reach::Path)),
        }
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            return Err(remote::with_detail(
                format!("could not put the download in place at {}", drift.dest),
                &failure,
            ));
        }
        let mut outcome = drift.outcome;
        if let Ok(mut report) = Report::parse(&out.stdout) {
            if let Some(b) = report.take("backup_file") {
                outcome = outcome.with_data("backup_file", b);
            }
        }
        outcome.changed = true;
        if drift.attrs_only {
            outcome.msg = Some(format!("changed the attributes of {}", drift.dest));
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(args: serde_json::Value) -> GetUrl {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes")
    }

    #[test]
    fn checksums_are_a_digest_or_a_url() {
        let t = task(json!({"url": "https://x/a.tgz", "dest": "/tmp", "checksum": "sha256:ABC1"}));
        assert_eq!(
            t.wanted().expect("parses"),
            Wanted::Digest {
                algorithm: "sha256".into(),
                hex: "abc1".into()
            }
        );
        let t = task(
            json!({"url": "https://x/a.tgz", "dest": "/tmp", "checksum": "sha256:https://x/SUMS"}),
        );
        assert!(matches!(t.wanted(), Ok(Wanted::File { .. })));
        let t = task(json!({"url": "https://x/a.tgz", "dest": "/tmp", "checksum": "crc:1"}));
        assert!(t.wanted().is_err());
        assert_eq!(t.url_name().as_deref(), Some("a.tgz"));
        let t = task(json!({"url": "https://x/", "dest": "/tmp"}));
        assert_eq!(t.url_name(), None);
    }
}
