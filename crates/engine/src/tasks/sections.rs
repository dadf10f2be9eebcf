//! Output sections of a script that runs several commands in one round
//! trip: each command's output between `@@begin NAME` and `@@end NAME RC`
//! lines, so the task reads every command's output and exit status apart
//! (the `zypper` and `pacman` tasks).

use std::collections::BTreeMap;

/// The shell that wraps `command`'s output (standard output only, unless
/// the command redirects its errors) in the section `name`.
pub fn section(name: &str, command: &str) -> String {
    format!("echo '@@begin {name}'\n{command}\necho \"@@end {name} $?\"\n")
}

/// Every section of a script's output: its text and its command's exit
/// status (-1 when unreadable).
pub fn sections(stdout: &str) -> BTreeMap<String, (String, i32)> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("@@begin ") {
            current = Some((name.to_string(), String::new()));
        } else if let Some(rest) = line.strip_prefix("@@end ") {
            let (name, rc) = rest.rsplit_once(' ').unwrap_or((rest, "-1"));
            let text = current.take().map(|(_, t)| t).unwrap_or_default();
            out.insert(name.to_string(), (text, rc.parse().unwrap_or(-1)));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keep_their_text_and_status() {
        let s = sections("x\n@@begin Q\na 1\nb 2\n@@end Q 0\n@@begin T\nerror\n@@end T 1\n");
        assert_eq!(s["Q"], ("a 1\nb 2\n".to_string(), 0));
        assert_eq!(s["T"].1, 1);
    }
}
