//! "Did you mean …?" suggestions for misspelt names.

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&word_lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= threshold(word.len().max(c.len())))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A ready help line, `did you mean `x`?`, when there is a close candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Short names tolerate one edit, longer ones a few more: "whn" → "when",
/// "registr" → "register", but "name" is not a typo of "tags".
fn threshold(len: usize) -> usize {
    match len {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keywords_only() {
        let keywords = ["when", "register", "name", "tags", "loop"];
        assert_eq!(closest("whn", keywords), Some("when"));
        assert_eq!(closest("registr", keywords), Some("register"));
        assert_eq!(closest("Loop", keywords), Some("loop"));
        assert_eq!(closest("frobnicate", keywords), None);
    }
}
