//! Copy-on-write system directories for lab nodes: what lets tests run the
//! real package and user tools (`dpkg`, `apt-get`, `useradd`) on a node
//! while nothing changes on the machine the tests run on.
//!
//! A node started with `FleetOptions::copy_on_write` gets, inside its
//! private mount namespace and before its sshd starts, one overlayfs mount
//! over each of [`OVERLAID`]: the host's directory is the read-only lower
//! layer and `<node>/cow/<name>/upper` receives every write. The node
//! therefore starts as an exact view of the host (its programs, its
//! `/etc/passwd`, its dpkg database) and diverges only in its own upper
//! layers. The layers live in the node directory, not in a tmpfs, so a
//! node keeps its state across `stop_node`/`start_node`.
//!
//! The host's directories are never written through an overlay; the kernel
//! only ever writes to the upper layer. Changing a lower directory while it
//! is mounted is undefined for overlayfs, and the lab never does it: the
//! fleet's own files live outside these directories (`/tmp`, the work
//! tree), which is why [`check_dir`] refuses a fleet directory under one.

use std::path::{Path, PathBuf};

use crate::node_error::NodeError;

/// The directories every copy-on-write node sees through an overlay:
/// everything dpkg installs to or keeps state in, and the user database
/// with the homes it names.
pub const OVERLAID: [&str; 5] = ["/etc", "/usr", "/var", "/opt", "/home"];

/// One overlay mount of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The directory as the node sees it (also the lower layer).
    pub mount: &'static str,
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// The overlay layers of the node kept in `root`.
pub fn layers(root: &Path) -> Vec<Layer> {
    OVERLAID
        .iter()
        .map(|mount| {
            let base = root.join("cow").join(mount.trim_start_matches('/'));
            Layer {
                mount,
                upper: base.join("upper"),
                work: base.join("work"),
            }
        })
        .collect()
}

/// Refuses a fleet directory that an overlay would cover, or whose path
/// overlayfs options cannot carry (`,` separates options and `:` layers).
pub fn check_dir(dir: &Path) -> Result<(), NodeError> {
    if let Some(mount) = OVERLAID.iter().find(|m| dir.starts_with(m)) {
        return Err(NodeError::UnderPrivateMount {
            path: dir.to_path_buf(),
            mount: mount.to_string(),
        });
    }
    if dir.to_string_lossy().contains([',', ':']) {
        return Err(NodeError::PlainPath {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Creates the layer directories of the node kept in `root` (and the mount
/// points on the host, empty, when one does not exist, like `/opt` on a
/// minimal image).
pub fn prepare(root: &Path) -> Result<(), NodeError> {
    for layer in layers(root) {
        for dir in [Path::new(layer.mount), &layer.upper, &layer.work] {
            std::fs::create_dir_all(dir).map_err(|source| NodeError::Create {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

/// The shell commands that mount the overlays, for the node's launch
/// script. Paths travel as positional parameters starting at `first`
/// (never spliced into the script); the parameters to pass are returned
/// with it, in order.
pub fn mount_script(root: &Path, first: usize) -> (String, Vec<String>) {
    let mut script = String::new();
    let mut params = Vec::new();
    for (i, layer) in layers(root).into_iter().enumerate() {
        let upper = first + 2 * i;
        script.push_str(&format!(
            "mount -t overlay overlay -o \"lowerdir={mount},upperdir=${{{upper}}},workdir=${{{work}}}\" {mount} && ",
            mount = layer.mount,
            work = upper + 1,
        ));
        params.push(layer.upper.display().to_string());
        params.push(layer.work.display().to_string());
    }
    (script, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_live_in_the_node_directory() {
        let layers = layers(Path::new("/tmp/f/nodes/node1"));
        assert_eq!(layers.len(), OVERLAID.len());
        assert_eq!(layers[0].mount, "/etc");
        assert_eq!(
            layers[0].upper,
            Path::new("/tmp/f/nodes/node1/cow/etc/upper")
        );
        assert_eq!(layers[0].work, Path::new("/tmp/f/nodes/node1/cow/etc/work"));
    }

    #[test]
    fn the_script_takes_paths_as_parameters() {
        let (script, params) = mount_script(Path::new("/tmp/f/n1"), 3);
        assert!(script.starts_with(
            "mount -t overlay overlay -o \"lowerdir=/etc,upperdir=${3},workdir=${4}\" /etc && "
        ));
        assert!(!script.contains("/tmp/f"));
        assert_eq!(params.len(), 2 * OVERLAID.len());
        assert_eq!(params[0], "/tmp/f/n1/cow/etc/upper");
    }

    #[test]
    fn directories_an_overlay_covers_are_refused() {
        assert!(check_dir(Path::new("/var/tmp/fleet")).is_err());
        assert!(check_dir(Path::new("/tmp/a,b")).is_err());
        assert!(check_dir(Path::new("/tmp/fleet")).is_ok());
    }
}
