//! The script that replaces a file atomically: temporary file beside it,
//! mode and owner set, flushed to disk, renamed into place.

use super::{FAIL_FN, Reach, SetAttrs, attrs_script, path_arg, printf_command, shell_quote};

/// Where and how to write a file atomically.
#[derive(Debug, Clone)]
pub struct AtomicWrite<'a> {
    /// The final path.
    pub path: &'a str,
    /// The directory that holds it; the temporary file goes there too, so
    /// that the final rename never crosses filesystems.
    pub dir: &'a str,
    /// Create `dir` (and its parents) first, instead of failing with code
    /// `parent` when it is missing.
    pub create_dir: bool,
    /// What to set on the new file. A mode of `None` gives a new file the
    /// default permissions of the user's umask.
    pub attrs: SetAttrs<'a>,
    /// The owner and group of the file being replaced, kept (as far as the
    /// user may) when `attrs` does not say otherwise.
    pub keep_ids: Option<(u32, u32)>,
    /// The bytes to write, carried in the script itself; `None` writes the
    /// script's standard input instead (for contents too large to inline).
    pub content: Option<&'a [u8]>,
    /// Copy the old file aside first; the script then prints
    /// `backup=<suffix>`, the name's part after `<path>.`.
    pub backup: bool,
    /// A command (split into words, not yet quoted) to run on the temporary
    /// file before it replaces the old one; `%s` in a word is the temporary
    /// file's path and `%%` a percent sign, as in Ansible's `validate`.
    pub validate: Option<Vec<String>>,
}

/// The script that writes `w.content` (or, when that is `None`, its
/// standard input) to `w.path` atomically: into a temporary file beside it,
/// which gets its mode and owner and is flushed to disk before a rename puts
/// it in place. Readers see the old content or the new one, never a mix, and
/// a failure at any step leaves the old file.
///
/// Starting a program is the expensive part on the host, so the common case
/// starts only `sync`, `mv` and `sync`: the shell creates the temporary file
/// itself (`set -C`, so an existing file is never followed) with a umask
/// that yields the wanted mode, and the `printf` builtin writes the content.
pub fn atomic_write_script(w: &AtomicWrite<'_>) -> String {
    let mut s = String::from(FAIL_FN);
    s.push_str(&format!("p={}\nd={}\n", path_arg(w.path), path_arg(w.dir)));
    if w.create_dir {
        s.push_str("[ -d \"$d\" ] || mkdir -p -- \"$d\" || fail mkdir\n");
    }
    s.push_str("[ -d \"$d\" ] || fail parent\n");
    // The random part keeps concurrent writers (and old leftovers) apart;
    // `set -C` refuses a name that exists, so nothing planted there is used.
    s.push_str(&format!(
        "tmp=\"$d/.dtrplay.{:016x}\"\n",
        crate::connection::remote_shell::random_u64()
    ));
    // The temporary file goes away on every exit path; after the rename
    // there is nothing left to remove, and no `rm` is started for nothing.
    s.push_str("trap '[ -e \"$tmp\" ] && rm -f -- \"$tmp\"' EXIT\ntrap 'exit 1' HUP INT TERM\n");
    // A mode without execute or special bits is exactly what creation under
    // the complementary umask gives; without a mode, the user's umask
    // decides, as for any new file. Other modes need a `chmod` after.
    let (umask, chmod_after) = match w.attrs.mode {
        None => (None, false),
        Some(mode) if mode & !0o666 == 0 => (Some(0o777 & !mode), false),
        Some(_) => (Some(0o077), true),
    };
    let umask = umask
        .map(|m| format!("umask {m:04o}; "))
        .unwrap_or_default();
    let writer = match w.content {
        Some(bytes) => printf_command(bytes),
        None => "cat".to_string(),
    };
    s.push_str(&format!(
        "( {umask}set -C; {writer} > \"$tmp\" ) || fail write\n"
    ));
    let attrs = SetAttrs {
        mode: w.attrs.mode.filter(|_| chmod_after),
        ..w.attrs
    };
    s.push_str(&attrs_script("\"$tmp\"", &attrs, Reach::Path));
    if let Some((uid, gid)) = w.keep_ids {
        let owner = w
            .attrs
            .owner
            .map_or_else(|| uid.to_string(), str::to_string);
        let group = w
            .attrs
            .group
            .map_or_else(|| gid.to_string(), str::to_string);
        // Only root may give a file away; for others keeping is best effort,
        // as in Ansible.
        s.push_str(&format!(
            "chown -- {} \"$tmp\" 2>/dev/null || :\n",
            shell_quote(&format!("{owner}:{group}"))
        ));
    }
    if let Some(words) = &w.validate {
        let line: Vec<String> = words.iter().map(|word| validate_word(word)).collect();
        s.push_str(&format!(
            "( exec {} ) >&2 || fail validate\n",
            line.join(" ")
        ));
    }
    if w.backup {
        // Ansible names backups `<path>.<pid>.<time>~`; a random number takes
        // the pid's place, so that nobody can plant a link at the name in
        // advance for `cp` to write through.
        s.push_str(&format!(
            "if [ -e \"$p\" ]; then b=\"{}.$(date +%Y-%m-%d@%H:%M:%S)~\"\n\
             if [ -e \"$p.$b\" ] || [ -L \"$p.$b\" ]; then fail backup; fi\n\
             cp -p -- \"$p\" \"$p.$b\" || fail backup\nprintf 'backup=%s\\n' \"$b\"; fi\n",
            crate::connection::remote_shell::random_u64() % 1_000_000_000
        ));
    }
    // `sync FILE` flushes just that file (coreutils 8.24 and later); older
    // tools only know the global `sync`.
    s.push_str("sync -- \"$tmp\" 2>/dev/null || sync\n");
    s.push_str("mv -f -- \"$tmp\" \"$p\" || fail rename\n");
    s.push_str("sync -- \"$d\" 2>/dev/null || :\n");
    s
}

/// Quotes a `validate` word, putting the temporary file's path where it
/// says `%s`.
fn validate_word(word: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some('s')) => {
                chars.next();
                if !literal.is_empty() {
                    out.push_str(&shell_quote(&std::mem::take(&mut literal)));
                }
                out.push_str("\"$tmp\"");
            }
            ('%', Some('%')) => {
                chars.next();
                literal.push('%');
            }
            (c, _) => literal.push(c),
        }
    }
    if !literal.is_empty() || out.is_empty() {
        out.push_str(&shell_quote(&literal));
    }
    out
}
