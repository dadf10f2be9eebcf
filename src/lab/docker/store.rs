//! A node's local image store: content-addressed blobs plus a tag table, the
//! lab's equivalent of `/var/lib/docker/image`.
//!
//! Images are kept exactly as a registry serves them (a Docker image manifest
//! v2 schema 2, a config blob and gzip layers), so a push sends the very
//! bytes that were pulled and the manifest digest stays stable end to end.
//! Every blob is stored under its SHA-256 and written atomically; the tag
//! table is updated under an exclusive `flock`, because playbooks may run
//! several `docker` commands on one node at once.
//!
//! The store also holds the lab's one "Docker Hub" image, `hello-world`,
//! built here from a real tar layer (gzip with stored deflate blocks) and a
//! config whose `diff_ids` are the layer's uncompressed digest, so every
//! digest a registry or a test checks is genuine.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Media type of a Docker image manifest, version 2, schema 2.
pub const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker image config.
pub const CONFIG_V1: &str = "application/vnd.docker.container.image.v1+json";
/// Media type of a gzip-compressed layer.
pub const LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A content descriptor inside a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    pub digest: String,
}

/// An image manifest (schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The parts of an image config the engine reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub created: Option<String>,
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RootFs {
    pub diff_ids: Vec<String>,
}

/// An image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest exactly as stored.
    pub manifest_bytes: Vec<u8>,
    /// `sha256:<hex>` of `manifest_bytes`.
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

impl Image {
    /// The image ID: the config digest, as `docker images` shows it.
    pub fn id(&self) -> &str {
        &self.manifest.config.digest
    }
}

/// One tag in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagEntry {
    /// The manifest digest the tag points at.
    pub manifest: String,
    /// When the tag was created or moved (seconds since the epoch).
    pub since: u64,
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("lab image store: cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lab image store: cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: nix::errno::Errno,
    },
    #[error("lab image store: {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("lab image store: blob {digest} is missing")]
    MissingBlob { digest: String },
}

/// The store rooted at one directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store under `dir` (created lazily on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.dir.join("blobs/sha256").join(hex))
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_some_and(|p| p.is_file())
    }

    /// Reads a blob, or `None` when it is absent.
    pub fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(path) = self.blob_path(digest) else {
            return Ok(None);
        };
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Stores `bytes` and returns their digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = sha256_digest(bytes);
        let Some(path) = self.blob_path(&digest) else {
            return Ok(digest);
        };
        if !path.is_file() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// The tag table: store key (`domain/path:tag`) to entry.
    pub fn tags(&self) -> Result<BTreeMap<String, TagEntry>, StoreError> {
        let path = self.dir.join("tags.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StoreError::Corrupt { path, source }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Points `key` at `manifest_digest`; returns whether anything changed.
    pub fn set_tag(&self, key: &str, manifest_digest: &str) -> Result<bool, StoreError> {
        let _lock = self.lock()?;
        let mut tags = self.tags()?;
        if tags.get(key).is_some_and(|e| e.manifest == manifest_digest) {
            return Ok(false);
        }
        tags.insert(
            key.to_string(),
            TagEntry {
                manifest: manifest_digest.to_string(),
                since: now_secs(),
            },
        );
        let path = self.dir.join("tags.json");
        let bytes = serde_json::to_vec_pretty(&tags).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &bytes)?;
        Ok(true)
    }

    /// The image a tag points at, if the tag exists.
    pub fn image_for_tag(&self, key: &str) -> Result<Option<Image>, StoreError> {
        match self.tags()?.get(key) {
            Some(entry) => self.image(&entry.manifest).map(Some),
            None => Ok(None),
        }
    }

    /// The image whose ID starts with `prefix` (at least 4 hex digits), the
    /// way `docker tag <id> ...` accepts a short image ID.
    pub fn image_by_id_prefix(&self, prefix: &str) -> Result<Option<Image>, StoreError> {
        let prefix = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        for entry in self.tags()?.values() {
            let image = self.image(&entry.manifest)?;
            if image.id().trim_start_matches("sha256:").starts_with(prefix) {
                return Ok(Some(image));
            }
        }
        Ok(None)
    }

    /// Reads an image by manifest digest; its config must be present too.
    pub fn image(&self, manifest_digest: &str) -> Result<Image, StoreError> {
        let manifest_bytes =
            self.blob(manifest_digest)?
                .ok_or_else(|| StoreError::MissingBlob {
                    digest: manifest_digest.to_string(),
                })?;
        let path = self.dir.join("blobs/sha256");
        let manifest: Manifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| StoreError::Corrupt {
                path: path.clone(),
                source,
            })?;
        let config_bytes =
            self.blob(&manifest.config.digest)?
                .ok_or_else(|| StoreError::MissingBlob {
                    digest: manifest.config.digest.clone(),
                })?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|source| StoreError::Corrupt { path, source })?;
        Ok(Image {
            manifest_digest: manifest_digest.to_string(),
            manifest_bytes,
            manifest,
            config,
        })
    }

    fn lock(&self) -> Result<Flock<File>, StoreError> {
        create_dir(&self.dir)?;
        let path = self.dir.join("tags.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                action: "open",
                path: path.clone(),
                source,
            })?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, source)| StoreError::Lock { path, source })
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The 12-hex-digit short form Docker prints for IDs and digests.
pub fn short_id(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

/// The lab's built-in `hello-world` image: manifest, config and layer bytes.
pub struct BuiltinImage {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

/// Builds `hello-world`. The bytes are the same on every call and every
/// node, so its digests are stable across labs.
pub fn hello_world() -> BuiltinImage {
    let text =
        b"\nHello from the dtrplay lab!\nThis image stands in for Docker Hub's hello-world.\n";
    let tar = tar_with_one_file("hello", 0o755, text);
    let layer = gzip_stored(&tar);
    let config = serde_json::json!({
        "architecture": "amd64",
        "config": {
            "Cmd": ["/hello"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        },
        "created": "2023-05-04T17:37:03Z",
        "history": [{
            "created": "2023-05-04T17:37:03Z",
            "created_by": "COPY hello / # dtrplay lab",
        }],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&tar)]},
    });
    let config = config.to_string().into_bytes();
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_V2.to_string(),
        config: Descriptor {
            media_type: CONFIG_V1.to_string(),
            size: config.len() as u64,
            digest: sha256_digest(&config),
        },
        layers: vec![Descriptor {
            media_type: LAYER_GZIP.to_string(),
            size: layer.len() as u64,
            digest: sha256_digest(&layer),
        }],
    };
    // A manifest is JSON, so pretty-printing it cannot fail; fall back to
    // the compact form to stay panic-free anyway.
    let manifest = serde_json::to_vec_pretty(&manifest)
        .or_else(|_| serde_json::to_vec(&manifest))
        .unwrap_or_default();
    BuiltinImage {
        manifest,
        config,
        layer,
    }
}

/// A ustar archive holding one regular file.
fn tar_with_one_file(name: &str, mode: u32, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put = |offset: usize, field: &[u8]| {
        header[offset..offset + field.len()].copy_from_slice(field);
    };
    put(0, name.as_bytes());
    put(100, format!("{mode:07o}\0").as_bytes());
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, format!("{:011o}\0", 1_683_221_823u64).as_bytes());
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    put(265, b"root");
    put(297, b"root");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    let padding = (512 - content.len() % 512) % 512;
    tar.extend(std::iter::repeat_n(0u8, padding + 1024));
    tar
}

/// A gzip stream whose deflate data is made of stored (uncompressed)
/// blocks: valid for every gunzip, and needs no compression library.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        out.push(u8::from(last));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Sizes the way the Docker CLI prints them: decimal units and three
/// significant digits, trailing zeros dropped (Go's `%.3g`, as in `13.3kB`).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < units.len() {
        size /= 1000.0;
        unit += 1;
    }
    let decimals = if size >= 100.0 {
        0
    } else if size >= 10.0 {
        1
    } else {
        2
    };
    let formatted = format!("{size:.decimals$}");
    let trimmed = if formatted.contains('.') {
        formatted.trim_end_matches('0').trim_end_matches('.')
    } else {
        formatted.as_str()
    };
    format!("{trimmed}{}", units[unit])
}

/// A duration the way the Docker CLI words it (go-units `HumanDuration`),
/// followed by "ago", for the CREATED column of `docker images`.
pub fn human_age(seconds: u64) -> String {
    let minutes = seconds / 60;
    let hours = (seconds + 1800) / 3600;
    let text = if seconds < 1 {
        "Less than a second".to_string()
    } else if seconds == 1 {
        "1 second".to_string()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    };
    format!("{text} ago")
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn create_dir(path: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(path).map_err(|source| StoreError::Io {
        action: "create",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`, so readers never see a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |action, source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = File::create(&tmp).map_err(|e| io("create", e))?;
    file.write_all(bytes).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("sync", e))?;
    fs::rename(&tmp, path).map_err(|e| io("rename", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_a_known_string() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn sizes_like_the_docker_cli() {
        assert_eq!(human_size(13_256), "13.3kB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_000_000), "1MB");
    }

    #[test]
    fn hello_world_is_stable_and_consistent() {
        let a = hello_world();
        let b = hello_world();
        assert_eq!(a.manifest, b.manifest);
        let manifest: Manifest = serde_json::from_slice(&a.manifest).expect("manifest");
        assert_eq!(manifest.layers[0].digest, sha256_digest(&a.layer));
        assert_eq!(manifest.config.digest, sha256_digest(&a.config));
    }
}
