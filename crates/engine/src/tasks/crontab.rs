//! A crontab's lines as ansible-core's cron module edits them: jobs named
//! by a `#Ansible: <name>` line before them, environment variables, and
//! the text `crontab -l` printed. Shared by the `cron` task, which decides
//! what to change; kept apart so that the line rules can be read (and
//! tested) on their own.

/// The comment that names the job on the line after it.
pub(crate) const MARKER: &str = "#Ansible: ";

pub(crate) fn marker(name: &str) -> String {
    format!("{MARKER}{name}")
}

/// How `find_job` found a job.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    Missing,
    /// The line after the job's marker.
    Job(String),
    /// An identical job line without a marker of its own got one.
    Adopted,
}

/// A crontab's lines, edited the way ansible-core's `CronTab` edits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Crontab {
    pub(crate) lines: Vec<String>,
}

impl Crontab {
    pub(crate) fn find_job(&mut self, name: &str, job: Option<&str>) -> Found {
        let mut comment: Option<String> = None;
        for line in &self.lines {
            if let Some(current) = comment.take() {
                // The line after a marker is that marker's job, whatever it
                // looks like, even another marker.
                if current == name {
                    return Found::Job(line.clone());
                }
            } else if line.starts_with(MARKER) {
                comment = Some(line.replace(MARKER, ""));
            }
        }
        let Some(job) = job else {
            return Found::Missing;
        };
        let count = self.lines.len();
        for i in 0..count {
            if self.lines[i] != job {
                continue;
            }
            // Python's `lines[i - 1]`: the last line when the job is first.
            let previous = if i == 0 { count - 1 } else { i - 1 };
            if !self.lines[previous].starts_with(MARKER) {
                self.lines.insert(i, marker(name));
                return Found::Adopted;
            }
            if !name.is_empty() && self.lines[previous] == marker("None") {
                self.lines[previous] = marker(name);
                return Found::Adopted;
            }
        }
        Found::Missing
    }

    /// Replaces (or, without `job`, removes) every job marked `name`: the
    /// marker and the line after it.
    pub(crate) fn update_job(&mut self, name: &str, job: Option<&str>) {
        let wanted = marker(name);
        let mut lines = Vec::with_capacity(self.lines.len() + 1);
        let mut pending = false;
        for line in self.lines.drain(..) {
            if pending {
                if let Some(job) = job {
                    lines.push(wanted.clone());
                    lines.push(job.to_string());
                }
                pending = false;
            } else if line == wanted {
                pending = true;
            } else {
                lines.push(line);
            }
        }
        self.lines = lines;
    }

    pub(crate) fn find_env(&self, name: &str) -> Option<usize> {
        let prefix = format!("{name}=");
        self.lines.iter().position(|l| l.starts_with(&prefix))
    }

    /// Replaces (or, without `decl`, removes) every declaration of `name`.
    pub(crate) fn update_env(&mut self, name: &str, decl: Option<&str>) {
        let prefix = format!("{name}=");
        let lines = std::mem::take(&mut self.lines);
        self.lines = lines
            .into_iter()
            .filter_map(|l| match (l.starts_with(&prefix), decl) {
                (false, _) => Some(l),
                (true, Some(decl)) => Some(decl.to_string()),
                (true, None) => None,
            })
            .collect();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }

    pub(crate) fn job_names(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l.starts_with(MARKER))
            .map(|l| l.replace(MARKER, ""))
            .collect()
    }

    pub(crate) fn env_names(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| {
                l.split_once('=')
                    .is_some_and(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace))
            })
            .filter_map(|l| l.split('=').next().map(str::to_string))
            .collect()
    }

    /// The crontab as written: lines joined, one final newline.
    pub(crate) fn render(&self) -> String {
        let joined = self.lines.join("\n");
        if joined.is_empty() {
            return joined;
        }
        format!("{}\n", joined.trim_end_matches(['\r', '\n']))
    }
}

/// Lines as Python's `splitlines` finds them in a crontab (`\n`, `\r\n`,
/// `\r`).
pub(crate) fn split_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => lines.push(std::mem::take(&mut current)),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// The lines of a user's crontab as `crontab -l` printed them, without the
/// header some crontab programs put in the first three lines, and the text
/// without them (which the diff shows as "before").
pub(crate) fn user_crontab(listed: &str) -> (Crontab, String) {
    let header = [
        r"^# DO NOT EDIT THIS FILE - edit the master and reinstall.",
        r"^# \(/tmp/.*installed on.*\)",
        r"^# \(.*version.*\)",
    ];
    let header: Vec<regex::Regex> = header
        .iter()
        .filter_map(|h| regex::Regex::new(h).ok())
        .collect();
    let mut existing = listed.to_string();
    let mut lines = Vec::new();
    for (count, line) in split_lines(listed).into_iter().enumerate() {
        if count > 2 || !header.iter().any(|h| h.is_match(&line)) {
            lines.push(line);
            continue;
        }
        if let Some(at) = existing.find(&line) {
            let mut end = at + line.len();
            if existing[end..].starts_with(['\r', '\n']) {
                end += 1;
            }
            existing.replace_range(at..end, "");
        }
    }
    (Crontab { lines }, existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crontab_header_is_not_part_of_the_crontab() {
        let (tab, existing) = user_crontab(
            "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# (/tmp/crontab.x installed on Thu)\n# (Cron version -- $Id$)\nA=1\n",
        );
        assert_eq!(tab.lines, vec!["A=1".to_string()]);
        assert_eq!(existing, "A=1\n");
    }

    #[test]
    fn a_marker_with_its_job_is_replaced_or_removed() {
        let mut tab = Crontab {
            lines: split_lines("#Ansible: a\nold\nkeep\n"),
        };
        assert_eq!(tab.find_job("a", None), Found::Job("old".into()));
        tab.update_job("a", Some("new"));
        assert_eq!(tab.render(), "#Ansible: a\nnew\nkeep\n");
        tab.update_job("a", None);
        assert_eq!(tab.render(), "keep\n");
        assert_eq!(tab.job_names(), Vec::<String>::new());
    }
}
