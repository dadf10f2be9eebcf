//! Which container runtimes a node runs, and where each keeps its trust in
//! registries: what `copy-ca-crt` writes for step 5 and `doctor` reads.
//!
//! Docker engines trust a registry through
//! `/etc/docker/certs.d/<host[:port]>/ca.crt`. containerd (MKE 4 runs on k0s
//! and containerd, real-world-facts.md §3) trusts it through a hosts
//! directory, `<certs.d>/<host[:port]>/hosts.toml`, which its CRI plugin
//! reads only when a drop-in sets `config_path` for the plugin's registry
//! section. Two layouts exist:
//!
//! - **k0s** (MKE 4): k0s writes `/etc/k0s/containerd.toml` (with its
//!   `# k0s_managed=true` line), which imports `/etc/k0s/containerd.d/*.toml`;
//!   the hosts directory is `/etc/k0s/containerd.d/certs.d` and the drop-in
//!   `/etc/k0s/containerd.d/cri-registry.toml`; containerd is k0s's own
//!   (`/var/lib/k0s/bin/containerd`), listening on `/run/k0s/containerd.sock`.
//! - **plain containerd**: `/etc/containerd/config.toml`, the hosts
//!   directory `/etc/containerd/certs.d` and the drop-in
//!   `/etc/containerd/conf.d/cri-registry.toml` (containerd 2.x imports
//!   `conf.d` by default; on 1.x the main file must import it, which
//!   `doctor` checks with `containerd config dump`).
//!
//! The CRI plugin's name depends on containerd's major version:
//! `io.containerd.grpc.v1.cri` on 1.x (configuration `version = 2`),
//! `io.containerd.cri.v1.images` on 2.x (`version = 3`).
//!
//! Detection is one read-only script: which sockets and configuration
//! files exist, and `containerd --version` only when containerd is there.

use crate::tasks::dump_certs::shell_quote;

/// What `runtime:` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeArg {
    Docker,
    Containerd,
    Auto,
}

/// The values `runtime:` (and the `container_runtime` variable) take.
pub const RUNTIME_CHOICES: [&str; 3] = ["docker", "containerd", "auto"];

impl RuntimeArg {
    pub fn parse(text: &str) -> Option<RuntimeArg> {
        match text.trim() {
            "docker" => Some(RuntimeArg::Docker),
            "containerd" => Some(RuntimeArg::Containerd),
            "auto" => Some(RuntimeArg::Auto),
            _ => None,
        }
    }
}

/// Which containerd layout a node has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// MKE 4: k0s's containerd and its drop-in directory.
    K0s,
    /// containerd as its own package or service.
    Plain,
}

/// A node's containerd: its layout and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containerd {
    pub layout: Layout,
    /// The binary that answered `--version`.
    pub binary: String,
    /// The version it printed (`1.6.20~ds1`, `2.0.2`).
    pub version: String,
    pub major: u32,
}

impl Containerd {
    /// Where hosts directories live unless `containerd_certs_dir` says.
    pub fn default_certs_dir(&self) -> &'static str {
        match self.layout {
            Layout::K0s => "/etc/k0s/containerd.d/certs.d",
            Layout::Plain => "/etc/containerd/certs.d",
        }
    }

    /// Where the CRI drop-in goes unless `containerd_cri_dropin` says.
    pub fn default_dropin(&self) -> &'static str {
        match self.layout {
            Layout::K0s => "/etc/k0s/containerd.d/cri-registry.toml",
            Layout::Plain => "/etc/containerd/conf.d/cri-registry.toml",
        }
    }

    /// The main configuration file, which imports the drop-ins.
    pub fn main_config(&self) -> &'static str {
        match self.layout {
            Layout::K0s => "/etc/k0s/containerd.toml",
            Layout::Plain => "/etc/containerd/config.toml",
        }
    }

    /// The CRI plugin whose `registry.config_path` names the hosts
    /// directory.
    pub fn cri_plugin(&self) -> &'static str {
        if self.major >= 2 {
            "io.containerd.cri.v1.images"
        } else {
            "io.containerd.grpc.v1.cri"
        }
    }

    /// The configuration format version this containerd writes.
    pub fn config_version(&self) -> u32 {
        if self.major >= 2 { 3 } else { 2 }
    }

    /// "containerd 1.6.20~ds1 (k0s)", for messages.
    pub fn describe(&self) -> String {
        let layout = match self.layout {
            Layout::K0s => "k0s",
            Layout::Plain => "plain",
        };
        format!("containerd {} ({layout})", self.version)
    }
}

/// What the detection script found on a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detected {
    /// A Docker engine's socket or `dockerd`.
    pub docker: bool,
    /// k0s's containerd configuration or socket.
    pub k0s: bool,
    /// A plain containerd socket.
    pub containerd_socket: bool,
    /// The containerd binary and the first line of its `--version`.
    pub containerd_binary: Option<String>,
    pub containerd_version_line: Option<String>,
}

/// Why a node's runtimes cannot be established.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "this node runs no containerd that dtrplay can find (no /etc/k0s/containerd.toml, no /run/k0s/containerd.sock, no /run/containerd/containerd.sock): use `runtime: docker`, or start containerd first"
    )]
    NoContainerd,
    #[error(
        "cannot tell containerd's version on this node (`{binary} --version` printed `{line}`), which decides the CRI plugin's name: put containerd on the PATH of the SSH user"
    )]
    UnknownVersion { binary: String, line: String },
    #[error(
        "containerd runs on this node, but `containerd` is not on the SSH user's PATH (nor /var/lib/k0s/bin/containerd), so its version, which decides the CRI plugin's name, is unknown"
    )]
    NoBinary,
}

/// The read-only detection script: one word per finding, then the
/// containerd binary and its version line when containerd is there.
pub fn detect_script() -> String {
    let k0s_bin = shell_quote("/var/lib/k0s/bin/containerd");
    format!(
        "if [ -S /run/docker.sock ] || [ -S /var/run/docker.sock ] || command -v dockerd >/dev/null 2>&1; then echo docker; fi\n\
         ctd=\n\
         if [ -f /etc/k0s/containerd.toml ] || [ -S /run/k0s/containerd.sock ]; then echo k0s; ctd=1; fi\n\
         if [ -S /run/containerd/containerd.sock ]; then echo containerd; ctd=1; fi\n\
         if [ -n \"$ctd\" ]; then\n\
         \x20 for c in {k0s_bin} containerd; do\n\
         \x20   if p=$(command -v \"$c\" 2>/dev/null); then\n\
         \x20     printf 'binary %s\\n' \"$p\"\n\
         \x20     \"$p\" --version 2>&1 | {{ read -r line; printf 'version %s\\n' \"$line\"; }}\n\
         \x20     break\n\
         \x20   fi\n\
         \x20 done\n\
         fi\n\
         exit 0\n"
    )
}

/// Parses what [`detect_script`] printed.
pub fn parse_detect(stdout: &str) -> Detected {
    let mut found = Detected::default();
    for line in stdout.lines() {
        match line.split_once(' ') {
            Some(("binary", path)) => found.containerd_binary = Some(path.trim().to_string()),
            Some(("version", text)) => {
                found.containerd_version_line = Some(text.trim().to_string());
            }
            _ => match line.trim() {
                "docker" => found.docker = true,
                "k0s" => found.k0s = true,
                "containerd" => found.containerd_socket = true,
                _ => {}
            },
        }
    }
    found
}

/// The version in `containerd --version`'s line: `containerd
/// github.com/containerd/containerd 1.6.20~ds1 <revision>` (Debian) or
/// `containerd github.com/containerd/containerd/v2 v2.0.2 <revision>`.
pub fn parse_version(line: &str) -> Option<(String, u32)> {
    let mut words = line.split_whitespace();
    if words.next()? != "containerd" {
        return None;
    }
    let _package = words.next()?;
    let version = words.next()?.trim_start_matches('v');
    let major = version.split('.').next()?.parse().ok()?;
    Some((version.to_string(), major))
}

impl Detected {
    /// The node's containerd, when it runs one.
    pub fn containerd(&self) -> Result<Containerd, RuntimeError> {
        if !self.k0s && !self.containerd_socket {
            return Err(RuntimeError::NoContainerd);
        }
        let binary = self
            .containerd_binary
            .clone()
            .ok_or(RuntimeError::NoBinary)?;
        let line = self.containerd_version_line.clone().unwrap_or_default();
        let (version, major) =
            parse_version(&line).ok_or_else(|| RuntimeError::UnknownVersion {
                binary: binary.clone(),
                line: line.clone(),
            })?;
        Ok(Containerd {
            layout: if self.k0s { Layout::K0s } else { Layout::Plain },
            binary,
            version,
            major,
        })
    }
}

/// Which runtimes step 5 is for on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtimes {
    pub docker: bool,
    pub containerd: Option<Containerd>,
    /// Set when `auto` found nothing and fell back to Docker's certs.d.
    pub fallback: bool,
}

/// Resolves `runtime:` against what the node runs: `auto` takes every
/// runtime found (a node may run both) and Docker's certs.d, the
/// procedure's own step 5, when none is found.
pub fn resolve(arg: RuntimeArg, found: &Detected) -> Result<Runtimes, RuntimeError> {
    match arg {
        RuntimeArg::Docker => Ok(Runtimes {
            docker: true,
            containerd: None,
            fallback: false,
        }),
        RuntimeArg::Containerd => Ok(Runtimes {
            docker: false,
            containerd: Some(found.containerd()?),
            fallback: false,
        }),
        RuntimeArg::Auto => {
            let containerd = match found.containerd() {
                Ok(c) => Some(c),
                Err(RuntimeError::NoContainerd) => None,
                Err(e) => return Err(e),
            };
            let nothing = !found.docker && containerd.is_none();
            Ok(Runtimes {
                docker: found.docker || nothing,
                containerd,
                fallback: nothing,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_debian_and_upstream_builds() {
        assert_eq!(
            parse_version(
                "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
            ),
            Some(("1.6.20~ds1".into(), 1))
        );
        assert_eq!(
            parse_version("containerd github.com/containerd/containerd/v2 v2.0.2 c507a02"),
            Some(("2.0.2".into(), 2))
        );
        assert_eq!(parse_version("sh: containerd: not found"), None);
    }

    #[test]
    fn auto_takes_every_runtime_found_and_falls_back_to_docker() {
        let k0s = parse_detect(
            "docker\nk0s\nbinary /usr/bin/containerd\nversion containerd github.com/containerd/containerd 1.6.20~ds1 x\n",
        );
        let both = resolve(RuntimeArg::Auto, &k0s).expect("runtimes");
        assert!(both.docker);
        let ctd = both.containerd.expect("containerd");
        assert_eq!(ctd.layout, Layout::K0s);
        assert_eq!(ctd.cri_plugin(), "io.containerd.grpc.v1.cri");
        assert_eq!(ctd.config_version(), 2);
        let none = resolve(RuntimeArg::Auto, &Detected::default()).expect("fallback");
        assert!(none.docker && none.fallback && none.containerd.is_none());
        assert_eq!(
            resolve(RuntimeArg::Containerd, &Detected::default()),
            Err(RuntimeError::NoContainerd)
        );
        let v2 = parse_detect(
            "containerd\nbinary /usr/bin/containerd\nversion containerd github.com/containerd/containerd/v2 v2.1.0 x\n",
        )
        .containerd()
        .expect("containerd 2");
        assert_eq!(v2.layout, Layout::Plain);
        assert_eq!(v2.cri_plugin(), "io.containerd.cri.v1.images");
        assert_eq!(v2.config_version(), 3);
    }
}
