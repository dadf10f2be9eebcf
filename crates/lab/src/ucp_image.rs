//! The `docker/ucp` image on the lab's engines, so that step 1 runs on a
//! node exactly as the procedure writes it, on the node's real engine:
//! `docker run --rm --name ucp -v /var/run/docker.sock:/var/run/docker.sock
//! docker/ucp dump-certs --cluster --ca`.
//!
//! The image is made at `lab up` with the engine's image import (nothing is
//! pulled): the machine's `dash` as `/bin/sh` with the shared libraries
//! `ldd` names for it, a `/dump-certs` script as its entrypoint, and, on
//! controllers only, UCP's certificates under `/certs` (real UCP keeps them
//! in the controllers' volumes, which its image reads through the Docker
//! socket; a worker has none). The script speaks UCP 1.1's `dump-certs`
//! (ucp-dtr-api.md §4): `--cluster` for the cluster root CA and cert instead
//! of the public ones, `--ca` for the CA only, `--debug`/`-D`/`--jsonlog`
//! accepted; errors are logrus `level=fatal` lines on stderr with exit 1.

use std::path::Path;
use std::process::Command;

use crate::docker::ControllerCerts;
use crate::test_image::{Entry, ImportError, archive, import_tar};

/// The image name the procedure runs.
pub const REPOSITORY: &str = "docker/ucp";
/// Its tag.
pub const TAG: &str = "latest";

/// The shell the image runs its script with.
const SHELL: &str = "/usr/bin/dash";

/// `ENTRYPOINT ["/bin/sh","/dump-certs"]`, encoded for the import's
/// `changes` parameter.
const ENTRYPOINT_CHANGE: &str = "ENTRYPOINT%20%5B%22%2Fbin%2Fsh%22%2C%22%2Fdump-certs%22%5D";

/// The script; `@NODE@` becomes the node's name.
const SCRIPT: &str = r#"# dump-certs of the dtrplay lab's docker/ucp image (crates/lab/src/ucp_image.rs).
fatal() { printf 'level=fatal msg="%s"\n' "$1" >&2; exit 1; }
[ "$1" = dump-certs ] || fatal "the dtrplay lab's docker/ucp image only runs dump-certs"
shift
cluster=
ca=
for flag; do
  case $flag in
    --cluster) cluster=1 ;;
    --ca) ca=1 ;;
    --debug|-D|--jsonlog) ;;
    *) fatal "Incorrect Usage. flag provided but not defined: $flag" ;;
  esac
done
[ -S /var/run/docker.sock ] || fatal "dump-certs needs the Docker socket: run it with -v /var/run/docker.sock:/var/run/docker.sock"
[ -d /certs ] || fatal "dump-certs must run on a UCP controller: @NODE@ is a worker and holds no UCP certificates"
if [ -n "$cluster" ]; then set -- cluster-ca.pem cluster-cert.pem; else set -- ca.pem cert.pem; fi
[ -n "$ca" ] && set -- "$1"
for file; do
  while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done < "/certs/$file"
done
"#;

fn fail(reason: String) -> ImportError {
    ImportError::new(format!("{REPOSITORY}:{TAG}"), String::new(), reason)
}

/// The files of the shell: itself and what its dynamic loader needs.
fn shell_files() -> Result<Vec<(String, Vec<u8>)>, ImportError> {
    let ldd = Command::new("ldd")
        .arg(SHELL)
        .output()
        .map_err(|e| fail(format!("cannot run ldd {SHELL}: {e}")))?;
    let text = String::from_utf8_lossy(&ldd.stdout);
    let mut paths: Vec<String> = text
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
        .map(str::to_string)
        .collect();
    paths.sort();
    paths.dedup();
    let mut files = vec![(
        "bin/sh".to_string(),
        std::fs::read(SHELL).map_err(|e| fail(format!("cannot read {SHELL}: {e}")))?,
    )];
    for path in paths {
        let content = std::fs::read(&path).map_err(|e| fail(format!("cannot read {path}: {e}")))?;
        files.push((path.trim_start_matches('/').to_string(), content));
    }
    Ok(files)
}

/// The image's tarball for a node; `certs` on controllers.
fn tarball(node: &str, certs: Option<&ControllerCerts>) -> Result<Vec<u8>, ImportError> {
    let mut entries = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    let mut add_dirs = |path: &str, entries: &mut Vec<Entry>| {
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            prefix.push_str(part);
            prefix.push('/');
            if !dirs.contains(&prefix) {
                dirs.push(prefix.clone());
                entries.push(Entry::Dir(prefix.clone()));
            }
        }
    };
    for (path, content) in shell_files()? {
        add_dirs(&path, &mut entries);
        entries.push(Entry::File {
            path,
            mode: 0o755,
            content,
        });
    }
    entries.push(Entry::File {
        path: "dump-certs".into(),
        mode: 0o755,
        content: SCRIPT.replace("@NODE@", node).into_bytes(),
    });
    if let Some(certs) = certs {
        entries.push(Entry::Dir("certs/".into()));
        for (name, pem) in [
            ("ca.pem", &certs.public_ca_pem),
            ("cert.pem", &certs.public_cert_pem),
            ("cluster-ca.pem", &certs.cluster_ca_pem),
            ("cluster-cert.pem", &certs.cluster_cert_pem),
        ] {
            entries.push(Entry::File {
                path: format!("certs/{name}"),
                mode: 0o644,
                content: format!("{}\n", pem.trim_end()).into_bytes(),
            });
        }
    }
    Ok(archive(&entries))
}

/// Imports the node's `docker/ucp:latest` into the engine behind `socket`.
pub fn import(
    socket: &Path,
    node: &str,
    certs: Option<&ControllerCerts>,
) -> Result<(), ImportError> {
    let tar = tarball(node, certs)?;
    import_tar(socket, REPOSITORY, TAG, ENTRYPOINT_CHANGE, &tar)
}
