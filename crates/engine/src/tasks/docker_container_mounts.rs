//! `docker_container`'s `mounts`, as community.docker names them: parsed
//! from the task, compared with `HostConfig.Mounts` of `docker container
//! inspect`, and written as `docker create --mount` values.
//!
//! Both sides are brought to one text per mount, so a difference reads in
//! the diff as the engine would be told it.

use serde_json::Value;

use crate::tasks::docker_cli::{self, DockerError};

fn refused(text: String) -> DockerError {
    DockerError::Refused(text)
}

/// One entry of `mounts`, as the engine stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mount {
    pub target: String,
    pub kind: String,
    pub source: String,
    pub read_only: bool,
    pub propagation: Option<String>,
    pub volume_driver: Option<String>,
    pub no_copy: bool,
    pub tmpfs_size: Option<i64>,
    pub tmpfs_mode: Option<u32>,
    pub consistency: Option<String>,
}

const MOUNT_KEYS: &[&str] = &[
    "source",
    "target",
    "type",
    "read_only",
    "propagation",
    "volume_driver",
    "no_copy",
    "tmpfs_size",
    "tmpfs_mode",
    "consistency",
];

/// A size as Docker reads one (`512`, `64k`, `1m`, `2g`, binary units).
pub fn size_bytes(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => lower.split_at(i),
        None => (lower, ""),
    };
    let factor: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return None,
    };
    let number: f64 = digits.parse().ok()?;
    Some((number * factor) as i64)
}

impl Mount {
    /// A `mounts` entry of the task.
    pub fn parse(entry: &Value) -> Result<Mount, DockerError> {
        let map = entry.as_object().ok_or_else(|| {
            refused(format!(
                "mounts: each entry must be a mapping with `target` (and `source`, `type`), not {entry}"
            ))
        })?;
        if let Some(key) = map.keys().find(|k| !MOUNT_KEYS.contains(&k.as_str())) {
            return Err(refused(format!(
                "mounts: unknown key `{key}`; known keys are {}",
                MOUNT_KEYS.join(", ")
            )));
        }
        let text = |k: &str| {
            map.get(k)
                .filter(|v| !v.is_null())
                .map(docker_cli::scalar_text)
        };
        let flag = |k: &str| map.get(k).and_then(crate::params::to_bool).unwrap_or(false);
        let target = text("target")
            .ok_or_else(|| refused("mounts: an entry has no `target`".to_string()))?;
        let kind = text("type").unwrap_or_else(|| "volume".to_string());
        if !["bind", "volume", "tmpfs"].contains(&kind.as_str()) {
            return Err(refused(format!(
                "mounts: the `type` of {target} is `{kind}`; use bind, volume or tmpfs"
            )));
        }
        let source = text("source").unwrap_or_default();
        if kind == "bind" && !source.starts_with('/') {
            return Err(refused(format!(
                "mounts: the bind mount {target} needs an absolute `source`, not `{source}`"
            )));
        }
        if kind == "tmpfs" && !source.is_empty() {
            return Err(refused(format!(
                "mounts: the tmpfs mount {target} takes no `source`"
            )));
        }
        let tmpfs_size = text("tmpfs_size")
            .map(|s| {
                size_bytes(&s).ok_or_else(|| {
                    refused(format!(
                        "mounts: `tmpfs_size` of {target} is `{s}`; write a size such as 64m or 1g"
                    ))
                })
            })
            .transpose()?;
        let tmpfs_mode = text("tmpfs_mode")
            .map(|s| {
                u32::from_str_radix(&s, 8).map_err(|_| {
                    refused(format!(
                        "mounts: `tmpfs_mode` of {target} is `{s}`; write an octal mode such as 1777"
                    ))
                })
            })
            .transpose()?;
        Ok(Mount {
            target,
            kind,
            source,
            read_only: flag("read_only"),
            propagation: text("propagation"),
            volume_driver: text("volume_driver"),
            no_copy: flag("no_copy"),
            tmpfs_size,
            tmpfs_mode,
            consistency: text("consistency"),
        })
    }

    /// One entry of `HostConfig.Mounts`.
    pub fn inspected(m: &Value) -> Mount {
        let text = |v: &Value| Some(docker_cli::scalar_text(v)).filter(|s| !s.is_empty());
        Mount {
            target: docker_cli::scalar_text(&m["Target"]),
            kind: docker_cli::scalar_text(&m["Type"]),
            source: docker_cli::scalar_text(&m["Source"]),
            read_only: m["ReadOnly"].as_bool().unwrap_or(false),
            propagation: text(&m["BindOptions"]["Propagation"]),
            volume_driver: text(&m["VolumeOptions"]["DriverConfig"]["Name"]),
            no_copy: m["VolumeOptions"]["NoCopy"].as_bool().unwrap_or(false),
            tmpfs_size: m["TmpfsOptions"]["SizeBytes"].as_i64(),
            tmpfs_mode: m["TmpfsOptions"]["Mode"].as_u64().map(|m| m as u32),
            consistency: text(&m["Consistency"]).filter(|c| c != "default"),
        }
    }

    /// How the mount reads in the diff and in `docker create --mount`.
    pub fn fields(&self) -> Vec<String> {
        let mut f = vec![format!("type={}", self.kind)];
        if !self.source.is_empty() {
            f.push(format!("source={}", self.source));
        }
        f.push(format!("target={}", self.target));
        if self.read_only {
            f.push("readonly".to_string());
        }
        if let Some(p) = &self.propagation {
            f.push(format!("bind-propagation={p}"));
        }
        if let Some(d) = &self.volume_driver {
            f.push(format!("volume-driver={d}"));
        }
        if self.no_copy {
            f.push("volume-nocopy".to_string());
        }
        if let Some(s) = self.tmpfs_size {
            f.push(format!("tmpfs-size={s}"));
        }
        if let Some(m) = self.tmpfs_mode {
            f.push(format!("tmpfs-mode={m:o}"));
        }
        if let Some(c) = &self.consistency {
            f.push(format!("consistency={c}"));
        }
        f
    }

    /// The value of `--mount`: the fields as one CSV line, a field quoted
    /// when it holds a comma or a quote, as the docker command line reads
    /// it.
    pub fn flag_value(&self) -> String {
        self.fields()
            .iter()
            .map(|f| {
                if f.contains(',') || f.contains('"') {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The container's mounts (`HostConfig.Mounts`), sorted as the task's are.
pub fn inspected_mounts(host_config: &Value) -> Vec<Mount> {
    let mut out: Vec<Mount> = host_config["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Mount::inspected)
        .collect();
    out.sort();
    out
}

/// Mounts as one text each, for the diff.
pub fn describe_mounts(mounts: &[Mount]) -> String {
    let texts: Vec<String> = mounts.iter().map(|m| m.fields().join(",")).collect();
    format!("{texts:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mounts_compare_with_the_engines_form() {
        let wanted = Mount::parse(&json!({
            "type": "tmpfs", "target": "/run/x", "tmpfs_size": "1m", "tmpfs_mode": "1770"
        }))
        .expect("parses");
        let engine = Mount::inspected(&json!({
            "Type": "tmpfs", "Target": "/run/x",
            "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1016}
        }));
        assert_eq!(wanted, engine);
        assert_eq!(
            wanted.flag_value(),
            "type=tmpfs,target=/run/x,tmpfs-size=1048576,tmpfs-mode=1770"
        );
        let comma = Mount::parse(&json!({"type": "bind", "source": "/a,b", "target": "/c"}))
            .expect("parses");
        assert_eq!(comma.flag_value(), "type=bind,\"source=/a,b\",target=/c");
        assert!(Mount::parse(&json!({"type": "bind", "source": "rel", "target": "/c"})).is_err());
        assert!(Mount::parse(&json!({"target": "/c", "mode": "ro"})).is_err());
        assert_eq!(size_bytes("2G"), Some(2 << 30));
    }
}
