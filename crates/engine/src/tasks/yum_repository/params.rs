//! The parameters of `yum_repository` and the repository options they
//! become, as Ansible's module turns them into the file's `key = value`
//! lines.

use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::task::{Context, TaskError};

/// Repository options that are plain strings.
const STRINGS: [&str; 19] = [
    "bandwidth",
    "cost",
    "deltarpm_metadata_percentage",
    "deltarpm_percentage",
    "gpgcakey",
    "include",
    "metadata_expire",
    "metalink",
    "mirrorlist",
    "mirrorlist_expire",
    "priority",
    "proxy",
    "proxy_username",
    "retries",
    "throttle",
    "timeout",
    "ui_repoid_vars",
    "username",
    "sslcacert",
];

/// Repository options that are booleans, written `1` or `0`.
const BOOLS: [&str; 13] = [
    "async",
    "countme",
    "enabled",
    "enablegroups",
    "gpgcheck",
    "keepalive",
    "module_hotfixes",
    "protect",
    "repo_gpgcheck",
    "s3_enabled",
    "skip_if_unavailable",
    "ssl_check_cert_permissions",
    "sslverify",
];

/// Options whose lists are written one item a line (`baseurl`, `gpgkey`)
/// or separated by spaces (`exclude`, `includepkgs`).
const LINE_LISTS: [&str; 2] = ["baseurl", "gpgkey"];
const SPACE_LISTS: [&str; 2] = ["exclude", "includepkgs"];

/// Options Ansible deprecates because dnf ignores them, with the version
/// that drops them.
const DEPRECATED: [(&str, &str); 11] = [
    ("keepcache", "2.20"),
    ("async", "2.22"),
    ("deltarpm_metadata_percentage", "2.22"),
    ("gpgcakey", "2.22"),
    ("http_caching", "2.22"),
    ("keepalive", "2.22"),
    ("metadata_expire_filter", "2.22"),
    ("mirrorlist_expire", "2.22"),
    ("protect", "2.22"),
    ("ssl_check_cert_permissions", "2.22"),
    ("ui_repoid_vars", "2.22"),
];

/// The parameters of `yum_repository`, as Ansible names them.
pub fn spec() -> Spec {
    let mut params = vec![
        Param::new("name", Kind::Str).required(),
        Param::new("description", Kind::Str),
        Param::new("file", Kind::Str),
        Param::new("reposdir", Kind::Path).default("/etc/yum.repos.d"),
        Param::new("state", Kind::Str)
            .choices(&["present", "absent"])
            .default("present"),
        Param::new("mode", Kind::Mode),
        Param::new("owner", Kind::Str),
        Param::new("group", Kind::Str),
        Param::new("baseurl", Kind::List),
        Param::new("gpgkey", Kind::List),
        Param::new("exclude", Kind::List).aliases(&["excludepkgs"]),
        Param::new("includepkgs", Kind::List),
        Param::new("password", Kind::Str).secret(),
        Param::new("proxy_password", Kind::Str).secret(),
        Param::new("sslclientcert", Kind::Str).aliases(&["client_cert"]),
        Param::new("sslclientkey", Kind::Str).aliases(&["client_key"]),
        Param::new("failovermethod", Kind::Str).choices(&["roundrobin", "priority"]),
        Param::new("http_caching", Kind::Str).choices(&["all", "packages", "none"]),
        Param::new("ip_resolve", Kind::Str).choices(&["4", "6", "IPv4", "IPv6", "whatever"]),
        Param::new("keepcache", Kind::Str).choices(&["0", "1"]),
        Param::new("metadata_expire_filter", Kind::Str).choices(&[
            "never",
            "read-only:past",
            "read-only:present",
            "read-only:future",
        ]),
    ];
    for name in STRINGS {
        let param = Param::new(name, Kind::Str);
        params.push(if name == "sslcacert" {
            param.aliases(&["ca_cert"])
        } else {
            param
        });
    }
    for name in BOOLS {
        let param = Param::new(name, Kind::Bool);
        params.push(if name == "sslverify" {
            param.aliases(&["validate_certs"])
        } else {
            param
        });
    }
    Spec::new("yum_repository", params)
}

/// The arguments that are not repository options: the section's name,
/// where the file is, and its attributes. `description` is written as the
/// repository's `name`.
const NOT_OPTIONS: [&str; 8] = [
    "name",
    "description",
    "file",
    "reposdir",
    "state",
    "mode",
    "owner",
    "group",
];

/// The repository's options, sorted by name, as Ansible writes them for
/// `state: present`; refuses a repository without a URL or description
/// with Ansible's messages.
pub fn repo_options(
    args: &Map<String, Value>,
    cx: &Context<'_>,
) -> Result<Vec<(String, String)>, TaskError> {
    let set = |key: &str| args.get(key).is_some_and(|v| !v.is_null());
    if !["baseurl", "mirrorlist", "metalink"].iter().any(|k| set(k)) {
        return Err(TaskError::failed(
            "state is present but any of the following are missing: baseurl, mirrorlist, metalink",
        ));
    }
    if !set("description") {
        return Err(TaskError::failed(
            "state is present but all of the following are missing: description",
        ));
    }
    let mut options = Vec::new();
    for (key, value) in args {
        if value.is_null() || NOT_OPTIONS.contains(&key.as_str()) {
            continue;
        }
        options.push((key.clone(), option_text(key, value)));
    }
    if let Some(description) = args.get("description") {
        options.push(("name".into(), option_text("name", description)));
    }
    options.sort();
    for (key, _) in &options {
        if let Some((_, version)) = DEPRECATED.iter().find(|(k, _)| k == key) {
            cx.warn(format!(
                "'{key}' parameter is deprecated in Ansible (removed in {version}): \
                 it has no effect with dnf as the package manager."
            ));
        }
    }
    Ok(options)
}

/// One option's text in the file.
fn option_text(key: &str, value: &Value) -> String {
    match value {
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(item_text).collect();
            let separator = if LINE_LISTS.contains(&key) {
                "\n"
            } else if SPACE_LISTS.contains(&key) {
                " "
            } else {
                ","
            };
            items.join(separator)
        }
        other => other.to_string(),
    }
}

fn item_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_booleans_are_written_as_ansible_writes_them() {
        assert_eq!(
            option_text("baseurl", &json!(["http://a/", "http://b/"])),
            "http://a/\nhttp://b/"
        );
        assert_eq!(option_text("exclude", &json!(["a", "b"])), "a b");
        assert_eq!(option_text("gpgcheck", &json!(false)), "0");
        assert_eq!(option_text("priority", &json!("10")), "10");
    }
}
