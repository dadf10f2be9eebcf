//! fstab lines as ansible.posix reads and writes them: six fields,
//! octal escapes for the characters that would end a field, a managed
//! line found by its mount point (and, for swap lines at `none`, by its
//! source), rewritten with single spaces.

/// A value as fstab and mountinfo spell it: the characters that would end
/// a field become octal escapes.
pub(super) fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\134"),
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            c => out.push(c),
        }
    }
    out
}

/// The six fields of an fstab line, escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) src: String,
    pub(super) name: String,
    pub(super) fstype: String,
    pub(super) opts: String,
    pub(super) dump: String,
    pub(super) passno: String,
}

impl Entry {
    /// The fields of a line, unless it is blank, a comment, or has fewer
    /// than four fields (such lines stay as they are). Missing `dump` and
    /// `passno` fields read as empty, so a line without them gets them.
    pub(super) fn parse(line: &str) -> Option<Entry> {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            return None;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        if fields.len() < 4 {
            return None;
        }
        let field = |i: usize| fields.get(i).copied().unwrap_or_default().to_string();
        Some(Entry {
            src: field(0),
            name: field(1),
            fstype: field(2),
            opts: field(3),
            dump: field(4),
            passno: field(5),
        })
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            self.src, self.name, self.fstype, self.opts, self.dump, self.passno
        )
    }

    /// Whether this line is the one the task manages: same mount point,
    /// except that swap lines at `none` are told apart by their source.
    fn is_for(&self, name: &str, src: Option<&str>) -> bool {
        if self.name != name {
            return false;
        }
        match src {
            Some(src) if self.name == "none" && self.fstype == "swap" => self.src == src,
            _ => true,
        }
    }
}

/// fstab with the task's line set, or `None` when it already is.
pub(super) fn with_entry(content: &str, wanted: &Entry) -> Option<String> {
    let mut out = String::with_capacity(content.len() + 64);
    let mut seen = false;
    for line in content.split_inclusive('\n') {
        match Entry::parse(line) {
            Some(entry) if entry.is_for(&wanted.name, Some(&wanted.src)) => {
                seen = true;
                if entry == *wanted {
                    out.push_str(line);
                } else {
                    out.push_str(&wanted.line());
                }
            }
            _ => out.push_str(line),
        }
    }
    if !seen {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&wanted.line());
    }
    (out != content).then_some(out)
}

/// fstab without the task's line, or `None` when it has none.
pub(super) fn without_entry(content: &str, name: &str, src: Option<&str>) -> Option<String> {
    let mut out = String::with_capacity(content.len());
    for line in content.split_inclusive('\n') {
        match Entry::parse(line) {
            Some(entry) if entry.is_for(name, src) => {}
            _ => out.push_str(line),
        }
    }
    (out != content).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(src: &str, name: &str, fstype: &str, opts: &str) -> Entry {
        Entry {
            src: src.into(),
            name: name.into(),
            fstype: fstype.into(),
            opts: opts.into(),
            dump: "0".into(),
            passno: "0".into(),
        }
    }

    #[test]
    fn lines_are_added_rewritten_with_single_spaces_and_kept() {
        let fstab = "# x\nproc\t/proc  proc defaults 0 0\ntmpfs   /x   tmpfs defaults\n";
        let x = entry("tmpfs", "/x", "tmpfs", "defaults");
        assert_eq!(
            with_entry(fstab, &x).as_deref(),
            Some("# x\nproc\t/proc  proc defaults 0 0\ntmpfs /x tmpfs defaults 0 0\n")
        );
        let done = "proc\t/proc  proc defaults 0 0\n";
        assert_eq!(
            with_entry(done, &entry("proc", "/proc", "proc", "defaults")),
            None
        );
        assert_eq!(
            with_entry("a /a ext4 ro 0 0", &x).as_deref(),
            Some("a /a ext4 ro 0 0\ntmpfs /x tmpfs defaults 0 0\n")
        );
    }

    #[test]
    fn swap_lines_at_none_are_told_apart_by_source() {
        let fstab = "/swapfile none swap sw 0 0\n";
        assert_eq!(
            with_entry(fstab, &entry("/swapfile2", "none", "swap", "sw")).as_deref(),
            Some("/swapfile none swap sw 0 0\n/swapfile2 none swap sw 0 0\n")
        );
        assert_eq!(
            with_entry(fstab, &entry("/swapfile", "none", "swap", "sw")),
            None
        );
        assert_eq!(without_entry(fstab, "none", Some("/other")), None);
        assert_eq!(without_entry(fstab, "none", None).as_deref(), Some(""));
    }
}
