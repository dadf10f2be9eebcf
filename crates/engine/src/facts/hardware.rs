//! The `hardware` subset on Linux: memory, processors, mounts and uptime,
//! plus the `loadavg` collector, computed as ansible-core's Linux hardware
//! collector computes them (whole mebibytes by integer division per
//! `/proc/meminfo` line, sockets and cores from `/proc/cpuinfo`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Sections;

pub(super) fn facts(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    memory(s, &mut out);
    cpu(s, &mut out);
    out.insert("mounts".into(), Value::Array(mounts(s)));
    if let Some(up) = s
        .text("uptime")
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
    {
        // Whole seconds, as Python's int() truncates.
        out.insert("uptime_seconds".into(), (up.trunc() as i64).into());
    }
    out
}

fn memory(s: &Sections, out: &mut Map<String, Value>) {
    let mut mb: BTreeMap<String, i64> = BTreeMap::new();
    for line in s.lines("meminfo") {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        if let Some(kb) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<i64>().ok())
        {
            mb.insert(key.trim().to_ascii_lowercase(), kb / 1024);
        }
    }
    let get = |k: &str| mb.get(k).copied();
    for key in ["memtotal", "memfree", "swaptotal", "swapfree"] {
        if let Some(v) = get(key) {
            out.insert(format!("{key}_mb"), v.into());
        }
    }
    let (Some(total), Some(free)) = (get("memtotal"), get("memfree")) else {
        return;
    };
    let nocache_free = get("cached").unwrap_or(0) + free + get("buffers").unwrap_or(0);
    let swap_total = get("swaptotal").unwrap_or(0);
    let swap_free = get("swapfree").unwrap_or(0);
    out.insert(
        "memory_mb".into(),
        json!({
            "real": {"total": total, "used": total - free, "free": free},
            "nocache": {"free": nocache_free, "used": total - nocache_free},
            "swap": {
                "total": swap_total,
                "free": swap_free,
                "used": swap_total - swap_free,
                "cached": get("swapcached").unwrap_or(0),
            },
        }),
    );
}

fn cpu(s: &Sections, out: &mut Map<String, Value>) {
    let mut processor: Vec<Value> = Vec::new();
    let mut count = 0i64;
    // Insertion order matters: Ansible takes the first socket's core count
    // and the first core's sibling count.
    let mut sockets: Vec<(String, i64)> = Vec::new();
    let mut cores: Vec<(String, i64)> = Vec::new();
    let (mut physid, mut coreid) = (String::new(), String::new());
    let set = |list: &mut Vec<(String, i64)>, key: &str, value: i64, only_new: bool| match list
        .iter_mut()
        .find(|(k, _)| k == key)
    {
        Some(entry) if !only_new => entry.1 = value,
        Some(_) => {}
        None => list.push((key.to_string(), value)),
    };
    for line in s.lines("cpuinfo") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(value.into());
                if key == "processor" {
                    count += 1;
                }
            }
            "physical id" => {
                physid = value.to_string();
                set(&mut sockets, &physid, 1, true);
            }
            "core id" => {
                coreid = value.to_string();
                set(&mut cores, &coreid, 1, true);
            }
            "cpu cores" => {
                if let Ok(n) = value.parse() {
                    set(&mut sockets, &physid, n, false);
                }
            }
            "siblings" => {
                if let Ok(n) = value.parse() {
                    set(&mut cores, &coreid, n, false);
                }
            }
            _ => {}
        }
    }
    if processor.is_empty() {
        return;
    }
    let sockets_n = if sockets.is_empty() {
        count
    } else {
        sockets.len() as i64
    };
    let cores_n = sockets.first().map_or(1, |s| s.1).max(1);
    let threads = (cores.first().map_or(1, |c| c.1) / cores_n).max(1);
    out.insert("processor".into(), Value::Array(processor));
    out.insert("processor_count".into(), sockets_n.into());
    out.insert("processor_cores".into(), cores_n.into());
    out.insert("processor_threads_per_core".into(), threads.into());
    out.insert(
        "processor_vcpus".into(),
        (threads * sockets_n * cores_n).into(),
    );
    let nproc = s
        .lines("status")
        .iter()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|list| cpu_list_len(list.trim()))
        .filter(|n| *n > 0)
        .unwrap_or(count);
    out.insert("processor_nproc".into(), nproc.into());
}

/// How many CPUs a list such as `0-3,8,10-11` names.
fn cpu_list_len(list: &str) -> i64 {
    list.split(',')
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('-') {
            Some((a, b)) => match (a.parse::<i64>(), b.parse::<i64>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => i64::from(part.parse::<i64>().is_ok()),
        })
        .sum()
}

/// `/proc/mounts` decodes spaces and such as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let n = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `mounts`: the mounts of real devices (a path or `host:/path`), with
/// their sizes from `stat -f`, as Ansible lists them.
fn mounts(s: &Sections) -> Vec<Value> {
    let mut sizes: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for line in s.lines("statfs") {
        let fields: Vec<&str> = line.rsplitn(7, '|').collect();
        if fields.len() != 7 {
            continue;
        }
        let numbers: Vec<i64> = fields[..6]
            .iter()
            .rev()
            .filter_map(|n| n.parse().ok())
            .collect();
        if numbers.len() == 6 {
            sizes.insert(fields[6].to_string(), numbers);
        }
    }
    // Ansible marks bind mounts (findmnt shows their source as
    // `dev[/dir]`): in mountinfo, their root within the file system is not `/`.
    let binds: Vec<String> = s
        .lines("mountinfo")
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 4 && f[3] != "/").then(|| unescape(f[4]))
        })
        .collect();
    let mut out = Vec::new();
    for line in s.lines("mounts") {
        let f: Vec<String> = line.split_whitespace().map(unescape).collect();
        if f.len() < 6 {
            continue;
        }
        let (device, mount, fstype, options) = (&f[0], &f[1], &f[2], &f[3]);
        let real = device.starts_with('/') || device.starts_with('\\') || device.contains(":/");
        if !real || fstype == "none" {
            continue;
        }
        let options = if binds.contains(mount) {
            format!("{options},bind")
        } else {
            options.clone()
        };
        let mut entry = json!({
            "mount": mount,
            "device": device,
            "fstype": fstype,
            "options": options,
            "dump": f[4].parse::<i64>().unwrap_or(0),
            "passno": f[5].parse::<i64>().unwrap_or(0),
            "uuid": "N/A",
        });
        // `stat -f -c '%n|%S|%s|%b|%a|%c|%d'`: fragment size, block size,
        // blocks, blocks available, inodes, inodes free.
        if let Some(n) = sizes.get(mount.as_str()) {
            let (frsize, bsize, blocks, avail, files, ffree) = (n[0], n[1], n[2], n[3], n[4], n[5]);
            entry["size_total"] = (frsize * blocks).into();
            entry["size_available"] = (frsize * avail).into();
            entry["block_size"] = bsize.into();
            entry["block_total"] = blocks.into();
            entry["block_available"] = avail.into();
            entry["block_used"] = (blocks - avail).into();
            entry["inode_total"] = files.into();
            entry["inode_available"] = ffree.into();
            entry["inode_used"] = (files - ffree).into();
        }
        out.push(entry);
    }
    out
}

/// `loadavg`: `{"1m": .., "5m": .., "15m": ..}`.
pub(super) fn loadavg(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(text) = s.text("loadavg") else {
        return out;
    };
    let w: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    if w.len() == 3 {
        out.insert(
            "loadavg".into(),
            json!({"1m": w[0], "5m": w[1], "15m": w[2]}),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_ranges() {
        assert_eq!(cpu_list_len("0-1"), 2);
        assert_eq!(cpu_list_len("0-3,8,10-11"), 7);
    }

    #[test]
    fn mount_fields_decode_octal_escapes() {
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
