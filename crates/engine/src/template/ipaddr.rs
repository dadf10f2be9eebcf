//! The `ipaddr` filter family of `ansible.utils` (`ipaddr`, `ipv4`, `ipv6`,
//! `ipwrap`), built on `std::net` so no Python `netaddr` is needed.
//!
//! The filters follow ansible.utils: a valid input gives the queried part,
//! an invalid one gives `false`, and a list is filtered element-wise, with
//! the elements whose answer is false dropped, so the filters chain.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::filter_input::require;

/// Registers the filters under their short and collection names.
pub(crate) fn register(env: &mut Environment<'static>) {
    for name in ["ipaddr", "ansible.utils.ipaddr", "ansible.netcommon.ipaddr"] {
        env.add_filter(name, |value: &Value, query: Option<Value>| {
            filter(value, query, None, "ipaddr")
        });
    }
    for name in ["ipv4", "ansible.utils.ipv4", "ansible.netcommon.ipv4"] {
        env.add_filter(name, |value: &Value, query: Option<Value>| {
            filter(value, query, Some(4), "ipv4")
        });
    }
    for name in ["ipv6", "ansible.utils.ipv6", "ansible.netcommon.ipv6"] {
        env.add_filter(name, |value: &Value, query: Option<Value>| {
            filter(value, query, Some(6), "ipv6")
        });
    }
    for name in ["ipwrap", "ansible.utils.ipwrap", "ansible.netcommon.ipwrap"] {
        env.add_filter(name, |value: &Value| ipwrap(value));
    }
}

/// An address with its prefix length, like netaddr's `IPNetwork`: the host
/// bits are kept (`192.0.2.5/24` is not the same as `192.0.2.0/24`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Net {
    ip: u128,
    prefix: u32,
    v6: bool,
    /// Whether the input named a prefix or netmask (`/24`), which makes
    /// ansible.utils treat it as a network rather than an address.
    with_prefix: bool,
}

impl Net {
    fn bits(self) -> u32 {
        if self.v6 { 128 } else { 32 }
    }

    fn mask(self) -> u128 {
        let all = if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        };
        if self.prefix == 0 {
            0
        } else {
            all & !((1u128 << (self.bits() - self.prefix)) - 1)
        }
    }

    fn network(self) -> u128 {
        self.ip & self.mask()
    }

    fn broadcast(self) -> u128 {
        let all = if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        };
        self.network() | (all & !self.mask())
    }

    /// How many addresses the network holds; a /0 IPv6 network holds more
    /// than a `u128` can count, which is saturated.
    fn size(self) -> u128 {
        let host_bits = self.bits() - self.prefix;
        if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        }
    }

    fn show(self, ip: u128) -> String {
        if self.v6 {
            Ipv6Addr::from(ip).to_string()
        } else {
            Ipv4Addr::from(ip as u32).to_string()
        }
    }

    fn address(self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.ip))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.ip as u32))
        }
    }

    /// Whether the address is a usable host of its network: the network
    /// and broadcast addresses of an IPv4 network larger than two are not.
    fn is_host(self) -> bool {
        self.size() <= 2 || self.v6 || (self.ip != self.network() && self.ip != self.broadcast())
    }

    fn is_loopback(self) -> bool {
        self.address().is_loopback()
    }

    fn is_multicast(self) -> bool {
        self.address().is_multicast()
    }

    fn is_link_local(self) -> bool {
        match self.address() {
            IpAddr::V4(a) => a.is_link_local(),
            IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        }
    }

    /// The private ranges: RFC 1918, shared address space (100.64.0.0/10)
    /// and IPv6 unique local addresses (fc00::/7).
    fn is_private(self) -> bool {
        match self.address() {
            IpAddr::V4(a) => {
                let [b0, b1, ..] = a.octets();
                a.is_private() || (b0 == 100 && (64..128).contains(&b1))
            }
            IpAddr::V6(a) => a.segments()[0] & 0xfe00 == 0xfc00,
        }
    }

    /// Reserved, documentation and unspecified addresses, which are neither
    /// private nor public.
    fn is_reserved(self) -> bool {
        match self.address() {
            IpAddr::V4(a) => {
                let [b0, b1, b2, _] = a.octets();
                a.is_unspecified()
                    || a.is_broadcast()
                    || b0 >= 240
                    || b0 == 0
                    || (b0, b1, b2) == (192, 0, 2)
                    || (b0, b1, b2) == (198, 51, 100)
                    || (b0, b1, b2) == (203, 0, 113)
            }
            IpAddr::V6(a) => a.is_unspecified() || a.segments()[..2] == [0x2001, 0x0db8],
        }
    }
}

/// Parses `addr`, `addr/prefix` or `addr/netmask` (IPv4), as netaddr's
/// `IPNetwork` does; integers are IPv4 (or IPv6 when too large) addresses.
fn parse(value: &Value) -> Option<Net> {
    match value.kind() {
        ValueKind::String => parse_text(value.as_str()?.trim()),
        ValueKind::Number => {
            let n = u128::try_from(value.as_i64()?).ok()?;
            let v6 = n > u128::from(u32::MAX);
            Some(Net {
                ip: n,
                prefix: if v6 { 128 } else { 32 },
                v6,
                with_prefix: false,
            })
        }
        _ => None,
    }
}

fn parse_text(text: &str) -> Option<Net> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let (bits, v6, ip) = match ip {
        IpAddr::V4(a) => (32, false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (128, true, u128::from(a)),
    };
    let prefix_len = match prefix {
        None => bits,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = p.parse().ok()?;
            (n <= bits).then_some(n)?
        }
        Some(p) if !v6 => netmask_prefix(p.parse::<Ipv4Addr>().ok()?)?,
        Some(_) => return None,
    };
    Some(Net {
        ip,
        prefix: prefix_len,
        v6,
        with_prefix: prefix.is_some(),
    })
}

/// The prefix length of a netmask (`255.255.255.0` → 24) or of a
/// host mask (`0.0.0.255` → 24), as netaddr accepts both.
fn netmask_prefix(mask: Ipv4Addr) -> Option<u32> {
    let m = u32::from(mask);
    if m.leading_ones() + m.trailing_zeros() == 32 {
        Some(m.leading_ones())
    } else if m.leading_zeros() + m.trailing_ones() == 32 {
        Some(m.leading_zeros())
    } else {
        None
    }
}

fn filter(
    value: &Value,
    query: Option<Value>,
    version: Option<u8>,
    name: &str,
) -> Result<Value, Error> {
    require(value, name)?;
    let query = match &query {
        None => String::new(),
        Some(q) if q.is_none() || q.is_undefined() => String::new(),
        Some(q) => q.as_str().map_or_else(|| q.to_string(), str::to_string),
    };
    if matches!(value.kind(), ValueKind::Seq) {
        let mut out = Vec::new();
        for element in value.try_iter()? {
            let answer = one(&element, &query, version, name)?;
            if answer.is_true() {
                out.push(answer);
            }
        }
        return Ok(Value::from(out));
    }
    one(value, &query, version, name)
}

/// The answer for one input value.
fn one(value: &Value, query: &str, version: Option<u8>, name: &str) -> Result<Value, Error> {
    // A boolean is never an address, though Python would count it as 0 or 1.
    if matches!(value.kind(), ValueKind::Bool) {
        return Ok(Value::from(false));
    }
    let Some(net) = parse(value) else {
        return Ok(Value::from(false));
    };
    match version {
        Some(4) if net.v6 => return Ok(Value::from(false)),
        Some(6) if !net.v6 => return Ok(Value::from(false)),
        _ => {}
    }
    let same = || Ok(value.clone());
    let no = || Ok(Value::from(false));
    let text = |s: String| Ok(Value::from(s));
    let with_prefix = |ip: u128| format!("{}/{}", net.show(ip), net.prefix);
    if let Ok(index) = query.parse::<i128>() {
        return nth(net, index);
    }
    match query {
        "bool" => Ok(Value::from(true)),
        "" => same(),
        "address" => {
            if net.is_host() {
                text(net.show(net.ip))
            } else {
                no()
            }
        }
        "host" => {
            if net.is_host() {
                text(with_prefix(net.ip))
            } else {
                no()
            }
        }
        "net" => {
            if net.with_prefix && net.ip == net.network() && net.size() > 1 {
                text(with_prefix(net.network()))
            } else {
                no()
            }
        }
        "network" => text(net.show(net.network())),
        "netmask" => text(net.show(net.mask())),
        "hostmask" => text(net.show(net.broadcast() & !net.mask())),
        "prefix" => Ok(Value::from(net.prefix)),
        "broadcast" => {
            if net.size() > 2 && !net.v6 {
                text(net.show(net.broadcast()))
            } else {
                no()
            }
        }
        "cidr" | "subnet" => text(with_prefix(net.network())),
        "size" => Ok(u64::try_from(net.size())
            .map_or_else(|_| Value::from(net.size().to_string()), Value::from)),
        "first_usable" | "last_usable" => usable(net, query == "first_usable"),
        "version" => Ok(Value::from(if net.v6 { 6 } else { 4 })),
        "4" | "ipv4" => {
            if net.v6 {
                no()
            } else {
                same()
            }
        }
        "6" | "ipv6" => {
            if net.v6 {
                same()
            } else {
                no()
            }
        }
        "loopback" => keep(value, net.is_loopback()),
        "multicast" => keep(value, net.is_multicast()),
        "link-local" => keep(value, net.is_link_local()),
        "private" => keep(value, net.is_private()),
        "unicast" => keep(value, !net.is_multicast()),
        "public" => keep(
            value,
            !net.is_private()
                && !net.is_loopback()
                && !net.is_multicast()
                && !net.is_link_local()
                && !net.is_reserved(),
        ),
        other => match parse_text(other) {
            // A network as the query keeps the inputs inside it.
            Some(outer) if outer.v6 == net.v6 && outer.prefix <= net.prefix => {
                let inside = Net {
                    ip: net.ip,
                    ..outer
                }
                .network()
                    == outer.network();
                keep(value, inside)
            }
            Some(_) => no(),
            None => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{name}: unknown query `{other}`; use one of address, host, network, \
                     netmask, prefix, broadcast, cidr, size, public, private, loopback, bool, \
                     an index, or a network to test membership"
                ),
            )),
        },
    }
}

fn keep(value: &Value, yes: bool) -> Result<Value, Error> {
    Ok(if yes {
        value.clone()
    } else {
        Value::from(false)
    })
}

/// The nth address of the network, with the prefix (`192.0.2.0/24 | ipaddr(5)`
/// is `192.0.2.5/24`); a negative index counts from the end, and an
/// address without a prefix answers itself, as in ansible.utils.
fn nth(net: Net, index: i128) -> Result<Value, Error> {
    if net.size() == 1 {
        return Ok(Value::from(if net.with_prefix {
            format!("{}/{}", net.show(net.ip), net.prefix)
        } else {
            net.show(net.ip)
        }));
    }
    let size = i128::try_from(net.size()).unwrap_or(i128::MAX);
    let offset = if index < 0 { size + index } else { index };
    if !(0..size).contains(&offset) {
        return Ok(Value::from(false));
    }
    let ip = net.network() + offset as u128;
    Ok(Value::from(format!("{}/{}", net.show(ip), net.prefix)))
}

fn usable(net: Net, first: bool) -> Result<Value, Error> {
    if net.size() <= 1 {
        return Ok(Value::from(false));
    }
    let (low, high) = if net.size() == 2 || net.v6 {
        (net.network(), net.broadcast())
    } else {
        (net.network() + 1, net.broadcast() - 1)
    };
    Ok(Value::from(net.show(if first { low } else { high })))
}

/// Wraps IPv6 addresses in brackets (`[2001:db8::1]`) for URLs and
/// `host:port`; everything else passes through unchanged.
fn ipwrap(value: &Value) -> Result<Value, Error> {
    require(value, "ipwrap")?;
    if matches!(value.kind(), ValueKind::Seq) {
        let out: Vec<Value> = value
            .try_iter()?
            .map(|element| wrap_one(&element))
            .collect();
        return Ok(Value::from(out));
    }
    Ok(wrap_one(value))
}

fn wrap_one(value: &Value) -> Value {
    match (value.as_str(), parse(value)) {
        (Some(text), Some(net)) if net.v6 => Value::from(format!("[{}]", text.trim())),
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(input: &str, query: &str) -> String {
        let q = if query.is_empty() {
            None
        } else {
            Some(Value::from(query))
        };
        filter(&Value::from(input), q, None, "ipaddr")
            .unwrap()
            .to_string()
    }

    #[test]
    fn queries_answer_like_ansible_utils() {
        assert_eq!(ask("192.0.2.5/24", "address"), "192.0.2.5");
        assert_eq!(ask("192.0.2.5/24", "network"), "192.0.2.0");
        assert_eq!(ask("192.0.2.5/24", "netmask"), "255.255.255.0");
        assert_eq!(ask("192.0.2.5/24", "prefix"), "24");
        assert_eq!(ask("192.0.2.5/24", "broadcast"), "192.0.2.255");
        assert_eq!(ask("192.0.2.5/24", "host"), "192.0.2.5/24");
        assert_eq!(ask("192.0.2.5/24", "cidr"), "192.0.2.0/24");
        assert_eq!(ask("192.0.2.5/24", "size"), "256");
        assert_eq!(ask("192.0.2.0/24", "5"), "192.0.2.5/24");
        assert_eq!(ask("192.0.2.0/24", "-1"), "192.0.2.255/24");
        assert_eq!(ask("192.0.2.0/24", "address"), "False");
        assert_eq!(ask("10.1.2.3", ""), "10.1.2.3");
        assert_eq!(ask("10.1.2.3", "private"), "10.1.2.3");
        assert_eq!(ask("10.1.2.3", "public"), "False");
        assert_eq!(ask("8.8.8.8", "public"), "8.8.8.8");
        assert_eq!(ask("127.0.0.1", "loopback"), "127.0.0.1");
        assert_eq!(ask("10.0.0.1/255.255.0.0", "prefix"), "16");
        assert_eq!(ask("2001:db8::1/64", "network"), "2001:db8::");
        assert_eq!(ask("2001:db8::1/64", "address"), "2001:db8::1");
        assert_eq!(ask("not an address", ""), "False");
        assert_eq!(ask("192.168.1.300", "bool"), "False");
        assert_eq!(ask("192.168.1.3", "bool"), "True");
        assert_eq!(ask("192.168.1.3", "192.168.1.0/30"), "192.168.1.3");
        assert_eq!(ask("192.168.1.9", "192.168.1.0/30"), "False");
    }

    #[test]
    fn lists_are_filtered_element_wise() {
        let list = Value::from(vec!["192.0.2.1", "nope", "192.0.2.9/24"]);
        let out = filter(&list, Some(Value::from("address")), None, "ipaddr").unwrap();
        assert_eq!(out.to_string(), "['192.0.2.1', '192.0.2.9']");
        let out = filter(&Value::from(vec!["::1", "10.0.0.1"]), None, Some(6), "ipv6");
        assert_eq!(out.unwrap().to_string(), "['::1']");
    }

    #[test]
    fn ipwrap_brackets_only_ipv6() {
        assert_eq!(wrap_one(&Value::from("::1")).to_string(), "[::1]");
        assert_eq!(wrap_one(&Value::from("10.0.0.1")).to_string(), "10.0.0.1");
        assert_eq!(wrap_one(&Value::from("host")).to_string(), "host");
    }
}
