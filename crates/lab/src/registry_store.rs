//! What DTR's registry keeps: blobs, manifests and tags per repository,
//! uploads in progress, and what each bearer token grants. Plain state,
//! below both the registry's handlers and DTR's repository API.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use axum::body::Bytes;
use serde_json::{Value, json};

/// What a token lets its bearer do to one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    Pull,
    Push,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
        }
    }
}

/// A registry bearer token's identity and rights.
#[derive(Debug, Clone)]
pub(crate) struct TokenGrant {
    pub(crate) subject: Option<String>,
    pub(crate) access: BTreeMap<String, BTreeSet<Action>>,
}

impl TokenGrant {
    pub(crate) fn allows(&self, repo: &str, action: Action) -> bool {
        self.access
            .get(repo)
            .is_some_and(|actions| actions.contains(&action))
    }
}

/// A blob upload in progress.
#[derive(Debug)]
pub(crate) struct Upload {
    pub(crate) repo: String,
    pub(crate) data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredManifest {
    pub(crate) media_type: String,
    pub(crate) config_media_type: String,
    pub(crate) body: Bytes,
    pub(crate) created_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct TagRecord {
    pub(crate) digest: String,
    pub(crate) author: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// Everything pushed to the registry.
#[derive(Debug, Default)]
pub(crate) struct RegistryStore {
    /// Blob contents by digest, shared by all repositories.
    pub(crate) blobs: HashMap<String, Bytes>,
    /// Which blobs each repository has (pushed to it).
    pub(crate) links: HashMap<String, HashSet<String>>,
    pub(crate) uploads: HashMap<String, Upload>,
    /// Manifests by repository, then by digest.
    pub(crate) manifests: HashMap<String, HashMap<String, StoredManifest>>,
    /// Tags by repository, then by name.
    pub(crate) tags: HashMap<String, BTreeMap<String, TagRecord>>,
}

impl RegistryStore {
    /// Drops a deleted repository's tags, manifests and blob links.
    pub(crate) fn forget_repository(&mut self, repo: &str) {
        self.links.remove(repo);
        self.manifests.remove(repo);
        self.tags.remove(repo);
        self.uploads.retain(|_, upload| upload.repo != repo);
    }

    /// The DTR tags API view of a repository's tags, sorted by name.
    pub(crate) fn tag_details(&self, repo: &str) -> Vec<Value> {
        let Some(tags) = self.tags.get(repo) else {
            return Vec::new();
        };
        let manifests = self.manifests.get(repo);
        tags.iter()
            .map(|(name, tag)| {
                let manifest = manifests.and_then(|m| m.get(&tag.digest));
                json!({
                    "name": name,
                    "digest": tag.digest,
                    "author": tag.author,
                    "createdAt": tag.created_at,
                    "updatedAt": tag.updated_at,
                    "hashMismatch": false,
                    "inNotary": false,
                    "manifest": {
                        "digest": tag.digest,
                        "mediaType": manifest.map(|m| m.media_type.as_str()).unwrap_or_default(),
                        "configMediaType": manifest
                            .map(|m| m.config_media_type.as_str())
                            .unwrap_or_default(),
                        "size": manifest.map(|m| m.body.len()).unwrap_or_default(),
                        "createdAt": manifest.map(|m| m.created_at.as_str()).unwrap_or_default(),
                        "author": tag.author,
                    },
                })
            })
            .collect()
    }

    pub(crate) fn has_blob(&self, repo: &str, digest: &str) -> bool {
        self.links
            .get(repo)
            .is_some_and(|linked| linked.contains(digest))
    }

    pub(crate) fn add_blob(&mut self, repo: &str, digest: String, data: Bytes) {
        self.blobs.entry(digest.clone()).or_insert(data);
        self.links
            .entry(repo.to_owned())
            .or_default()
            .insert(digest);
    }

    pub(crate) fn manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Option<(String, &StoredManifest)> {
        let digest = if is_digest(reference) {
            reference.to_owned()
        } else {
            self.tags.get(repo)?.get(reference)?.digest.clone()
        };
        let manifest = self.manifests.get(repo)?.get(&digest)?;
        Some((digest, manifest))
    }
}

/// Whether `text` is a content digest: `sha256:` and 64 lowercase hex digits.
pub(crate) fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}
