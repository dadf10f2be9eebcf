//! The collectors of Ansible's `min` subset: platform, distribution, user,
//! environment, date and time, DNS, package and service managers, Python,
//! FIPS, AppArmor, the kernel command line and the SSH host keys.
//!
//! Names here are without the `ansible_` prefix (`facts::parse` adds it).
//! Each function follows what the matching collector of ansible-core
//! reports on Linux; where dtrplay cannot know a value without running
//! Python on the host, the fact is left out rather than guessed.

use serde_json::{Map, Value, json};

use super::Sections;

/// `system`, `kernel`, `kernel_version`, `machine`, `architecture`,
/// `nodename`, `hostname`, `fqdn`, `domain`, `machine_id`.
pub(super) fn platform(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    let kernel = s.lines("kernel");
    let get = |i: usize| kernel.get(i).map(|l| l.trim().to_string());
    if let Some(system) = get(0) {
        out.insert("system".into(), system.into());
    }
    if let Some(release) = get(1) {
        out.insert("kernel".into(), release.into());
    }
    if let Some(version) = get(2) {
        out.insert("kernel_version".into(), version.into());
    }
    if let Some(arch) = s.text("arch") {
        out.insert("machine".into(), arch.clone().into());
        let architecture = match arch.as_str() {
            "i386" | "i486" | "i586" | "i686" => "i386".to_string(),
            _ => arch,
        };
        out.insert("architecture".into(), architecture.into());
    }
    if let Some(node) = get(3) {
        let short = node.split('.').next().unwrap_or(&node).to_string();
        let fqdn = fqdn(&node, s.lines("hosts"));
        let domain = fqdn
            .split_once('.')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default();
        out.insert("nodename".into(), node.clone().into());
        out.insert("hostname".into(), short.into());
        out.insert("fqdn".into(), fqdn.into());
        out.insert("domain".into(), domain.into());
    }
    if let Some(id) = s.text("machine-id") {
        out.insert("machine_id".into(), id.into());
    }
    out
}

/// Python's `socket.getfqdn()` answered from `/etc/hosts`: the host name's
/// address, the first line naming that address gives the canonical name
/// and its aliases, and the first of those with a dot wins (else the
/// canonical name). A name `/etc/hosts` does not know stays as it is.
fn fqdn(node: &str, hosts: &[String]) -> String {
    let entries: Vec<Vec<&str>> = hosts
        .iter()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 2)
        .collect();
    let Some(addr) = entries
        .iter()
        .find(|w| w[1..].contains(&node))
        .map(|w| w[0])
    else {
        return node.to_string();
    };
    let Some(line) = entries.iter().find(|w| w[0] == addr) else {
        return node.to_string();
    };
    line[1..]
        .iter()
        .find(|n| n.contains('.'))
        .unwrap_or(&line[1])
        .to_string()
}

/// The fields of `/etc/os-release` (quotes removed).
fn os_release(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    for line in s.lines("os-release") {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            out.insert(k.trim().to_string(), v.to_string().into());
        }
    }
    out
}

/// `os-release` IDs and the names and families Ansible gives them.
const DISTRIBUTIONS: &[(&str, &str, &str)] = &[
    ("debian", "Debian", "Debian"),
    ("raspbian", "Debian", "Debian"),
    ("ubuntu", "Ubuntu", "Debian"),
    ("linuxmint", "Linux Mint", "Debian"),
    ("pop", "Pop!_OS", "Debian"),
    ("kali", "Kali", "Debian"),
    ("devuan", "Devuan", "Debian"),
    ("neon", "KDE neon", "Debian"),
    ("rhel", "RedHat", "RedHat"),
    ("centos", "CentOS", "RedHat"),
    ("fedora", "Fedora", "RedHat"),
    ("rocky", "Rocky", "RedHat"),
    ("almalinux", "AlmaLinux", "RedHat"),
    ("ol", "OracleLinux", "RedHat"),
    ("amzn", "Amazon", "RedHat"),
    ("cloudlinux", "CloudLinux", "RedHat"),
    ("scientific", "Scientific", "RedHat"),
    ("virtuozzo", "Virtuozzo", "RedHat"),
    ("euleros", "EulerOS", "RedHat"),
    ("openEuler", "openEuler", "RedHat"),
    ("alpine", "Alpine", "Alpine"),
    ("arch", "Archlinux", "Archlinux"),
    ("manjaro", "Manjaro", "Archlinux"),
    ("gentoo", "Gentoo", "Gentoo"),
    ("sles", "SLES", "Suse"),
    ("sles_sap", "SLES_SAP", "Suse"),
    ("opensuse-leap", "openSUSE Leap", "Suse"),
    ("opensuse-tumbleweed", "openSUSE Tumbleweed", "Suse"),
    ("opensuse", "openSUSE", "Suse"),
    ("void", "Void", "Void"),
    ("nixos", "NixOS", "NixOS"),
];

/// `distribution`, `distribution_version`, `distribution_major_version`,
/// `distribution_minor_version`, `distribution_release`, `os_family`.
pub(super) fn distribution(s: &Sections) -> Map<String, Value> {
    let release = os_release(s);
    let field = |k: &str| release.get(k).and_then(Value::as_str).map(str::to_string);
    let id = field("ID").unwrap_or_default();
    let (name, family) = DISTRIBUTIONS
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, n, f)| (n.to_string(), f.to_string()))
        .unwrap_or_else(|| {
            let mut name = id.clone();
            if let Some(first) = name.get(0..1) {
                name = first.to_uppercase() + &name[1..];
            }
            if name.is_empty() {
                name = "NA".into();
            }
            (name.clone(), name)
        });
    // Debian and Alpine keep the full point release in a file of their own.
    let file_version = match family.as_str() {
        "Debian" if name == "Debian" => s.text("debian_version"),
        "Alpine" => s.text("alpine-release"),
        _ => None,
    }
    .filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'));
    let version = file_version
        .or_else(|| field("VERSION_ID"))
        .unwrap_or_else(|| "NA".into());
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or("NA").to_string();
    let minor = parts.next().map(str::to_string);
    let codename = field("VERSION_CODENAME")
        .or_else(|| field("UBUNTU_CODENAME"))
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // `VERSION="9.3 (Blue Onyx)"` names the release in parentheses.
            field("VERSION").and_then(|v| {
                let start = v.find('(')? + 1;
                let end = v[start..].find(')')? + start;
                Some(v[start..end].trim().to_string())
            })
        })
        .unwrap_or_else(|| "NA".into());
    let mut out = Map::new();
    out.insert("distribution".into(), name.clone().into());
    out.insert("distribution_version".into(), version.into());
    out.insert("distribution_major_version".into(), major.into());
    if let Some(minor) = minor {
        out.insert("distribution_minor_version".into(), minor.into());
    }
    out.insert("distribution_release".into(), codename.into());
    // The distribution file Ansible's parser settled on, where it is sure.
    let file = match family.as_str() {
        "Debian" => Some(("/etc/os-release", "Debian")),
        "RedHat" if s.text("redhat-release").is_some() && name != "Amazon" => {
            Some(("/etc/redhat-release", "RedHat"))
        }
        "Alpine" => Some(("/etc/alpine-release", "Alpine")),
        _ => None,
    };
    if let Some((path, variety)) = file {
        out.insert("distribution_file_parsed".into(), true.into());
        out.insert("distribution_file_path".into(), path.into());
        out.insert("distribution_file_variety".into(), variety.into());
    }
    out.insert("os_family".into(), family.into());
    out
}

/// `user_id`, `user_uid`, `user_gid`, `user_gecos`, `user_dir`,
/// `user_shell` and the real and effective ids.
pub(super) fn user(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    let ids = |key: &str| -> Vec<i64> {
        s.lines("status")
            .iter()
            .find_map(|l| l.strip_prefix(key))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let uids = ids("Uid:");
    let gids = ids("Gid:");
    let env = exported(s);
    let login = ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|k| {
            env.get(*k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        });
    let entries: Vec<Vec<&str>> = s
        .lines("passwd")
        .iter()
        .map(|l| l.splitn(7, ':').collect::<Vec<_>>())
        .filter(|f| f.len() == 7)
        .collect();
    // Python's `getpass.getuser()` trusts the environment first; the
    // password entry is looked up by that name, else by uid.
    let by_name = login
        .as_deref()
        .and_then(|name| entries.iter().find(|f| f[0] == name));
    let by_uid = uids
        .first()
        .and_then(|uid| entries.iter().find(|f| f[2] == uid.to_string()));
    let entry = by_name.or(by_uid);
    let user_id = login.or_else(|| by_uid.map(|f| f[0].to_string()));
    if let Some(id) = user_id {
        out.insert("user_id".into(), id.into());
    }
    if let Some(f) = entry {
        let num = |t: &str| t.parse::<i64>().map(Value::from).unwrap_or(Value::Null);
        out.insert("user_uid".into(), num(f[2]));
        out.insert("user_gid".into(), num(f[3]));
        out.insert("user_gecos".into(), f[4].into());
        out.insert("user_dir".into(), f[5].into());
        out.insert("user_shell".into(), f[6].into());
    }
    if let (Some(real), Some(effective)) = (uids.first(), uids.get(1)) {
        out.insert("real_user_id".into(), (*real).into());
        out.insert("effective_user_id".into(), (*effective).into());
    }
    if let (Some(real), Some(effective)) = (gids.first(), gids.get(1)) {
        out.insert("real_group_id".into(), (*real).into());
        out.insert("effective_group_id".into(), (*effective).into());
    }
    out
}

/// The shell's exported variables, from `export -p` in dash's
/// (`export NAME='v'`) or bash's (`declare -x NAME="v"`) form.
fn exported(s: &Sections) -> Map<String, Value> {
    let text = s.lines("env").join("\n");
    let mut out = Map::new();
    let mut rest = text.as_str();
    loop {
        rest = rest.trim_start();
        let Some(after) = rest
            .strip_prefix("export ")
            .or_else(|| rest.strip_prefix("declare -x "))
        else {
            break;
        };
        let name_end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_end];
        let mut tail = &after[name_end..];
        let mut value = String::new();
        if let Some(v) = tail.strip_prefix('=') {
            tail = v;
            // A value is a run of quoted and unquoted pieces up to a
            // newline outside quotes.
            let mut chars = tail.char_indices().peekable();
            let mut end = tail.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\'' => {
                        for (_, q) in chars.by_ref() {
                            if q == '\'' {
                                break;
                            }
                            value.push(q);
                        }
                    }
                    '"' => {
                        while let Some((_, q)) = chars.next() {
                            match q {
                                '"' => break,
                                '\\' => {
                                    if let Some((_, e)) = chars.next() {
                                        if !matches!(e, '"' | '\\' | '$' | '`') {
                                            value.push('\\');
                                        }
                                        value.push(e);
                                    }
                                }
                                other => value.push(other),
                            }
                        }
                    }
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            value.push(e);
                        }
                    }
                    '\n' => {
                        end = i;
                        break;
                    }
                    other => value.push(other),
                }
            }
            tail = &tail[end.min(tail.len())..];
        } else {
            // Exported but unset: Python's `os.environ` does not have it.
            rest = tail;
            continue;
        }
        if !name.is_empty() {
            out.insert(name.to_string(), value.into());
        }
        rest = tail;
    }
    out
}

/// `env`: the environment the gathering shell runs with.
pub(super) fn env(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("env".into(), Value::Object(exported(s)));
    out
}

/// `date_time`, from one `date` call: local fields as `date` prints them,
/// UTC ones computed from the epoch.
pub(super) fn date_time(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(line) = s.text("date") else {
        return out;
    };
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() < 13 {
        return out;
    }
    let (epoch, nanos) = (w[0], w[1]);
    let micros = nanos.get(0..6).unwrap_or("000000");
    let (year, month, day, hour, minute, second) = (w[2], w[3], w[4], w[5], w[6], w[7]);
    let Ok(secs) = epoch.parse::<i64>() else {
        return out;
    };
    let (uy, um, ud, uh, umi, us) = utc_fields(secs);
    let utc = format!("{uy:04}-{um:02}-{ud:02}T{uh:02}:{umi:02}:{us:02}");
    let fields = json!({
        "year": year,
        "month": month,
        "weekday": w[8],
        "weekday_number": w[9],
        "weeknumber": w[10],
        "day": day,
        "hour": hour,
        "minute": minute,
        "second": second,
        "epoch": epoch,
        "epoch_int": epoch,
        "date": format!("{year}-{month}-{day}"),
        "time": format!("{hour}:{minute}:{second}"),
        "iso8601_micro": format!("{utc}.{micros}Z"),
        "iso8601": format!("{utc}Z"),
        "iso8601_basic": format!("{year}{month}{day}T{hour}{minute}{second}{micros}"),
        "iso8601_basic_short": format!("{year}{month}{day}T{hour}{minute}{second}"),
        "tz": w[11],
        "tz_dst": w[11],
        "tz_offset": w[12],
    });
    out.insert("date_time".into(), fields);
    out
}

/// The UTC calendar fields of a Unix time (days from the civil calendar
/// algorithm of Howard Hinnant).
fn utc_fields(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `dns`: name servers, domain, search list, sort list and options of
/// `/etc/resolv.conf`.
pub(super) fn dns(s: &Sections) -> Map<String, Value> {
    let mut dns = Map::new();
    for line in s.lines("resolv") {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((key, rest)) = words.split_first() else {
            continue;
        };
        match *key {
            "nameserver" => {
                if let Some(server) = rest.first() {
                    let list = dns
                        .entry("nameservers")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(items) = list {
                        items.push((*server).into());
                    }
                }
            }
            "domain" => {
                if let Some(domain) = rest.first() {
                    dns.insert("domain".into(), (*domain).into());
                }
            }
            "search" | "sortlist" => {
                let list: Vec<Value> = rest.iter().map(|w| (*w).into()).collect();
                dns.insert((*key).to_string(), list.into());
            }
            "options" => {
                let options = dns
                    .entry("options")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = options {
                    for option in rest {
                        match option.split_once(':') {
                            Some((k, v)) => map.insert(k.into(), v.into()),
                            None => map.insert((*option).into(), Value::Bool(true)),
                        };
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Map::new();
    out.insert("dns".into(), Value::Object(dns));
    out
}

/// The package managers Ansible recognises, by the file that shows them,
/// in its order (a later one found wins).
const PKG_MGRS: &[(&str, &str)] = &[
    ("/usr/bin/rpm-ostree", "atomic_container"),
    ("/usr/bin/yum", "yum"),
    ("/usr/bin/dnf", "dnf"),
    ("/usr/bin/apt-get", "apt"),
    ("/usr/bin/zypper", "zypper"),
    ("/usr/sbin/urpmi", "urpmi"),
    ("/usr/bin/pacman", "pacman"),
    ("/bin/opkg", "opkg"),
    ("/sbin/apk", "apk"),
    ("/usr/bin/emerge", "portage"),
    ("/usr/bin/xbps-install", "xbps"),
];

/// `pkg_mgr`, with Ansible's family rules (Debian is always apt; old Red
/// Hat releases use yum).
pub(super) fn pkg_mgr(s: &Sections, distribution: &Map<String, Value>) -> Map<String, Value> {
    let paths = s.lines("paths");
    let exists = |p: &str| {
        paths
            .iter()
            .any(|l| l.trim_end_matches('/') == p.trim_end_matches('/'))
    };
    let mut name = "unknown";
    for (path, mgr) in PKG_MGRS {
        if exists(path) {
            name = mgr;
        }
    }
    let family = distribution.get("os_family").and_then(Value::as_str);
    let dist = distribution.get("distribution").and_then(Value::as_str);
    let major: i64 = distribution
        .get("distribution_major_version")
        .and_then(Value::as_str)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    match family {
        Some("RedHat") => {
            if exists("/run/ostree-booted") {
                name = "atomic_container";
            } else if name == "unknown" && exists("/usr/bin/microdnf") {
                name = "dnf";
            }
            let yum = exists("/usr/bin/yum");
            match dist {
                Some("Fedora") if major < 23 && yum => name = "yum",
                Some("Amazon") if major < 2022 && yum => name = "yum",
                Some("Fedora" | "Amazon") => {}
                _ if major < 8 => name = "yum",
                _ => {}
            }
        }
        Some("Debian") => name = "apt",
        _ => {}
    }
    let mut out = Map::new();
    out.insert("pkg_mgr".into(), name.into());
    out
}

/// `service_mgr`: what runs as PID 1, else what the system shows.
pub(super) fn service_mgr(s: &Sections, platform: &Map<String, Value>) -> Map<String, Value> {
    let exists = |p: &str| s.lines("paths").iter().any(|l| l == p);
    let bin = |b: &str| s.lines("bins").iter().any(|l| l == b);
    let proc_1 = s
        .text("proc1")
        .map(|p| p.rsplit('/').next().unwrap_or(&p).trim().to_string())
        .filter(|p| !p.is_empty() && p != "COMMAND" && p != "init" && !p.ends_with("sh"));
    let name = match proc_1 {
        Some(p) => match p.as_str() {
            "procd" => "openwrt_init".to_string(),
            "runit-init" => "runit".to_string(),
            "svscan" => "svc".to_string(),
            "openrc-init" => "openrc".to_string(),
            _ => p,
        },
        None if platform.get("system").and_then(Value::as_str) == Some("Linux") => {
            let systemd = bin("systemctl")
                && [
                    "/run/systemd/system/",
                    "/dev/.run/systemd/",
                    "/dev/.systemd/",
                ]
                .iter()
                .any(|c| exists(c));
            if systemd {
                "systemd"
            } else if bin("initctl") && exists("/etc/init/") {
                "upstart"
            } else if exists("/sbin/openrc") {
                "openrc"
            } else if exists("/etc/init.d/") {
                "sysvinit"
            } else {
                "service"
            }
            .to_string()
        }
        None => "service".to_string(),
    };
    let mut out = Map::new();
    out.insert("service_mgr".into(), name.into());
    out
}

/// `python`: the interpreter Ansible's discovery would pick on the host
/// (the first of `python3.14` ... `python3.8`, `/usr/bin/python3`), with
/// the version its name tells. dtrplay runs no Python on the host, so the
/// micro version and build details are not reported.
pub(super) fn python(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(executable) = s.lines("python").first().map(|l| l.trim().to_string()) else {
        return out;
    };
    let file = executable.rsplit('/').next().unwrap_or(&executable);
    let mut python = json!({"executable": executable, "type": "cpython"});
    if let Some((major, minor)) = file
        .strip_prefix("python")
        .and_then(|v| v.split_once('.'))
        .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
    {
        python["version"] = json!({"major": major, "minor": minor});
    }
    out.insert("python".into(), python);
    out
}

/// `fips`: whether the kernel runs in FIPS mode.
pub(super) fn fips(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "fips".into(),
        (s.text("fips").as_deref() == Some("1")).into(),
    );
    out
}

/// `apparmor`: `{"status": "enabled" | "disabled"}`.
pub(super) fn apparmor(s: &Sections) -> Map<String, Value> {
    let status = if s.text("apparmor").is_some() {
        "enabled"
    } else {
        "disabled"
    };
    let mut out = Map::new();
    out.insert("apparmor".into(), json!({ "status": status }));
    out
}

/// `cmdline` and `proc_cmdline`: the kernel command line as a mapping
/// (`key=value`, or `word: true`); `proc_cmdline` keeps repeated keys as
/// lists.
pub(super) fn cmdline(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(text) = s.text("cmdline") else {
        return out;
    };
    let mut cmdline = Map::new();
    let mut proc = Map::new();
    for word in text.split_whitespace().map(str::to_string) {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::from(v)),
            None => (word.clone(), Value::Bool(true)),
        };
        cmdline.insert(key.clone(), value.clone());
        match proc.get_mut(&key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => *existing = Value::Array(vec![existing.clone(), value]),
            None => {
                proc.insert(key, value);
            }
        }
    }
    out.insert("cmdline".into(), Value::Object(cmdline));
    out.insert("proc_cmdline".into(), Value::Object(proc));
    out
}

/// `ssh_host_key_<type>_public` and `_keytype` for each host key.
pub(super) fn ssh_pub_keys(s: &Sections) -> Map<String, Value> {
    let mut out = Map::new();
    for (kind, lines) in s.with_prefix("sshkey ") {
        let Some(line) = lines.first() else { continue };
        let mut words = line.split_whitespace();
        if let (Some(keytype), Some(key)) = (words.next(), words.next()) {
            out.insert(format!("ssh_host_key_{kind}_public"), key.into());
            out.insert(
                format!("ssh_host_key_{kind}_public_keytype"),
                keytype.into(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_fields_match_the_calendar() {
        assert_eq!(utc_fields(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_fields(1_796_161_334), (2026, 12, 1, 21, 42, 14));
        assert_eq!(utc_fields(951_782_400), (2000, 2, 29, 0, 0, 0));
    }

    #[test]
    fn fqdn_follows_etc_hosts() {
        let hosts = [
            "127.0.0.1 localhost".to_string(),
            "127.0.0.1 vm".to_string(),
        ];
        assert_eq!(fqdn("vm", &hosts), "localhost");
        let hosts = ["10.0.0.5 web1.example.com web1".to_string()];
        assert_eq!(fqdn("web1", &hosts), "web1.example.com");
        assert_eq!(fqdn("other", &hosts), "other");
    }
}
