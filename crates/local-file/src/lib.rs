//! Files dtrplay writes on the control machine: reports, the lab's state and
//! certificates, vault files rewritten in place. A crate of its own because
//! both the engine and the lab (`dtrplay-lab`) write them, and the lab does
//! not depend on the engine.
//!
//! Every such write is atomic and private by construction: the bytes go to a
//! temporary file beside the target, created exclusively (`O_EXCL`) under a
//! random name with the final mode, synced, then renamed over the target. A
//! reader sees the old file or the new one, never a partial one; a planted
//! file or link under a guessable name cannot be written through, because no
//! name is guessable and an existing one is never opened.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically with `mode` (the umask does not
/// apply), creating the parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_name(path);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut file| {
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// `.<name>.<16 random hex digits>.tmp` beside `path`.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut random = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .expect("the system random number generator works");
    path.with_file_name(format!(".{name}.{}.tmp", hex::encode(random)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_with_the_given_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/report.html");
        write_atomic(&path, b"one", 0o644).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["report.html"]);
    }

    #[test]
    fn temporary_names_are_not_predictable() {
        let path = Path::new("/x/state.json");
        assert_ne!(temp_name(path), temp_name(path));
    }
}
