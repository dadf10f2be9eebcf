//! The shell side of `openssl_csr` and `x509_certificate`: the snippets
//! their one-round-trip scripts are made of, and the reader of what those
//! scripts print.
//!
//! Only public material ever travels: a script prints a CSR or certificate
//! as `openssl` re-encodes it (so a private key pasted into such a file is
//! never printed) and a private key only as its public half (`openssl pkey
//! -pubout`). New files are made in a scratch directory beside the target,
//! created under umask 077, and renamed into place.

use std::collections::BTreeMap;

use crate::tasks::remote;
use crate::tasks::x509_common::{PkiError, Summary};

/// What a script reported about one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Absent,
    /// There, but `openssl` cannot read it as what it should be.
    Unreadable,
    /// Its DER, as `openssl` re-encoded it.
    Der(Vec<u8>),
}

/// The `name=value` fields and `name|line` sections a check script printed.
#[derive(Debug, Default)]
pub struct Probe {
    fields: BTreeMap<String, String>,
    sections: BTreeMap<String, String>,
}

impl Probe {
    pub fn parse(stdout: &str) -> Probe {
        let mut probe = Probe::default();
        for line in stdout.lines() {
            let bar = line.find('|');
            let eq = line.find('=');
            match (bar, eq) {
                (Some(b), e) if e.is_none_or(|e| b < e) => {
                    let text = probe.sections.entry(line[..b].to_string()).or_default();
                    text.push_str(&line[b + 1..]);
                    text.push('\n');
                }
                (_, Some(e)) => {
                    probe
                        .fields
                        .insert(line[..e].to_string(), line[e + 1..].to_string());
                }
                _ => {}
            }
        }
        probe
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The PEM text of a section, as sent.
    pub fn pem(&self, name: &str) -> Option<&str> {
        self.sections.get(name).map(String::as_str)
    }

    /// What the `show` function reported for `name`.
    pub fn input(&self, name: &str) -> Result<Input, PkiError> {
        match self.field(name) {
            Some("absent") => Ok(Input::Absent),
            Some("unreadable") => Ok(Input::Unreadable),
            Some("present") => {
                let der = self.pem(name).and_then(|pem| {
                    x509_parser::pem::parse_x509_pem(pem.as_bytes())
                        .ok()
                        .map(|(_, pem)| pem.contents)
                });
                Ok(der.map_or(Input::Unreadable, Input::Der))
            }
            _ => Err(PkiError::Output(format!("no report about `{name}`"))),
        }
    }

    /// The target file's mode and ownership, when it exists.
    pub fn attrs(&self) -> Option<remote::Attrs> {
        let mode = u32::from_str_radix(self.field("mode")?, 8).ok()?;
        Some(remote::Attrs {
            mode,
            uid: self.field("uid")?.parse().ok()?,
            owner: self.field("owner")?.to_string(),
            gid: self.field("gid")?.parse().ok()?,
            group: self.field("group")?.to_string(),
        })
    }
}

/// The start of every script: `fail`, the `openssl` check, and `show NAME
/// FILE COMMAND...`, which reports `NAME=absent`, `NAME=unreadable` or
/// `NAME=present` and the command's output as `NAME|` lines. Commands only
/// ever print public material (a re-encoded CSR or certificate, a public key).
pub fn prelude(path: &str) -> String {
    format!(
        "{}command -v openssl >/dev/null 2>&1 || fail no-openssl\n\
         show() {{ s=$1; f=$2; shift 2\n\
         if [ ! -e \"$f\" ]; then echo \"$s=absent\"\n\
         elif o=$(\"$@\" 2>/dev/null) && [ -n \"$o\" ]; then echo \"$s=present\"; printf '%s\\n' \"$o\" | sed \"s/^/$s|/\"\n\
         else echo \"$s=unreadable\"; fi; }}\n\
         p={}\nd={}\n",
        remote::FAIL_FN,
        remote::path_arg(path),
        remote::path_arg(&remote::parent_dir(path)),
    )
}

/// The lines that report the target file's mode and ownership.
pub const STAT_LINES: &str = "if [ -e \"$p\" ]; then stat -c 'mode=%a\nuid=%u\nowner=%U\ngid=%g\ngroup=%G' -- \"$p\" || fail stat; fi\n";

/// The lines that make a private scratch directory beside the target (so
/// that the final rename stays on one filesystem), removed on every exit.
pub const SCRATCH_LINES: &str = "[ -d \"$d\" ] || fail parent\n\
     if [ -d \"$p\" ]; then fail isdir; fi\n\
     w=$(umask 077; mktemp -d \"$d/.dtrplay-x509.XXXXXXXX\") || fail mktemp\n\
     trap 'rm -rf -- \"$w\"' EXIT\n";

/// The lines that put `$w/out.pem` in place: with the wanted mode, or the
/// old file's mode, or (for a new file) what the umask gives a new file,
/// as Ansible's atomic move does; then owner and group, then the rename.
pub fn install_lines(mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> String {
    let mut s = match mode {
        Some(mode) => format!("m={mode:04o}\n"),
        None => "if [ -e \"$p\" ]; then m=$(stat -c %a -- \"$p\"); \
                 else m=$(printf '%o' $((0666 & ~$(umask)))); fi\n"
            .to_string(),
    };
    s.push_str("chmod \"$m\" \"$w/out.pem\" || fail chmod\n");
    s.push_str(&remote::attrs_script(
        "\"$w/out.pem\"",
        &remote::SetAttrs {
            mode: None,
            owner,
            group,
        },
        remote::Reach::Path,
    ));
    s.push_str("mv -f -- \"$w/out.pem\" \"$p\" || fail rename\n");
    s
}

/// The lines that set mode, owner and group on the existing file.
pub fn chmod_lines(mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> String {
    remote::attrs_script(
        "\"$p\"",
        &remote::SetAttrs { mode, owner, group },
        remote::Reach::Path,
    )
}

/// Whether the file's attributes differ from what the task sets.
pub fn attrs_differ(
    attrs: &remote::Attrs,
    mode: Option<u32>,
    owner: Option<&str>,
    group: Option<&str>,
) -> bool {
    mode.is_some_and(|m| m != attrs.mode)
        || owner.is_some_and(|o| !attrs.owner_is(o))
        || group.is_some_and(|g| !attrs.group_is(g))
}

/// The attribute lines of a summary: the wanted ones, or what is there.
pub fn attrs_summary(
    s: &mut Summary,
    found: Option<&remote::Attrs>,
    mode: Option<u32>,
    owner: Option<&str>,
    group: Option<&str>,
) {
    if let Some(m) = mode.or(found.map(|a| a.mode)) {
        s.add("mode", remote::mode_text(m));
    }
    if let Some(o) = owner.map(str::to_string).or(found.map(|a| a.owner.clone())) {
        s.add("owner", o);
    }
    if let Some(g) = group.map(str::to_string).or(found.map(|a| a.group.clone())) {
        s.add("group", g);
    }
}

/// Escapes a value for an `openssl` configuration file, where `$` expands
/// variables, `#` starts a comment and quotes and backslashes are special.
pub fn conf_value(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\$#\"'".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a subject value for `openssl -subj`, where `/` separates
/// fields, `+` joins them and `\` escapes.
pub fn subj_value(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\/+=".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `printf` command that writes `text` to `file` (a shell word).
pub fn write_file_line(text: &str, file: &str) -> String {
    format!(
        "{} > {file} || fail write\n",
        remote::printf_command(text.as_bytes())
    )
}

/// The line that makes the path in shell variable `var` absolute, for
/// `openssl ca`, which runs in its scratch directory.
pub fn absolute_line(var: &str) -> String {
    format!("case \"${var}\" in /*) ;; *) {var}=\"$PWD/${var}\";; esac\n")
}

/// Reads why a script failed: the `fail` code and what the tools said.
pub fn script_error(out: &crate::connection::Output, module: &'static str, path: &str) -> PkiError {
    let failed = remote::failure(out);
    match failed.code.as_deref() {
        Some("no-openssl") => PkiError::NoOpenssl(module),
        Some("parent") => PkiError::Parent(remote::parent_dir(path)),
        Some("isdir") => PkiError::IsDir(path.to_string()),
        code => PkiError::Tool {
            action: code.unwrap_or("script").to_string(),
            detail: failed.detail,
        },
    }
}

/// How `openssl ca` signs a certificate, for `x509_certificate`.
#[derive(Debug, Clone)]
pub struct Signing<'a> {
    /// Signed by the CA certificate in `$a` with the key in `$ak`; else
    /// self-signed with the key in `$k`. The CSR is in `$c`.
    pub ownca: bool,
    /// The digest, or `None` for keys that sign without one (Ed25519).
    pub digest: Option<&'a str>,
    pub not_before: i64,
    pub not_after: i64,
    /// `subjectKeyIdentifier`'s value (`hash` or `none`); without one, the
    /// CSR's own is copied.
    pub subject_key_id: Option<&'static str>,
    /// Whether to add an authority key identifier (the CA's key id).
    pub authority_key_id: bool,
    /// No CSR: a self-signed certificate with an empty subject, made
    /// from a throwaway CSR of the key in `$k`.
    pub without_csr: bool,
    pub mode: Option<u32>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
}

/// The lines that sign a certificate with `openssl ca` in a scratch
/// directory and put it in place. `openssl ca` needs a database and a
/// configuration: both are throwaway files there. The configuration keeps
/// the subject exactly as the CSR has it (`-preserveDN` with a policy that
/// requires nothing), copies the CSR's extensions, and says `none` for the
/// key identifiers `openssl ca` would otherwise add of its own.
pub fn sign_lines(how: &Signing<'_>) -> String {
    let mut ext = String::new();
    if let Some(value) = how.subject_key_id {
        ext.push_str(&format!("subjectKeyIdentifier = {value}\n"));
    }
    ext.push_str(if how.authority_key_id {
        "authorityKeyIdentifier = keyid:always\n"
    } else {
        "authorityKeyIdentifier = none\n"
    });
    let config = format!(
        "[ca]\ndefault_ca = dtrplay\n[dtrplay]\ndatabase = index.txt\nnew_certs_dir = .\n\
         serial = serial\npolicy = anything\ncopy_extensions = copy\nunique_subject = no\n\
         x509_extensions = ext\n[anything]\ncommonName = optional\n[ext]\n{ext}"
    );
    let mut s = String::from(SCRATCH_LINES);
    s.push_str(": > \"$w/index.txt\" || fail write\n");
    s.push_str(&write_file_line(&config, "\"$w/ca.cnf\""));
    // `openssl ca` runs in the scratch directory: every input path must
    // be absolute first.
    for var in ["k", "c", "a", "ak"] {
        s.push_str(&absolute_line(var));
    }
    if how.without_csr {
        s.push_str(&write_file_line(
            "[req]\ndistinguished_name = dn\n[dn]\n",
            "\"$w/req.cnf\"",
        ));
        s.push_str(
            "openssl req -new -config \"$w/req.cnf\" -key \"$k\" -passin pass: -subj / \
             -out \"$w/in.csr\" >/dev/null 2>\"$w/err\" || { cat \"$w/err\" >&2; fail req; }\n\
             c=\"$w/in.csr\"\n",
        );
        s.push_str(&absolute_line("c"));
    }
    let signer = if how.ownca {
        "-cert \"$a\" -keyfile \"$ak\""
    } else {
        "-selfsign -keyfile \"$k\""
    };
    s.push_str(&format!(
        "( cd \"$w\" && umask 077 && openssl ca -batch -config ca.cnf -notext -preserveDN -rand_serial \
         -md {md} -startdate {nb} -enddate {na} -passin pass: {signer} -in \"$c\" -out out.pem ) \
         >/dev/null 2>\"$w/err\" || {{ cat \"$w/err\" >&2; fail ca; }}\n",
        md = how.digest.unwrap_or("default"),
        nb = crate::tasks::x509_common::asn1_time(how.not_before),
        na = crate::tasks::x509_common::asn1_time(how.not_after),
    ));
    s.push_str(&install_lines(how.mode, how.owner, how.group));
    s
}

/// Reads one input a `show` line reported: `None` when it is missing in
/// check mode (an earlier task would make it), an error when it is missing
/// otherwise or cannot be read as `parse` expects.
pub fn read_input<T>(
    probe: &Probe,
    name: &str,
    what: &str,
    path: &str,
    check_mode: bool,
    parse: impl Fn(Vec<u8>) -> Option<T>,
) -> Result<Option<T>, PkiError> {
    let unreadable = || PkiError::Unreadable {
        what: what.to_string(),
        path: path.to_string(),
    };
    match probe.input(name)? {
        Input::Der(der) => parse(der).map(Some).ok_or_else(unreadable),
        Input::Absent if check_mode => Ok(None),
        Input::Absent => Err(PkiError::Missing {
            what: what.to_string(),
            path: path.to_string(),
        }),
        Input::Unreadable => Err(unreadable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_separate_fields_from_sections() {
        let probe = Probe::parse("csr=present\ncsr|-----BEGIN X-----\ncsr|YWJj==\nmode=644\n");
        assert_eq!(probe.field("mode"), Some("644"));
        assert_eq!(probe.pem("csr"), Some("-----BEGIN X-----\nYWJj==\n"));
        assert_eq!(probe.input("csr").expect("reported"), Input::Unreadable);
        assert!(probe.input("key").is_err());
        assert!(matches!(
            read_input(&probe, "csr", "the CSR", "/x", true, Some),
            Err(PkiError::Unreadable { .. })
        ));
        let absent = Probe::parse("key=absent\n");
        assert!(matches!(
            read_input(&absent, "key", "k", "/k", true, Some),
            Ok(None)
        ));
        assert!(matches!(
            read_input(&absent, "key", "k", "/k", false, Some),
            Err(PkiError::Missing { .. })
        ));
        assert_eq!(subj_value("a/b+c"), "a\\/b\\+c");
        assert_eq!(conf_value("a$b#"), "a\\$b\\#");
    }
}
