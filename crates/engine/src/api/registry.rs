//! How Docker names a registry: the `host[:port]` of DTR as image
//! references and `/etc/docker/certs.d/` use it, image references for the
//! test push, and repository names.
//!
//! The engine looks up `certs.d/<host[:port]>/` with exactly the registry
//! part of the image reference (ucp-dtr-api.md §8), so the directory the
//! CA is copied to and the reference pushed must be derived from one and the
//! same string: the authority of `dtr_url` as the user wrote it, lower-cased,
//! with the port only when the URL spells one out.

/// Why a registry name cannot be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{url}` has no host")]
    NoHost { url: String },
    #[error("the DTR URL must not contain credentials")]
    Credentials,
    #[error("`{port}` is not a port number in `{url}`")]
    BadPort { url: String, port: String },
    #[error(
        "`{repo}` is not `<namespace>/<name>` (lower-case letters, digits and `._-` separators)"
    )]
    BadRepository { repo: String },
    #[error("`{tag}` is not a valid tag (letters, digits, `_.-`, at most 128 characters)")]
    BadTag { tag: String },
}

/// The `host[:port]` of a DTR URL, as Docker names the registry.
pub fn registry_host(dtr_url: &str) -> Result<String, NameError> {
    let trimmed = dtr_url.trim();
    let rest = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(NameError::Credentials);
    }
    if authority.is_empty() {
        return Err(NameError::NoHost {
            url: dtr_url.into(),
        });
    }
    // A bracketed IPv6 literal keeps its brackets, as Docker writes it.
    let (host, port) = if let Some(end) = authority.find(']') {
        let (host, after) = authority.split_at(end + 1);
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(NameError::NoHost {
            url: dtr_url.into(),
        });
    }
    let host = host.to_ascii_lowercase();
    match port {
        Some(port) if port.parse::<u16>().is_ok() => Ok(format!("{host}:{port}")),
        Some(port) => Err(NameError::BadPort {
            url: dtr_url.into(),
            port: port.into(),
        }),
        None => Ok(host),
    }
}

/// `<certs_dir>/<host[:port]>/ca.crt`.
pub fn ca_crt_path(certs_dir: &str, registry_host: &str) -> String {
    format!("{}/{registry_host}/ca.crt", certs_dir.trim_end_matches('/'))
}

/// Splits `namespace/name` and checks both parts against the registry's
/// path-component grammar.
pub fn split_repository(repo: &str) -> Result<(String, String), NameError> {
    let bad = || NameError::BadRepository { repo: repo.into() };
    let (namespace, name) = repo.trim().split_once('/').ok_or_else(bad)?;
    if !is_component(namespace) || !is_component(name) {
        return Err(bad());
    }
    Ok((namespace.to_string(), name.to_string()))
}

/// distribution's path component: lower-case alphanumerics joined by `.`,
/// `_`, `__` or runs of `-`.
fn is_component(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    let bytes = s.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let valid = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !valid {
            return false;
        }
    }
    true
}

/// Checks a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), NameError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NameError::BadTag { tag: tag.into() })
    }
}

/// `<host[:port]>/<namespace>/<name>:<tag>`.
pub fn image_reference(registry_host: &str, repo: &str, tag: &str) -> String {
    format!("{registry_host}/{repo}:{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_kept_only_when_written() {
        assert_eq!(
            registry_host("https://DTR.example.com").as_deref(),
            Ok("dtr.example.com")
        );
        assert_eq!(
            registry_host("https://dtr.example.com:443/").as_deref(),
            Ok("dtr.example.com:443")
        );
        assert_eq!(
            registry_host("dtr.example.com:4443").as_deref(),
            Ok("dtr.example.com:4443")
        );
        assert_eq!(
            registry_host("https://[::1]:8443").as_deref(),
            Ok("[::1]:8443")
        );
        assert_eq!(
            registry_host("https://u:p@dtr"),
            Err(NameError::Credentials)
        );
        assert!(registry_host("https://dtr:x").is_err());
        assert_eq!(
            ca_crt_path("/etc/docker/certs.d/", "dtr:4443"),
            "/etc/docker/certs.d/dtr:4443/ca.crt"
        );
    }

    #[test]
    fn repositories_and_tags_follow_the_registry_grammar() {
        assert_eq!(
            split_repository("admin/hello-world"),
            Ok(("admin".into(), "hello-world".into()))
        );
        for bad in ["hello", "Admin/x", "a/b/c", "a/-b", "a/b..c"] {
            assert!(split_repository(bad).is_err(), "{bad}");
        }
        assert!(check_tag("1").is_ok());
        assert!(check_tag("v1.0-rc_1").is_ok());
        assert!(check_tag(".x").is_err());
        assert!(check_tag("a b").is_err());
    }
}
