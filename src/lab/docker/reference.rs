//! Image references (`dtr.example.com:443/admin/hello-world:1`) parsed and
//! normalised the way the Docker engine does.
//!
//! The first path component is a registry only if it contains `.` or `:` or
//! is `localhost`; otherwise the image lives on Docker Hub (`docker.io`), and
//! a single-component Hub name gets the `library/` namespace. The registry
//! part, port included, is also the name of the engine's
//! `/etc/docker/certs.d/<registry>` directory.

use std::fmt;

/// Docker Hub's canonical registry name.
pub const HUB: &str = "docker.io";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry, `host[:port]`, `docker.io` for Hub images.
    pub domain: String,
    /// The repository path inside the registry (`library/hello-world`).
    pub path: String,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// The manifest digest, if one was given (`name@sha256:...`).
    pub digest: Option<String>,
}

/// The input is not an image reference; displays like Docker's parser error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format")]
pub struct InvalidReference;

impl Reference {
    /// Parses `input` like `docker pull`/`tag`/`push` do.
    pub fn parse(input: &str) -> Result<Reference, InvalidReference> {
        if input.is_empty() || input.len() > 255 {
            return Err(InvalidReference);
        }
        let (name, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                let hex = digest.strip_prefix("sha256:").ok_or(InvalidReference)?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(InvalidReference);
                }
                (name, Some(digest.to_string()))
            }
            None => (input, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(colon) if !name[colon..].contains('/') => {
                (&name[..colon], Some(name[colon + 1..].to_string()))
            }
            _ => (name, None),
        };
        if let Some(tag) = &tag
            && !valid_tag(tag)
        {
            return Err(InvalidReference);
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !valid_domain(first) {
                    return Err(InvalidReference);
                }
                (first.to_string(), rest.to_string())
            }
            _ => (HUB.to_string(), name.to_string()),
        };
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(InvalidReference);
        }
        let path = if domain == HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The fully qualified repository, `domain/path`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as Docker shows it: Hub names without `docker.io/`
    /// and without `library/`.
    pub fn familiar_repository(&self) -> String {
        if self.domain != HUB {
            return self.repository();
        }
        match self.path.strip_prefix("library/") {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => self.path.clone(),
        }
    }

    /// The tag, `latest` when none was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The key of this reference in a local image store: the fully qualified
    /// repository and the tag (`latest` by default).
    pub fn store_key(&self) -> String {
        format!("{}:{}", self.repository(), self.tag_or_latest())
    }

    /// `familiar_repository:tag`, as Docker prints it in status lines.
    pub fn familiar_tagged(&self) -> String {
        format!("{}:{}", self.familiar_repository(), self.tag_or_latest())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// A path component: lower-case letters and digits, separated by `.`, `_`,
/// `__` or runs of `-`.
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut previous_separator: Option<u8> = None;
    let mut run = 0;
    for b in bytes {
        if alnum(b) {
            previous_separator = None;
            run = 0;
            continue;
        }
        match (b, previous_separator) {
            (b'-', None | Some(b'-')) => {}
            (b'_', None) => {}
            (b'_', Some(b'_')) if run == 1 => {}
            (b'.', None) => {}
            _ => return false,
        }
        previous_separator = Some(*b);
        run += 1;
    }
    true
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    matches!(bytes.first(), Some(b) if word(b))
        && bytes.len() <= 128
        && bytes.iter().all(|b| word(b) || *b == b'.' || *b == b'-')
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_are_normalised() {
        let r = Reference::parse("hello-world").expect("valid reference");
        assert_eq!(r.repository(), "docker.io/library/hello-world");
        assert_eq!(r.familiar_tagged(), "hello-world:latest");
        assert_eq!(r.tag, None);
    }

    #[test]
    fn registry_with_port_and_tag() {
        let r = Reference::parse("127.0.0.1:4443/admin/hello-world:1").expect("valid reference");
        assert_eq!(r.domain, "127.0.0.1:4443");
        assert_eq!(r.path, "admin/hello-world");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.familiar_repository(), "127.0.0.1:4443/admin/hello-world");
    }

    #[test]
    fn invalid_references() {
        for bad in ["", "Hello", "a//b", "a:", "dtr:x/a", "a@sha256:12", "-a"] {
            assert_eq!(Reference::parse(bad), Err(InvalidReference), "{bad}");
        }
        assert!(Reference::parse("a__b/c-d--e.f:v1.0-x").is_ok());
    }
}
