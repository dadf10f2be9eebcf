//! The scripts run against a real `sh`, and the parsers fed what it prints.

use super::*;
use crate::connection::Output;

use std::os::unix::fs::PermissionsExt;

/// Runs `script` with `sh` under `umask`, feeding `stdin`.
fn sh(script: &str, umask: u32, stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("umask {umask:03o}\n{script}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait")
}

#[test]
fn printf_command_prints_every_byte_and_stays_ascii() {
    let mut bytes: Vec<u8> = (0..=255).collect();
    bytes.extend_from_slice(b"-'\\%s%%\n");
    for first in [&b"-----BEGIN"[..], b"plain", b""] {
        let mut all = first.to_vec();
        all.extend_from_slice(&bytes);
        let command = printf_command(&all);
        assert!(command.is_ascii());
        assert_eq!(sh(&command, 0o022, b"").stdout, all);
    }
}

/// The content comparison answers exactly, with builtins or with a
/// hash, in every shell at hand: a file differs when a single byte does,
/// including bytes a shell variable cannot hold and a missing or extra
/// final newline.
#[test]
fn compare_script_tells_equal_content_from_any_difference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB'x\\n%s $(id) `id`\n  \tlead\r\n-n\n\n";
    let big = "x".repeat(BUILTIN_COMPARE_LIMIT + 1);
    let wanted: Vec<&[u8]> = vec![
        pem.as_bytes(),
        b"no final newline",
        b"",
        b"\n",
        b"-n",
        b"a\0b\n",
        b"caf\xc3\xa9\n",
        b"\xff\xfe binary\n",
        big.as_bytes(),
    ];
    let mut shells = vec!["/bin/sh"];
    if std::path::Path::new("/bin/bash").exists() {
        shells.push("/bin/bash");
    }
    for shell in shells {
        for want in &wanted {
            let mut variants: Vec<Vec<u8>> = vec![want.to_vec()];
            if !want.is_empty() {
                // The same length with one byte changed, with a NUL in
                // place of the last byte, and without it.
                let mut flipped = want.to_vec();
                flipped[0] ^= 1;
                variants.push(flipped);
                let mut nul = want.to_vec();
                *nul.last_mut().expect("byte") = 0;
                variants.push(nul);
                variants.push(want[..want.len() - 1].to_vec());
                // A NUL inserted: the shell drops it, so only the size
                // tells this file apart.
                let mut inserted = want.to_vec();
                inserted.insert(want.len() / 2, 0);
                variants.push(inserted);
            }
            let mut longer = want.to_vec();
            longer.push(b'\n');
            variants.push(longer);
            for (i, have) in variants.iter().enumerate() {
                std::fs::write(&path, have).expect("write");
                let script = format!(
                    "p={}\nsize=$(wc -c < \"$p\")\n{}",
                    shell_quote(path.to_str().expect("utf-8")),
                    compare_script("\"$p\"", "${size##* }", want)
                );
                let out = std::process::Command::new(shell)
                    .arg("-c")
                    .arg(&script)
                    .output()
                    .expect("shell");
                let same = if have == want { "same=1\n" } else { "same=0\n" };
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    same,
                    "{shell}: wanted {:?}, variant {i} {:?}",
                    String::from_utf8_lossy(want),
                    String::from_utf8_lossy(have)
                );
            }
        }
    }
}

/// A file that cannot be read fails the probe instead of looking
/// different (or equal).
#[test]
fn compare_script_fails_on_an_unreadable_file() {
    let script = compare_script("/nonexistent/dtrplay/f", "3", b"ab\n");
    let out = sh(&script, 0o022, b"");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

/// The atomic write gives the exact mode under any umask, inline or
/// from stdin, and leaves nothing but the file behind.
#[test]
fn atomic_writes_get_exact_modes_and_leave_no_temporary_file() {
    let content = b"-----BEGIN CERTIFICATE-----\n\x00\xff'%\n";
    for (mode, umask, want) in [
        (Some(0o644), 0o077, 0o644),
        (Some(0o600), 0o000, 0o600),
        (Some(0o755), 0o077, 0o755),
        (Some(0o4711), 0o022, 0o4711),
        (None, 0o027, 0o640),
        (None, 0o000, 0o666),
    ] {
        for inline in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("sub/ca.crt");
            let (path_text, dir_text) = (
                path.display().to_string(),
                dir.path().join("sub").display().to_string(),
            );
            let script = atomic_write_script(&AtomicWrite {
                path: &path_text,
                dir: &dir_text,
                create_dir: true,
                attrs: SetAttrs {
                    mode,
                    owner: None,
                    group: None,
                },
                keep_ids: None,
                content: inline.then_some(&content[..]),
                backup: false,
                validate: None,
            });
            let stdin: &[u8] = if inline { b"" } else { content };
            let out = sh(&script, umask, stdin);
            assert!(out.status.success(), "{:?}", out);
            assert_eq!(std::fs::read(&path).expect("written"), content);
            let got = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o7777;
            assert_eq!(got, want, "mode {mode:?} under umask {umask:03o}");
            let entries = std::fs::read_dir(dir.path().join("sub"))
                .expect("dir")
                .count();
            assert_eq!(entries, 1, "a temporary file was left behind");
        }
    }
}

#[test]
fn quoting_leaves_plain_words_bare_and_quotes_the_rest() {
    assert_eq!(shell_quote("/etc/app.conf"), "/etc/app.conf");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote("$HOME"), "'$HOME'");
    assert_eq!(shell_quote("a=b"), "'a=b'");
    assert_eq!(shell_quote("~"), "'~'");
    assert_eq!(path_arg("-x"), "./-x");
}

#[test]
fn parent_and_base_names() {
    assert_eq!(parent_dir("/etc/app.conf"), "/etc");
    assert_eq!(parent_dir("/x"), "/");
    assert_eq!(parent_dir("x"), ".");
    assert_eq!(parent_dir("a//b"), "a");
    assert_eq!(base_name("/srv/t/app.j2"), "app.j2");
    assert_eq!(base_name("app.j2"), "app.j2");
}

#[test]
fn shlex_split_matches_python() {
    let split = |s: &str| shlex_split(s).expect("splits");
    assert_eq!(split("echo hi  there"), ["echo", "hi", "there"]);
    assert_eq!(split("a 'b c' \"d e\""), ["a", "b c", "d e"]);
    assert_eq!(split("a '' b"), ["a", "", "b"]);
    assert_eq!(split(r#"a\ b "x\"y" "p\q""#), ["a b", "x\"y", "p\\q"]);
    assert_eq!(split("it'\"'s"), ["it\"s"]);
    assert_eq!(split("   "), Vec::<String>::new());
    assert!(shlex_split("echo 'open").is_err());
    assert!(shlex_split("echo \\").is_err());
}

#[test]
fn expansion_keeps_only_what_is_asked_for() {
    let vars = Expand {
        vars: true,
        glob: false,
    };
    assert_eq!(expand_word("$HOME/x", vars), "\"${HOME-\\$HOME}\"/x");
    assert_eq!(expand_word("${A}b", vars), "\"${A-\\${A\\}}\"b");
    assert_eq!(expand_word("~/a b", vars), "~/'a b'");
    assert_eq!(expand_word("$(id)", vars), "'$(id)'");
    assert_eq!(expand_word("$1", vars), "'$1'");
    let glob = Expand {
        vars: false,
        glob: true,
    };
    assert_eq!(expand_word("/a b/*.log", glob), "'/a b/'*.log");
    assert_eq!(expand_word("$HOME", glob), "'$HOME'");
}

#[test]
fn report_parses_strictly() {
    let mut r = Report::parse(
        b"kind=file\nmode=644\nuid=0\nowner=root\ngid=0\ngroup=root\nsize=3\ncontent\nab\n",
    )
    .expect("parses");
    let stat = r.take_stat().expect("stat");
    assert_eq!(stat.kind, FileKind::File);
    assert_eq!(stat.mode_text().as_deref(), Some("0644"));
    assert_eq!(stat.content.as_deref(), Some(&b"ab\n"[..]));
    r.finish().expect("nothing left");

    assert!(Report::parse(b"kind=file\nkind=file\n").is_err());
    assert!(Report::parse(b"garbage\n").is_err());
    let mut extra = Report::parse(b"kind=absent\nsurprise=1\n").expect("parses");
    extra.take_stat().expect("stat");
    assert!(extra.finish().is_err());
}

#[test]
fn failure_separates_code_and_detail() {
    let out = Output {
        status: 1,
        stdout: Vec::new(),
        stderr: b"mv: cannot move\n\ndtrplay-fail:rename\n".to_vec(),
    };
    assert_eq!(
        failure(&out),
        Failure {
            code: Some("rename".into()),
            detail: "mv: cannot move".into()
        }
    );
}
