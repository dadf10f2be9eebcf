//! The parts of zypper's `--xmlout` output that the `zypper` and
//! `zypper_repository` tasks read: the solvables of a transaction or a
//! search (with the element that holds each one, `to-install`,
//! `to-upgrade`, `to-remove`, ...), the error messages, and the
//! repositories of `zypper repos`. zypper writes this XML itself, one
//! element per line, with attributes in double quotes; a small reader of
//! exactly that is enough, where ansible-core's modules use Python's
//! minidom.

use std::collections::BTreeMap;

use regex::Regex;

/// One `<solvable>`: its attributes and the element it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solvable {
    pub group: String,
    pub name: String,
    pub edition: String,
    pub edition_old: String,
    pub status: String,
}

/// One `<repo>` of `zypper --xmlout repos`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repo {
    pub attrs: BTreeMap<String, String>,
    pub url: String,
}

/// What one zypper run printed, read.
#[derive(Debug, Default)]
pub struct Stream {
    pub solvables: Vec<Solvable>,
    pub messages: Vec<String>,
    pub repos: Vec<Repo>,
}

/// The five entities XML predefines, and numeric character references.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

fn attributes(text: &str) -> BTreeMap<String, String> {
    let attr = Regex::new(r#"([A-Za-z_][A-Za-z0-9_.-]*)="([^"]*)""#).expect("attribute pattern");
    attr.captures_iter(text)
        .map(|c| (c[1].to_string(), unescape(&c[2])))
        .collect()
}

/// Reads zypper's XML: every tag in order, the open elements on a stack,
/// and the text of `<message>` and `<url>` elements.
pub fn parse(xml: &str) -> Stream {
    let tag = Regex::new(r"<(/?)([A-Za-z][A-Za-z0-9_-]*)([^>]*?)(/?)>").expect("tag pattern");
    let mut stream = Stream::default();
    let mut stack: Vec<String> = Vec::new();
    let mut text_from: Option<(String, usize)> = None;
    for caps in tag.captures_iter(xml) {
        let whole = caps.get(0).expect("match");
        let closing = !caps[1].is_empty();
        let name = caps[2].to_string();
        let empty = !caps[4].is_empty();
        if closing {
            if let Some((open, from)) = text_from.take() {
                if open == name {
                    let text = unescape(xml[from..whole.start()].trim());
                    match name.as_str() {
                        "message" => stream.messages.push(text),
                        "url" => {
                            if let Some(repo) = stream.repos.last_mut() {
                                repo.url = text;
                            }
                        }
                        _ => {}
                    }
                } else {
                    text_from = Some((open, from));
                }
            }
            if let Some(at) = stack.iter().rposition(|n| *n == name) {
                stack.truncate(at);
            }
            continue;
        }
        let attrs = attributes(&caps[3]);
        match name.as_str() {
            "solvable" => {
                let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
                stream.solvables.push(Solvable {
                    group: stack.last().cloned().unwrap_or_default(),
                    name: get("name"),
                    edition: get("edition"),
                    edition_old: get("edition-old"),
                    status: get("status"),
                });
            }
            "repo" => stream.repos.push(Repo {
                attrs,
                url: String::new(),
            }),
            "message" | "url" if !empty => text_from = Some((name.clone(), whole.end())),
            _ => {}
        }
        if !empty {
            stack.push(name);
        }
    }
    stream
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solvables_messages_and_repos_are_read() {
        let xml = "<?xml version='1.0'?>\n<stream>\n<install-summary>\n<to-upgrade>\n\
                   <solvable type=\"package\" name=\"a\" edition=\"2-1\" edition-old=\"1-1\" arch=\"noarch\">\n\
                   <description>x</description></solvable>\n</to-upgrade>\n</install-summary>\n\
                   <message type=\"error\">No provider of &apos;nope&apos; found.</message>\n\
                   <repo-list>\n<repo alias=\"local\" priority=\"99\" enabled=\"1\">\n<url>file:/srv/r</url>\n</repo>\n</repo-list>\n</stream>\n";
        let s = parse(xml);
        assert_eq!(s.solvables.len(), 1);
        assert_eq!(s.solvables[0].group, "to-upgrade");
        assert_eq!(s.solvables[0].edition_old, "1-1");
        assert_eq!(s.messages, ["No provider of 'nope' found."]);
        assert_eq!(s.repos[0].url, "file:/srv/r");
        assert_eq!(s.repos[0].attrs["priority"], "99");
    }
}
