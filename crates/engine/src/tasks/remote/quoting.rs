//! Words and paths as scripts pass them to commands on the host.

/// Quotes a word for `sh` so that it reaches the command unchanged: no
/// expansion, no splitting, no globbing. Words made only of characters that
/// are never special stay bare, which keeps scripts and messages readable.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A path as a script may pass it to a command: a relative path that starts
/// with `-` gets a `./` prefix, so that no tool mistakes it for an option.
pub fn path_arg(path: &str) -> String {
    if path.starts_with('-') {
        return shell_quote(&format!("./{path}"));
    }
    shell_quote(path)
}

/// The directory that holds `path`, the way `dirname` would say it, for
/// paths without a trailing slash: `/etc/app.conf` → `/etc`, `/x` → `/`,
/// `app.conf` → `.`.
pub fn parent_dir(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        None => ".".to_string(),
        Some(at) => {
            let parent = trimmed[..at].trim_end_matches('/');
            if parent.is_empty() {
                "/".to_string()
            } else {
                parent.to_string()
            }
        }
    }
}

/// The last component of a path (`/srv/app.conf.j2` → `app.conf.j2`).
pub fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}
