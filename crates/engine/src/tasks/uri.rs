//! The `uri` task: one HTTP request made by the host, its status checked
//! against `status_code`, its response registered as Ansible registers it
//! (`status`, `url`, `redirected`, `msg`, every response header as a
//! lowercase key with `_` for `-`, `json` for a JSON response, `content`
//! with `return_content`).
//!
//! The request runs in the apply, as one script (see `tasks::http` for how
//! curl is driven and secrets kept off command lines); the check only
//! evaluates `creates`/`removes`. Like Ansible's `uri`, which does not
//! support check mode, a request is never sent in check mode, and a
//! request is never a change (`changed_when` says otherwise).
//!
//! `body_format: json` serializes a mapping or list and sets
//! `Content-Type: application/json`; `form-urlencoded` encodes a mapping;
//! `raw` sends the text as written. `follow_redirects`: `safe` (the
//! default) follows them for GET and HEAD only, `all`/`yes` always,
//! `none`/`no` never.
//!
//! Differences from Ansible: the host needs curl; `dest`, `src`,
//! `unix_socket`, `use_gssapi`, `use_netrc`, `ciphers` and `cookies` are
//! not supported; `elapsed` is in whole seconds as in Ansible.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::http::{self, Request};
use crate::tasks::remote;

/// The arguments of `uri`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uri {
    #[serde(flatten)]
    pub request: Request,
    pub method: String,
    pub body: Option<Value>,
    pub body_format: String,
    pub status_code: Vec<Value>,
    #[serde(default)]
    pub return_content: bool,
    pub follow_redirects: String,
    pub creates: Option<String>,
    pub removes: Option<String>,
}

/// The parameters of `uri`, as Ansible names them.
pub fn spec() -> Spec {
    let mut params = http::params(30);
    params.extend([
        Param::new("method", Kind::Str).default("GET"),
        Param::new("body", Kind::Raw),
        Param::new("body_format", Kind::Str)
            .choices(&["raw", "json", "form-urlencoded", "form-multipart"])
            .default("raw"),
        Param::new("status_code", Kind::List).default(serde_json::json!([200])),
        Param::new("return_content", Kind::Bool).default(false),
        Param::new("follow_redirects", Kind::Str)
            .choices(&["all", "yes", "safe", "none", "no", "urllib2"])
            .default("safe"),
        Param::new("creates", Kind::Path),
        Param::new("removes", Kind::Path),
    ]);
    Spec::new("uri", params)
}

/// The largest response body registered; bigger ones are an error.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// `application/x-www-form-urlencoded`, as Python's `urlencode` writes it.
fn form_encode(map: &Map<String, Value>) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={}", enc(k), enc(&text))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A request body: its bytes and the content type its format implies.
type Body = (Vec<u8>, Option<&'static str>);

/// What the response looked like.
#[derive(Debug, Default)]
struct Response {
    status: i64,
    url: String,
    redirects: i64,
    seconds: f64,
    headers: Map<String, Value>,
    content_type: String,
    body: Vec<u8>,
}

/// A part of the request script's output that is missing: curl did not
/// run as the script expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request printed no {0}")]
struct Missing(&'static str);

/// Parses the script's output: `w=<write-out>`, the header dump, the body.
fn parse(stdout: &[u8]) -> Result<Response, Missing> {
    let text_end = |marker: &[u8], from: usize| {
        stdout[from..]
            .windows(marker.len())
            .position(|w| w == marker)
            .map(|p| p + from)
    };
    let h = text_end(b"\n--headers--\n", 0).ok_or(Missing("headers"))?;
    let b = text_end(b"\n--body--\n", h).ok_or(Missing("body"))?;
    let w = String::from_utf8_lossy(&stdout[..h]);
    let w = w.strip_prefix("w=").ok_or(Missing("status"))?;
    let mut fields = w.split(' ');
    let mut response = Response {
        status: fields.next().and_then(|s| s.parse().ok()).unwrap_or(-1),
        url: fields.next().unwrap_or_default().to_string(),
        redirects: fields.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        seconds: fields.next().and_then(|s| s.parse().ok()).unwrap_or(0.0),
        body: stdout[b + "\n--body--\n".len()..].to_vec(),
        ..Response::default()
    };
    let dump = String::from_utf8_lossy(&stdout[h + "\n--headers--\n".len()..b]);
    // With redirects followed the dump holds every response; the last
    // one is the answer.
    let last = dump
        .replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .last()
        .unwrap_or_default()
        .to_string();
    for line in last.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let key = name.trim().to_ascii_lowercase().replace('-', "_");
            let value = value.trim().to_string();
            if key == "content_type" {
                response.content_type = value.clone();
            }
            response.headers.insert(key, value.into());
        }
    }
    Ok(response)
}

impl Uri {
    fn method(&self) -> String {
        self.method.to_ascii_uppercase()
    }

    fn follow(&self) -> bool {
        match self.follow_redirects.as_str() {
            "all" | "yes" => true,
            "none" | "no" => false,
            _ => matches!(self.method().as_str(), "GET" | "HEAD"),
        }
    }

    /// The body's bytes and the content type it implies.
    fn body(&self) -> Result<Option<Body>, TaskError> {
        let Some(body) = &self.body else {
            return Ok(None);
        };
        Ok(Some(match (self.body_format.as_str(), body) {
            ("json", Value::String(s)) => (s.clone().into_bytes(), Some("application/json")),
            ("json", v) => (v.to_string().into_bytes(), Some("application/json")),
            ("form-urlencoded", Value::Object(m)) => (
                form_encode(m).into_bytes(),
                Some("application/x-www-form-urlencoded"),
            ),
            ("form-urlencoded", Value::String(s)) => (
                s.clone().into_bytes(),
                Some("application/x-www-form-urlencoded"),
            ),
            ("form-urlencoded", _) => {
                return Err(TaskError::failed(
                    "body_format form-urlencoded needs a mapping (or an encoded string) as body",
                ));
            }
            ("form-multipart", _) => {
                return Err(TaskError::failed(
                    "body_format form-multipart is not supported by dtrplay",
                ));
            }
            (_, Value::String(s)) => (s.clone().into_bytes(), None),
            (_, v) => (v.to_string().into_bytes(), None),
        }))
    }

    fn statuses(&self) -> Result<Vec<i64>, TaskError> {
        self.status_code
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| {
                TaskError::failed(format!(
                    "status_code must be a list of HTTP status numbers, not {}",
                    Value::Array(self.status_code.clone())
                ))
            })
    }

    fn script(&self, body: Option<&Body>) -> String {
        let mut config = self.request.config_following(self.follow());
        // curl waits for a body after `request = HEAD`; `head` knows better.
        match self.method().as_str() {
            "HEAD" => config.push_str("head\n"),
            m => config.push_str(&format!("request = {}\n", http::config_quote(m))),
        }
        let has_type = self
            .request
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"));
        if let Some((_, Some(kind))) = body {
            if !has_type {
                config.push_str(&format!(
                    "header = {}\n",
                    http::config_quote(&format!("Content-Type: {kind}"))
                ));
            }
        }
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(http::NEED_CURL);
        s.push_str(&http::write_config(&config));
        s.push_str(
            "h=$(mktemp) && o=$(mktemp) && bf=$(umask 077; mktemp) || fail tmp\n\
             trap 'rm -f \"$cfg\" \"$h\" \"$o\" \"$bf\"' EXIT\n",
        );
        let data = match body {
            Some((bytes, _)) => {
                s.push_str(&format!(
                    "{} > \"$bf\" || fail tmp\n",
                    remote::printf_command(bytes)
                ));
                " --data-binary @\"$bf\""
            }
            None => "",
        };
        s.push_str(&format!(
            "w=$(curl -K \"$cfg\"{data} -D \"$h\" -o \"$o\" -w '%{{http_code}} %{{url_effective}} %{{num_redirects}} %{{time_total}}') || fail curl\n\
             printf 'w=%s\\n--headers--\\n' \"$w\"; cat \"$h\"; printf '\\n--body--\\n'; head -c {} \"$o\"\n",
            BODY_LIMIT + 1
        ));
        s
    }

    fn guard_script(&self) -> Option<String> {
        let mut s = String::new();
        if let Some(c) = &self.creates {
            s.push_str(&format!("[ -e {} ] && echo creates\n", remote::path_arg(c)));
        }
        if let Some(r) = &self.removes {
            s.push_str(&format!("[ -e {} ] || echo removes\n", remote::path_arg(r)));
        }
        (!s.is_empty()).then(|| format!("{s}:\n"))
    }
}

#[async_trait]
impl Task for Uri {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        if !http::scheme_ok(&self.request.url) {
            return Err(TaskError::failed(format!(
                "url {:?} is not an http, https, ftp or file URL",
                self.request.url
            )));
        }
        self.body()?;
        self.statuses()?;
        if let Some(guard) = self.guard_script() {
            let out = cx.run(&guard, &[]).await?;
            let said = out.stdout_text();
            if said.contains("creates") {
                return Ok(Check::InSync(Outcome::ok().with_msg(format!(
                    "skipped, since {} exists",
                    self.creates.clone().unwrap_or_default()
                ))));
            }
            if said.contains("removes") {
                return Ok(Check::InSync(Outcome::ok().with_msg(format!(
                    "skipped, since {} does not exist",
                    self.removes.clone().unwrap_or_default()
                ))));
            }
        }
        // The request runs in apply, so check mode never sends it.
        let mut preview = Outcome::ok().with_msg(format!(
            "would send {} {} (uri does not run in check mode)",
            self.method(),
            self.request.url
        ));
        preview.changed = false;
        Ok(Check::Drift { drift: (), preview })
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        if let Some(w) = self.request.insecure_warning() {
            cx.warn(w);
        }
        let body = self.body()?;
        let out = cx.run(&self.script(body.as_ref()), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("nocurl") => http::no_curl("uri"),
                Some("curl") => format!(
                    "Status code was -1 and not {:?}: Request failed",
                    self.statuses()?
                ),
                _ => format!("could not send the request to {}", self.request.url),
            };
            let mut err = remote::with_detail(msg, &failure);
            if let TaskError::Failed { data, .. } = &mut err {
                data.insert("status".into(), (-1).into());
                data.insert("url".into(), self.request.url.clone().into());
            }
            return Err(err);
        }
        let response = parse(&out.stdout).map_err(|e| TaskError::failed(e.to_string()))?;
        if response.body.len() > BODY_LIMIT {
            return Err(TaskError::failed(format!(
                "the response of {} is larger than {} MiB",
                self.request.url,
                BODY_LIMIT / (1024 * 1024)
            )));
        }
        let mut outcome = Outcome::ok();
        outcome.data = response.headers.clone();
        let text = String::from_utf8_lossy(&response.body).into_owned();
        outcome = outcome
            .with_data("status", response.status)
            .with_data("url", response.url.clone())
            .with_data("redirected", response.redirects > 0)
            .with_data("elapsed", response.seconds as i64)
            .with_data("cookies", Value::Object(Map::new()));
        if response.content_type.contains("json") {
            if let Ok(json) = serde_json::from_str::<Value>(&text) {
                outcome = outcome.with_data("json", json);
            }
        }
        if self.return_content {
            outcome = outcome.with_data("content", text.clone());
        }
        let statuses = self.statuses()?;
        let ok = format!("OK ({} bytes)", response.body.len());
        if !statuses.contains(&response.status) {
            let listed: Vec<String> = statuses.iter().map(i64::to_string).collect();
            let msg = format!(
                "Status code was {} and not [{}]: HTTP Error {}",
                response.status,
                listed.join(", "),
                response.status
            );
            outcome = outcome.with_data("msg", msg.clone());
            if !self.return_content {
                outcome.data.insert("content".into(), text.into());
            }
            return Err(TaskError::failed_with(msg, outcome));
        }
        outcome = outcome.with_data("msg", ok.clone()).with_msg(ok);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_response_of_a_redirect_chain_is_the_answer() {
        let out = b"w=200 https://x/b 1 0.01\n--headers--\nHTTP/1.1 302 Found\r\nLocation: /b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: 7\r\n\r\n\n--body--\n{\"a\":1}";
        let r = parse(out).expect("parses");
        assert_eq!(r.status, 200);
        assert_eq!(r.redirects, 1);
        assert_eq!(r.headers["x_request_id"], "7");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.body, b"{\"a\":1}");
    }

    #[test]
    fn forms_are_encoded_like_python() {
        let m = serde_json::json!({"a b": "c&d", "n": 1});
        assert_eq!(form_encode(m.as_object().expect("object")), "a+b=c%26d&n=1");
    }
}
