//! Shell-style wildcards (`*`, `?`), as ssh_config's `Host` lines, known
//! hosts, algorithm lists and `--start-at-task` match names.

/// Whether `text` matches `pattern`, where `*` is any run of characters
/// and `?` any one character (OpenSSH's `match_pattern`, fnmatch without
/// character classes). It backtracks only to the last `*`, so its cost is
/// at most the product of the two lengths.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("Install *", "Install docker"));
        assert!(matches("?ing", "ping"));
        assert!(matches("*.example.com", "node1.example.com"));
        assert!(matches("ä?", "äb"));
        assert!(!matches("Install", "Install docker"));
        assert!(!matches("*.example.com", "example.com"));
    }
}
