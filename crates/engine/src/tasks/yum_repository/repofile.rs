//! A `.repo` file read and written as Python's `RawConfigParser` (with its
//! default settings) reads and writes it, which is how Ansible's module
//! handles the file.

use std::sync::LazyLock;

use regex::Regex;

/// The section whose options every other section inherits.
const DEFAULT: &str = "DEFAULT";

/// `[name]`, the header pattern of `configparser`.
static HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[(.+)\]").expect("valid"));

/// `option = value` or `option: value`, split at the first delimiter.
static OPTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.*?)\s*[=:]\s*(.*)$").expect("valid"));

type Options = Vec<(String, String)>;

/// The file's sections in their order, each with its options in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoFile {
    defaults: Options,
    sections: Vec<(String, Options)>,
}

/// Sets an option, keeping its place when it is already there.
fn set(options: &mut Options, key: String, value: String) {
    match options.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => options.push((key, value)),
    }
}

/// Why a `.repo` file cannot be read as Python's `RawConfigParser` in
/// strict mode reads it; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoFileError {
    #[error("line {line}: section {name:?} already exists")]
    DuplicateSection { line: usize, name: String },
    #[error("line {line}: {text:?} comes before the first section header")]
    BeforeHeader { line: usize, text: String },
    #[error("line {line}: {text:?} is neither a section header nor an option")]
    Neither { line: usize, text: String },
    #[error("line {line}: option {key:?} is already set in this section")]
    DuplicateOption { line: usize, key: String },
}

impl RepoFile {
    /// Parses the text as `RawConfigParser.read` does: full-line `#` and
    /// `;` comments dropped, option names lower-cased, values trimmed,
    /// lines indented deeper than their option continuing its value, and
    /// a repeated section or option refused (its `strict` mode).
    pub fn parse(text: &str) -> Result<RepoFile, RepoFileError> {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut file = RepoFile::default();
        // Where the option being read lives: None before the first header,
        // Some(None) in DEFAULT, Some(Some(i)) in section i.
        let mut section: Option<Option<usize>> = None;
        let mut values: Vec<Vec<String>> = Vec::new();
        let mut option: Option<(Option<usize>, String, usize)> = None;
        let mut indent_level = 0usize;
        let mut seen_sections: Vec<String> = Vec::new();
        let mut seen_options: Vec<(Option<usize>, String)> = Vec::new();
        let mut slots: Vec<(Option<usize>, String)> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let stripped = line.trim();
            let comment = stripped.starts_with('#') || stripped.starts_with(';');
            if stripped.is_empty() || comment {
                if !comment && let Some((_, _, slot)) = &option {
                    values[*slot].push(String::new());
                }
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if let Some((_, _, slot)) = &option
                && section.is_some()
                && indent > indent_level
            {
                values[*slot].push(stripped.to_string());
                continue;
            }
            indent_level = indent;
            if let Some(caps) = HEADER.captures(stripped) {
                let name = caps[1].to_string();
                if seen_sections.contains(&name) {
                    return Err(RepoFileError::DuplicateSection {
                        line: number + 1,
                        name,
                    });
                }
                seen_sections.push(name.clone());
                section = Some(if name == DEFAULT {
                    None
                } else {
                    file.sections.push((name, Vec::new()));
                    Some(file.sections.len() - 1)
                });
                option = None;
                continue;
            }
            let Some(at) = section else {
                return Err(RepoFileError::BeforeHeader {
                    line: number + 1,
                    text: stripped.to_string(),
                });
            };
            let Some(caps) = OPTION.captures(stripped).filter(|c| !c[1].is_empty()) else {
                return Err(RepoFileError::Neither {
                    line: number + 1,
                    text: stripped.to_string(),
                });
            };
            let key = caps[1].trim_end().to_lowercase();
            if seen_options.contains(&(at, key.clone())) {
                return Err(RepoFileError::DuplicateOption {
                    line: number + 1,
                    key,
                });
            }
            seen_options.push((at, key.clone()));
            values.push(vec![caps[2].trim().to_string()]);
            slots.push((at, key.clone()));
            option = Some((at, key, values.len() - 1));
        }
        for ((at, key), lines) in slots.into_iter().zip(values) {
            let value = lines.join("\n").trim_end().to_string();
            match at {
                None => set(&mut file.defaults, key, value),
                Some(i) => set(&mut file.sections[i].1, key, value),
            }
        }
        Ok(file)
    }

    /// Whether no repository is left (DEFAULT does not count).
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    pub fn remove(&mut self, name: &str) {
        self.sections.retain(|(n, _)| n != name);
    }

    /// Adds the section at the end, its options in the order given.
    pub fn add(&mut self, name: &str, options: Options) {
        let mut own = Vec::new();
        for (key, value) in options {
            set(&mut own, key.to_lowercase(), value);
        }
        self.sections.push((name.to_string(), own));
    }

    /// The repositories as Ansible's module dumps them to compare and
    /// show them: sections and options sorted, DEFAULT's options in every
    /// section.
    pub fn dump(&self) -> String {
        let mut sections: Vec<&(String, Options)> = self.sections.iter().collect();
        sections.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        for (name, options) in sections {
            let mut items = self.defaults.clone();
            for (key, value) in options {
                set(&mut items, key.clone(), value.clone());
            }
            items.sort();
            out.push_str(&format!("[{name}]\n"));
            for (key, value) in items {
                out.push_str(&format!("{key} = {value}\n"));
            }
            out.push('\n');
        }
        out
    }

    /// The file's text as `RawConfigParser.write` writes it.
    pub fn write(&self) -> String {
        let mut out = String::new();
        let defaults = (!self.defaults.is_empty()).then_some((DEFAULT, &self.defaults));
        let sections = self.sections.iter().map(|(n, o)| (n.as_str(), o));
        for (name, options) in defaults.into_iter().chain(sections) {
            out.push_str(&format!("[{name}]\n"));
            for (key, value) in options {
                out.push_str(&format!("{key} = {}\n", value.replace('\n', "\n\t")));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_and_written_as_configparser_does() {
        let text = "# managed elsewhere\n[b]\nName = B\nbaseurl = http://one/\n  http://two/\n\n\
                    ; note\n[a]\nname: A\nenabled=1\n";
        let mut file = RepoFile::parse(text).expect("parses");
        assert_eq!(
            file.write(),
            "[b]\nname = B\nbaseurl = http://one/\n\thttp://two/\n\n[a]\nname = A\nenabled = 1\n\n"
        );
        assert_eq!(
            file.dump(),
            "[a]\nenabled = 1\nname = A\n\n[b]\nbaseurl = http://one/\nhttp://two/\nname = B\n\n"
        );
        file.remove("b");
        file.add("b", vec![("name".into(), "B".into())]);
        assert!(file.write().starts_with("[a]\n"));
        file.remove("a");
        file.remove("b");
        assert!(file.is_empty());
    }

    #[test]
    fn what_configparser_refuses_is_refused() {
        assert!(RepoFile::parse("name = x\n").is_err());
        assert!(RepoFile::parse("[a]\n[a]\n").is_err());
        assert!(RepoFile::parse("[a]\nx=1\nX=2\n").is_err());
        assert!(RepoFile::parse("[a]\njunk\n").is_err());
    }

    #[test]
    fn written_files_read_back_the_same() {
        let mut file = RepoFile::default();
        file.add(
            "x",
            vec![
                ("baseurl".into(), "http://a/\nhttp://b/".into()),
                ("name".into(), "X".into()),
            ],
        );
        assert_eq!(RepoFile::parse(&file.write()).expect("parses"), file);
    }

    /// ansible-core 2.19.14 on this file: the same repository changes
    /// nothing (the file keeps its bytes); another URL rewrites the whole
    /// file, the section moved to the end.
    #[test]
    fn oracle_cases_change_and_rewrite_as_ansible_does() {
        let text = "# comment\n[zeta]\nName=Zeta\nBaseURL = http://z/\n   http://z2/\n\n; c\ngpgcheck:0\n\n\
                    [alpha]\nname = A\nbaseurl=http://a/\n";
        let zeta = |url: &str| {
            vec![
                ("baseurl".to_string(), format!("http://z/\n{url}")),
                ("gpgcheck".to_string(), "0".to_string()),
                ("name".to_string(), "Zeta".to_string()),
            ]
        };
        let mut same = RepoFile::parse(text).expect("parses");
        let before = same.dump();
        same.remove("zeta");
        same.add("zeta", zeta("http://z2/"));
        assert_eq!(same.dump(), before);

        let mut other = RepoFile::parse(text).expect("parses");
        other.remove("zeta");
        other.add("zeta", zeta("http://z3/"));
        assert_ne!(other.dump(), before);
        assert_eq!(
            other.write(),
            "[alpha]\nname = A\nbaseurl = http://a/\n\n[zeta]\nbaseurl = http://z/\n\thttp://z3/\ngpgcheck = 0\nname = Zeta\n\n"
        );
    }
}
