//! Requirement strings (`name[extra] >=1.0,<2`) and PEP 440 version
//! ordering, enough to tell whether an installed version satisfies what a
//! task names, as Ansible's `Package.is_satisfied_by` does.

use std::cmp::Ordering;

/// A package name normalized as PEP 503 says: lowercase, every run of
/// `-`, `_` and `.` one `-`.
pub fn canonical_name(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A plain requirement: a name and its version specifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The canonical name.
    pub name: String,
    pub specifiers: Vec<(String, String)>,
}

/// Joins names that the comma-splitting of a list cut apart inside a
/// version specifier (`foo>=1,<2` arrives as `foo>=1` and `<2`), as
/// Ansible's `_recover_package_name` does.
pub fn recover_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let trimmed = name.trim();
        let continues = trimmed.starts_with(['<', '>', '=', '!', '~']);
        match out.last_mut() {
            Some(last) if continues => {
                last.push(',');
                last.push_str(trimmed);
            }
            _ if trimmed.is_empty() => {}
            _ => out.push(trimmed.to_string()),
        }
    }
    out
}

const OPERATORS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];

impl Requirement {
    /// Reads `text`, or `None` when it is not a plain requirement (a URL, a
    /// path, an option, or one with an environment marker), which only pip
    /// itself can judge.
    pub fn parse(text: &str) -> Option<Requirement> {
        let text = text.trim();
        if text.contains(['/', ';', '@']) || text.starts_with('-') {
            return None;
        }
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .unwrap_or(text.len());
        let name = &text[..end];
        if name.is_empty() {
            return None;
        }
        let mut rest = text[end..].trim_start();
        if let Some(after) = rest.strip_prefix('[') {
            rest = after.split_once(']')?.1.trim_start();
        }
        let mut specifiers = Vec::new();
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let op = OPERATORS.iter().find(|op| part.starts_with(*op))?;
            let version = part[op.len()..].trim();
            if version.is_empty() {
                return None;
            }
            specifiers.push((op.to_string(), version.to_string()));
        }
        Some(Requirement {
            name: canonical_name(name),
            specifiers,
        })
    }

    /// Whether `installed` meets every specifier.
    pub fn satisfied_by(&self, installed: &str) -> bool {
        let Some(have) = Version::parse(installed) else {
            // A version pip listed but PEP 440 cannot read (or none, for a
            // direct URL install): only a bare name accepts it.
            return self.specifiers.is_empty();
        };
        self.specifiers.iter().all(|(op, want)| {
            if op == "===" {
                return installed == want;
            }
            if let Some(prefix) = want.strip_suffix(".*") {
                let Some(p) = Version::parse(prefix) else {
                    return false;
                };
                let matches = have.epoch == p.epoch
                    && have.release.len() >= p.release.len()
                    && have.release[..p.release.len()] == p.release[..];
                return match op.as_str() {
                    "==" => matches,
                    "!=" => !matches,
                    _ => false,
                };
            }
            let Some(w) = Version::parse(want) else {
                return false;
            };
            let ord = have.cmp(&w);
            match op.as_str() {
                "==" => ord == Ordering::Equal,
                "!=" => ord != Ordering::Equal,
                "<=" => ord != Ordering::Greater,
                ">=" => ord != Ordering::Less,
                "<" => ord == Ordering::Less,
                ">" => ord == Ordering::Greater,
                "~=" => {
                    // `~=1.4.2` is `>=1.4.2, ==1.4.*`.
                    let n = w.release.len().saturating_sub(1).max(1);
                    ord != Ordering::Less
                        && have.epoch == w.epoch
                        && have.release.len() >= n
                        && have.release[..n] == w.release[..n]
                }
                _ => false,
            }
        })
    }
}

/// A PEP 440 version, reduced to what orders it; equal when PEP 440 says
/// so (`1.0` is `1.0.0`).
#[derive(Debug, Clone)]
pub struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// `(kind, number)`: 0 alpha, 1 beta, 2 release candidate.
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let lower = text.trim().to_ascii_lowercase();
        let mut s = lower.strip_prefix('v').unwrap_or(&lower);
        // The local part (`+ubuntu1`) does not order public versions.
        if let Some((public, _)) = s.split_once('+') {
            s = public;
        }
        let (epoch, s) = match s.split_once('!') {
            Some((e, rest)) => (e.parse().ok()?, rest),
            None => (0, s),
        };
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let release: Vec<u64> = s[..end]
            .trim_end_matches('.')
            .split('.')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        let mut v = Version {
            epoch,
            release,
            pre: None,
            post: None,
            dev: None,
        };
        let mut rest = &s[end..];
        let number = |r: &mut &str| -> u64 {
            let r2 = r.trim_start_matches(['.', '-', '_']);
            let end = r2.find(|c: char| !c.is_ascii_digit()).unwrap_or(r2.len());
            let n = r2[..end].parse().unwrap_or(0);
            *r = &r2[end..];
            n
        };
        while !rest.is_empty() {
            let r = rest.trim_start_matches(['.', '-', '_']);
            let word_end = r
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(r.len());
            let word = &r[..word_end];
            let mut after = &r[word_end..];
            match word {
                "a" | "alpha" => v.pre = Some((0, number(&mut after))),
                "b" | "beta" => v.pre = Some((1, number(&mut after))),
                "rc" | "c" | "pre" | "preview" => v.pre = Some((2, number(&mut after))),
                "post" | "rev" | "r" => v.post = Some(number(&mut after)),
                "dev" => v.dev = Some(number(&mut after)),
                "" if rest.starts_with('-') => v.post = Some(number(&mut after)),
                _ => return None,
            }
            if after.len() == rest.len() {
                return None;
            }
            rest = after;
        }
        Some(v)
    }

    /// The keys PEP 440 sorts by: a dev release before its pre-releases,
    /// those before the release, post releases after it.
    fn key(&self) -> (u64, Vec<u64>, (i64, i64), i64, i64) {
        let mut release = self.release.clone();
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (-1, 0),
            (Some((kind, n)), _, _) => (i64::from(kind), n as i64),
            (None, _, _) => (3, 0),
        };
        let post = self.post.map_or(-1, |n| n as i64);
        let dev = self.dev.map_or(i64::MAX, |n| n as i64);
        (self.epoch, release, pre, post, dev)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Version {}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("a version")
    }

    #[test]
    fn versions_order_as_pep_440_says() {
        let sorted = [
            "1.0.dev1",
            "1.0a1",
            "1.0a2.dev1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0.post1",
            "1.1",
            "2.0",
            "1!0.1",
        ];
        for pair in sorted.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1.0").cmp(&v("1.0.0")), Ordering::Equal);
        assert!(Version::parse("not-a-version").is_none());
    }

    #[test]
    fn requirements_are_satisfied_as_pip_would_judge() {
        let r = |s: &str| Requirement::parse(s).expect("a requirement");
        assert_eq!(r("Foo_Bar.baz[x] >= 1.0").name, "foo-bar-baz");
        assert!(r("demo").satisfied_by("1.0"));
        assert!(r("demo==1.0").satisfied_by("1.0.0"));
        assert!(!r("demo==1.0").satisfied_by("2.0"));
        assert!(r("demo>=1.0,<2").satisfied_by("1.5"));
        assert!(!r("demo>=1.0,<2").satisfied_by("2.0"));
        assert!(r("demo==1.*").satisfied_by("1.7"));
        assert!(r("demo~=1.4.2").satisfied_by("1.4.9"));
        assert!(!r("demo~=1.4.2").satisfied_by("1.5.0"));
        assert!(r("demo!=1.0").satisfied_by("1.1"));
        assert!(Requirement::parse("git+https://x/y.git").is_none());
        assert!(Requirement::parse("demo; python_version<'3'").is_none());
    }

    #[test]
    fn names_cut_at_commas_are_joined_again() {
        let names: Vec<String> = ["a>=1", "<2", "b", " c ==1.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(recover_names(&names), ["a>=1,<2", "b", "c ==1.0"]);
    }
}
