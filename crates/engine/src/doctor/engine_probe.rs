//! doctor asks each node's Docker engine itself whether it trusts DTR,
//! with the classification `push-test` uses (`tasks/push_failure.rs`).
//!
//! The question is an anonymous `docker pull` of a tag that never exists
//! (`<dtr>/dtrplay-doctor/probe:absent`): the engine dials DTR with its own
//! trust (certs.d, the system store, its insecure-registry rules), so a
//! certificate error is the engine's own verdict on step 5, and any answer
//! from the registry (`denied`, `manifest unknown`, `not found`) proves that
//! TLS trust holds. Nothing is stored, so doctor stays read-only. Nodes
//! without an engine socket are not asked (their `docker` would have
//! nothing to talk to, and a client may create its configuration
//! directory).

use crate::tasks::dump_certs::shell_quote;
use crate::tasks::push_failure::{self, PushFailure};

/// The repository and tag of the probe, under DTR's host.
pub const PROBE_IMAGE: &str = "dtrplay-doctor/probe:absent";

/// What the script prints when the node has no engine to ask.
const NO_ENGINE: &str = "dtrplay-doctor: no docker engine socket";

/// Texts of a registry that answered (the tag or repository is unknown).
const REGISTRY_ANSWERS: [&str; 4] = [
    "manifest unknown",
    "not found",
    "name unknown",
    "repository does not exist",
];

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAnswer {
    /// The registry answered: the engine verified DTR.
    Verified,
    /// The engine failed with a text that names a link (the line quoted).
    Failed { failure: PushFailure, line: String },
    /// Not asked, or the answer names nothing (the reason quoted).
    Unknown(String),
}

/// The read-only probe for `registry_host`, all output on stdout.
pub fn script(registry_host: &str) -> String {
    let reference = format!("{registry_host}/{PROBE_IMAGE}");
    format!(
        "if [ -S /run/docker.sock ] || [ -S /var/run/docker.sock ]; then :; else echo '{NO_ENGINE}'; exit 0; fi\n\
         exec 2>&1\n\
         exec docker pull {}\n",
        shell_quote(&reference)
    )
}

/// Classifies what [`script`] printed.
pub fn classify(output: &str) -> EngineAnswer {
    if output.contains(NO_ENGINE) {
        return EngineAnswer::Unknown("the node has no Docker engine socket".into());
    }
    let failure = push_failure::classify(output);
    let line = |needle: &str| {
        let needle = needle.to_ascii_lowercase();
        output
            .lines()
            .find(|l| l.to_ascii_lowercase().contains(&needle))
            .unwrap_or(needle.as_str())
            .trim()
            .to_string()
    };
    match failure {
        PushFailure::Refused => EngineAnswer::Verified,
        PushFailure::UnknownAuthority
        | PushFailure::WrongName
        | PushFailure::Expired
        | PushFailure::MissingClientKey => EngineAnswer::Failed {
            failure,
            line: line(match failure {
                PushFailure::WrongName => push_failure::X509_WRONG_NAME,
                PushFailure::MissingClientKey => push_failure::MISSING_CLIENT_KEY_20_10,
                other => other.text(),
            }),
        },
        PushFailure::Other => {
            let lower = output.to_ascii_lowercase();
            if REGISTRY_ANSWERS.iter().any(|t| lower.contains(t)) {
                EngineAnswer::Verified
            } else {
                let last = output
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output");
                EngineAnswer::Unknown(format!("`docker pull` said `{}`", last.trim()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_answers_of_three_generations() {
        let x509 = "Error response from daemon: Get \"https://dtr.lab.test:4443/v2/\": x509: certificate signed by unknown authority";
        match classify(x509) {
            EngineAnswer::Failed { failure, line } => {
                assert_eq!(failure, PushFailure::UnknownAuthority);
                assert_eq!(line, x509);
            }
            other => panic!("{other:?}"),
        }
        for verified in [
            "Error response from daemon: pull access denied for dtr/dtrplay-doctor/probe, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            "Error response from daemon: manifest for dtr/dtrplay-doctor/probe:absent not found: manifest unknown: manifest unknown",
            "Error: image dtrplay-doctor/probe:absent not found",
        ] {
            assert_eq!(classify(verified), EngineAnswer::Verified, "{verified}");
        }
        assert!(matches!(
            classify(&format!("{NO_ENGINE}\n")),
            EngineAnswer::Unknown(_)
        ));
        assert!(matches!(
            classify("Cannot connect to the Docker daemon at unix:///var/run/docker.sock"),
            EngineAnswer::Unknown(_)
        ));
        assert!(script("dtr:4443").contains("docker pull dtr:4443/dtrplay-doctor/probe:absent\n"));
    }
}
