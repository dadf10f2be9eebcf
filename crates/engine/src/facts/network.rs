//! The `network` subset on Linux: interfaces, their addresses, and the
//! default IPv4 and IPv6 routes, in the shapes of ansible-core's Linux
//! network collector (`ansible_eth0`, `ansible_default_ipv4`, ...).
//!
//! Interfaces come from `/sys/class/net`, IPv6 addresses from
//! `/proc/net/if_inet6`, IPv4 addresses from `ip -o -4 addr`, and the
//! default routes from `/proc/net/route` and `/proc/net/ipv6_route`.
//! Ansible asks `ip route get` for the source address of the default route;
//! here it is the interface's primary address in the gateway's network
//! (else its first one), which is what the kernel picks without policy
//! routing. Interface names are listed sorted.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::Sections;

/// Ansible's names for `/sys/class/net/<if>/type` values.
fn interface_type(code: &str) -> &'static str {
    match code {
        "1" => "ether",
        "32" => "infiniband",
        "512" => "ppp",
        "772" => "loopback",
        "65534" => "tunnel",
        _ => "unknown",
    }
}

struct V4 {
    address: Ipv4Addr,
    prefix: u8,
    broadcast: String,
    label: String,
    secondary: bool,
}

impl V4 {
    fn netmask(&self) -> Ipv4Addr {
        let bits = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix.min(32)))
        };
        Ipv4Addr::from(bits)
    }

    fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & u32::from(self.netmask()))
    }

    fn json(&self) -> Value {
        json!({
            "address": self.address.to_string(),
            "broadcast": self.broadcast,
            "netmask": self.netmask().to_string(),
            "network": self.network().to_string(),
            "prefix": self.prefix.to_string(),
        })
    }
}

/// `1: lo    inet 127.0.0.1/8 scope host lo\ valid_lft ...`
fn ipv4_addresses(s: &Sections) -> Vec<(String, V4)> {
    let mut out = Vec::new();
    for line in s.lines("inet") {
        let line = line.split('\\').next().unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "inet") else {
            continue;
        };
        let Some(device) = words.get(1) else { continue };
        let Some((addr, prefix)) = words.get(at + 1).and_then(|w| w.split_once('/')) else {
            continue;
        };
        let (Ok(address), Ok(prefix)) = (addr.parse::<Ipv4Addr>(), prefix.parse::<u8>()) else {
            continue;
        };
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1))
                .map(|w| w.to_string())
        };
        let label = words.last().map(|w| w.to_string()).unwrap_or_default();
        out.push((
            device.to_string(),
            V4 {
                address,
                prefix,
                broadcast: after("brd").unwrap_or_default(),
                label,
                secondary: words.contains(&"secondary"),
            },
        ));
    }
    out
}

/// `/proc/net/if_inet6`: `fe800000000000000000000000000001 02 40 20 80 eth0`.
fn ipv6_addresses(s: &Sections) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for line in s.lines("inet6") {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 6 {
            continue;
        }
        let Some(address) = hex_ipv6(w[0]) else {
            continue;
        };
        let prefix = u8::from_str_radix(w[2], 16).unwrap_or(0);
        let scope = match u8::from_str_radix(w[3], 16).unwrap_or(0) & 0xf0 {
            0x00 => "global".to_string(),
            0x10 => "host".to_string(),
            0x20 => "link".to_string(),
            0x40 => "site".to_string(),
            other => other.to_string(),
        };
        out.push((
            w[5].to_string(),
            json!({"address": address.to_string(), "prefix": prefix.to_string(), "scope": scope}),
        ));
    }
    out
}

fn hex_ipv6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
}

/// The default IPv4 route: (interface, gateway), lowest metric first.
fn default_v4_route(s: &Sections) -> Option<(String, Ipv4Addr)> {
    let mut best: Option<(u64, String, Ipv4Addr)> = None;
    for line in s.lines("route").iter().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 8 || w[1] != "00000000" || w[7] != "00000000" {
            continue;
        }
        let Ok(gw) = u32::from_str_radix(w[2], 16) else {
            continue;
        };
        let metric = w[6].parse().unwrap_or(u64::MAX);
        let gateway = Ipv4Addr::from(gw.to_le_bytes());
        if best.as_ref().is_none_or(|(m, _, _)| metric < *m) {
            best = Some((metric, w[0].to_string(), gateway));
        }
    }
    best.map(|(_, i, g)| (i, g))
}

/// The default IPv6 route: (interface, gateway).
fn default_v6_route(s: &Sections) -> Option<(String, Ipv6Addr)> {
    let mut best: Option<(u64, String, Ipv6Addr)> = None;
    for line in s.lines("route6") {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 10 || w[1] != "00" || w[0].chars().any(|c| c != '0') || w[9] == "lo" {
            continue;
        }
        let flags = u32::from_str_radix(w[8], 16).unwrap_or(0);
        // RTF_REJECT marks an unreachable route.
        if flags & 0x0200 != 0 {
            continue;
        }
        let Some(gateway) = hex_ipv6(w[4]) else {
            continue;
        };
        let metric = u64::from_str_radix(w[5], 16).unwrap_or(u64::MAX);
        if best.as_ref().is_none_or(|(m, _, _)| metric < *m) {
            best = Some((metric, w[9].to_string(), gateway));
        }
    }
    best.map(|(_, i, g)| (i, g))
}

/// The fact name of an interface: `ansible_` plus its name with `-`
/// (and other characters a variable cannot hold) as `_`.
fn fact_name(device: &str) -> String {
    device
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

pub(super) fn facts(s: &Sections) -> Map<String, Value> {
    let v4 = ipv4_addresses(s);
    let v6 = ipv6_addresses(s);
    let mut out = Map::new();
    let mut names: Vec<String> = Vec::new();
    let mut all_v4 = Vec::new();
    let mut all_v6 = Vec::new();
    let mut details: Map<String, Value> = Map::new();
    for (device, lines) in s.with_prefix("iface ") {
        let attr = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .map(str::to_string)
        };
        let mut iface = json!({"device": device});
        if let Some(mac) = attr("address").filter(|m| !m.is_empty() && m != "00:00:00:00:00:00") {
            iface["macaddress"] = mac.into();
        }
        if let Some(mtu) = attr("mtu").and_then(|m| m.parse::<i64>().ok()) {
            iface["mtu"] = mtu.into();
        }
        if let Some(state) = attr("operstate") {
            iface["active"] = (state != "down").into();
        }
        let mut kind = attr("type").map(|t| interface_type(&t).to_string());
        if attr("bridge").is_some() {
            kind = Some("bridge".into());
        } else if attr("bond").is_some() {
            kind = Some("bonding".into());
        }
        if let Some(kind) = kind {
            iface["type"] = kind.into();
        }
        if let Some(flags) =
            attr("flags").and_then(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        {
            iface["promisc"] = (flags & 0x100 != 0).into();
        }
        let mut mine = v4.iter().filter(|(d, _)| d == device).map(|(_, a)| a);
        if let Some(primary) = mine.next() {
            iface["ipv4"] = primary.json();
            let secondaries: Vec<Value> = mine.map(V4::json).collect();
            if !secondaries.is_empty() {
                iface["ipv4_secondaries"] = secondaries.into();
            }
        }
        let six: Vec<Value> = v6
            .iter()
            .filter(|(d, _)| d == device)
            .map(|(_, a)| a.clone())
            .collect();
        if !six.is_empty() {
            iface["ipv6"] = six.into();
        }
        names.push(device.to_string());
        details.insert(device.to_string(), iface);
    }
    for (_, a) in &v4 {
        if !a.address.is_loopback() {
            all_v4.push(Value::from(a.address.to_string()));
        }
    }
    for (_, a) in &v6 {
        if a["address"] != "::1" {
            all_v6.push(a["address"].clone());
        }
    }
    let mut default_v4 = Map::new();
    if let Some((device, gateway)) = default_v4_route(s) {
        let mine: Vec<&V4> = v4
            .iter()
            .filter(|(d, _)| *d == device)
            .map(|(_, a)| a)
            .collect();
        let primary = mine
            .iter()
            .find(|a| !a.secondary && contains(a, gateway))
            .or_else(|| mine.first())
            .copied();
        if let Some(a) = primary {
            if let Value::Object(map) = a.json() {
                default_v4.extend(map);
            }
            default_v4.insert("alias".into(), a.label.clone().into());
        }
        default_v4.insert("gateway".into(), gateway.to_string().into());
        default_v4.insert("interface".into(), device.clone().into());
        copy_link(&details, &device, &mut default_v4);
    }
    let mut default_v6 = Map::new();
    if let Some((device, gateway)) = default_v6_route(s) {
        let global = v6
            .iter()
            .find(|(d, a)| *d == device && a["scope"] == "global")
            .or_else(|| v6.iter().find(|(d, _)| *d == device));
        if let Some((_, Value::Object(a))) = global {
            default_v6.extend(a.clone());
        }
        default_v6.insert("gateway".into(), gateway.to_string().into());
        default_v6.insert("interface".into(), device.clone().into());
        copy_link(&details, &device, &mut default_v6);
    }
    for (device, iface) in details {
        out.insert(fact_name(&device), iface);
    }
    out.insert("interfaces".into(), names.into());
    out.insert("all_ipv4_addresses".into(), all_v4.into());
    out.insert("all_ipv6_addresses".into(), all_v6.into());
    out.insert("default_ipv4".into(), Value::Object(default_v4));
    out.insert("default_ipv6".into(), Value::Object(default_v6));
    out
}

fn contains(a: &V4, ip: Ipv4Addr) -> bool {
    u32::from(ip) & u32::from(a.netmask()) == u32::from(a.network())
}

/// The link facts a default route shows of its interface.
fn copy_link(details: &Map<String, Value>, device: &str, into: &mut Map<String, Value>) {
    if let Some(iface) = details.get(device) {
        for key in ["macaddress", "mtu", "type"] {
            if let Some(v) = iface.get(key) {
                into.insert(key.into(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_gateways_are_little_endian_hex() {
        let s = Sections::parse(concat!(
            "\u{1e}route\n",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n",
            "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
        ));
        assert_eq!(
            default_v4_route(&s),
            Some(("eth0".into(), Ipv4Addr::new(192, 0, 2, 1)))
        );
    }

    #[test]
    fn ipv6_addresses_are_compressed() {
        assert_eq!(
            hex_ipv6("fe8000000000000000fc00fffe000001").map(|a| a.to_string()),
            Some("fe80::fc:ff:fe00:1".to_string())
        );
    }
}
