//! Why `ssh_config.rs` does not resolve a host's OpenSSH configuration
//! natively: something in effect that the native client does not
//! implement, or that cannot be read. Each refusal says where (`place`:
//! `~/.ssh/config:12`, `-o`, `-J`) when it comes from a line, and
//! `Resolution::NotUnderstood` shows it; `auto` then uses OpenSSH for the
//! host, and `native` makes it the host's error.

use std::path::PathBuf;

/// One reason a host's configuration is not understood natively.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("cannot parse the jump host `{text}`")]
    JumpHost { text: String },
    /// A refusal about a value given on a line or option, with its place.
    #[error("{refusal} ({place})")]
    At {
        refusal: Box<Refusal>,
        place: String,
    },
    #[error("the ssh config file {} cannot be read", path.display())]
    Unreadable { path: PathBuf },
    /// A word of `ansible_ssh_common_args` that is no option.
    #[error("the ssh argument `{word}` in ansible_ssh_common_args is not supported natively")]
    Argument { word: String },
    #[error("the ssh option `{word}` in ansible_ssh_common_args is not supported natively")]
    Option { word: String },
    #[error("the ssh option `{word}` lacks its value")]
    MissingValue { word: String },
    #[error("cannot parse the ssh option `-o {value}`")]
    OptionSyntax { value: String },
    #[error("cannot parse line {place}")]
    LineSyntax { place: String },
    #[error("Match blocks are not supported natively ({place})")]
    Match { place: String },
    #[error("Include nests too deeply ({place})")]
    IncludeDepth { place: String },
    #[error("{keyword} takes one value ({place})")]
    OneValue { keyword: String, place: String },
    /// A yes/no keyword with another value (`ask`, `confirm`).
    #[error("{keyword} {value} is not supported natively ({place})")]
    YesNo {
        keyword: String,
        value: String,
        place: String,
    },
    #[error("StrictHostKeyChecking {value} is not one of yes, accept-new, no, ask ({place})")]
    Strict { value: String, place: String },
    /// An algorithm list that `algorithms::list` refuses.
    #[error("{reason} ({keyword} in {place})")]
    Algorithms {
        reason: String,
        keyword: &'static str,
        place: String,
    },
    #[error("AddressFamily {value} is not one of any, inet, inet6 ({place})")]
    AddressFamily { value: String, place: String },
    #[error("{keyword} must be a number ({place})")]
    Number {
        keyword: &'static str,
        place: String,
    },
    #[error("PubkeyAuthentication no is not supported natively ({place})")]
    NoPubkey { place: String },
    /// A keyword the native client does not implement, in OpenSSH's spelling.
    #[error("{keyword} is not supported natively ({place})")]
    Keyword { keyword: String, place: String },
    #[error("IdentityAgent names ${name}, which is not set")]
    UnsetAgent { name: String },
    /// A `%` token that only OpenSSH expands, in the text it was found in
    /// (`HostName`, or the path).
    #[error("the token %{token} in {text} is not supported natively")]
    Token { token: String, text: String },
    #[error("the path {path} names another user's home, which is not supported natively")]
    OtherHome { path: String },
    #[error("environment variables in the path {path} are not supported natively")]
    EnvInPath { path: String },
    #[error("`{value}` is not a port number")]
    Port { value: String },
}
