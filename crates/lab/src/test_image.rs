//! The procedure's test image, made on each lab node's engine at `lab up`:
//! step 6 pulls `hello-world` from Docker Hub, which the lab never reaches,
//! so every engine is given a `hello-world:latest` of its own instead, made
//! with the engine's image import (`POST /images/create?fromSrc=-`, what
//! `docker import` does) from a one-file tarball built here. Nothing is
//! pulled from anywhere.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The repository and tag the lab gives every engine.
pub const REPOSITORY: &str = "hello-world";
pub const TAG: &str = "latest";

/// The one file of the image.
const FILE_NAME: &str = "hello";
const FILE_TEXT: &[u8] = b"Hello from the dtrplay lab.\n";

/// One member of an image tarball.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A directory (mode 0755).
    Dir(String),
    /// A regular file with its mode.
    File {
        path: String,
        mode: u32,
        content: Vec<u8>,
    },
}

/// A tar archive holding one regular file (POSIX ustar).
pub fn tarball(name: &str, content: &[u8]) -> Vec<u8> {
    archive(&[Entry::File {
        path: name.to_string(),
        mode: 0o644,
        content: content.to_vec(),
    }])
}

/// A POSIX ustar archive of `entries`, in order (paths of at most 100
/// bytes, owned by root).
pub fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut tar = Vec::new();
    for entry in entries {
        let (path, mode, kind, content): (&str, u32, u8, &[u8]) = match entry {
            Entry::Dir(path) => (path, 0o755, b'5', &[]),
            Entry::File {
                path,
                mode,
                content,
            } => (path, *mode, b'0', content),
        };
        let mut header = [0u8; 512];
        let name = path.as_bytes();
        let len = name.len().min(100);
        header[..len].copy_from_slice(&name[..len]);
        let octal = |field: &mut [u8], value: u64| {
            let text = format!("{value:0width$o}\0", width = field.len() - 1);
            field.copy_from_slice(text.as_bytes());
        };
        octal(&mut header[100..108], u64::from(mode));
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], content.len() as u64);
        octal(&mut header[136..148], 0);
        header[156] = kind;
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        // The checksum is computed with its own field as spaces.
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        let text = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(text.as_bytes());
        tar.extend_from_slice(&header);
        tar.extend_from_slice(content);
        let padding = (512 - content.len() % 512) % 512;
        tar.extend(std::iter::repeat_n(0u8, padding));
    }
    tar.extend(std::iter::repeat_n(0u8, 1024));
    tar
}

/// Why the test image could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot import the image {image} into the engine at {socket}: {reason}")]
pub struct ImportError {
    image: String,
    socket: String,
    reason: String,
}

impl ImportError {
    /// An error for `image` at `socket` (which may be empty).
    pub fn new(image: String, socket: String, reason: String) -> ImportError {
        ImportError {
            image,
            socket,
            reason,
        }
    }
}

/// Imports the lab's `hello-world:latest` into the engine behind `socket`.
pub fn import(socket: &Path) -> Result<(), ImportError> {
    let tar = tarball(FILE_NAME, FILE_TEXT);
    import_tar(socket, REPOSITORY, TAG, "", &tar)
}

/// Imports `tar` as `<repository>:<tag>`; `changes` is the already encoded
/// value of the API's `changes` parameter (Dockerfile instructions), or
/// empty.
pub fn import_tar(
    socket: &Path,
    repository: &str,
    tag: &str,
    changes: &str,
    tar: &[u8],
) -> Result<(), ImportError> {
    let fail = |reason: String| ImportError {
        image: format!("{repository}:{tag}"),
        socket: socket.display().to_string(),
        reason,
    };
    let changes = if changes.is_empty() {
        String::new()
    } else {
        format!("&changes={changes}")
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| fail(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let head = format!(
        "POST /images/create?fromSrc=-&repo={repository}&tag={tag}{changes} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(tar))
        .map_err(|e| fail(e.to_string()))?;
    let mut answer = Vec::new();
    stream
        .take(1024 * 1024)
        .read_to_end(&mut answer)
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&answer);
    let ok = text.starts_with("HTTP/1.") && text.get(8..12) == Some(" 200");
    if !ok || text.contains("\"error\"") {
        let body = text.split("\r\n\r\n").nth(1).unwrap_or(&text).trim();
        return Err(fail(body.chars().take(400).collect()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tarball_is_ustar_with_a_valid_checksum() {
        let tar = tarball("hello", b"hi\n");
        assert_eq!(tar.len(), 512 * 4);
        assert_eq!(&tar[257..262], b"ustar");
        let mut header = tar[..512].to_vec();
        let stored = std::str::from_utf8(&header[148..154]).unwrap().to_string();
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(u32::from_str_radix(&stored, 8).unwrap(), sum);
        assert_eq!(&tar[512..515], b"hi\n");
    }
}
