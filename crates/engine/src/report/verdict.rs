//! What `dtrplay doctor` finds: one [`Verdict`] per trust link (and per
//! node for step 5), which the doctor sends to the reporters as
//! `Event::Verdict` and, all of them at the end, `Event::DoctorSummary`.
//! The types live here, beside the other events' data (`HostResult`), so
//! that the reporters never import the doctor that emits them.

use crate::tasks::push_failure::X509_UNKNOWN_AUTHORITY;

/// What a push shows while step 3 or 4 is broken, on current engines and
/// on the procedure's Docker 1.11 (`push_failure.rs` keeps both texts; the
/// unit test below keeps this line equal to them).
pub const REFUSED_SYMPTOM: &str = "denied: requested access to the resource is denied (Docker 1.11: unauthorized: authentication required)";

/// Which trust link a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Step 2: DTR serves a CA that its own certificate chains to.
    DtrCa,
    /// Step 3.
    UcpKnowsDtr,
    /// Step 4.
    DtrTrustsUcp,
    /// Step 5, per node.
    NodeTrustsDtr,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::DtrCa => "dtr_ca",
            Link::UcpKnowsDtr => "ucp_knows_dtr",
            Link::DtrTrustsUcp => "dtr_trusts_ucp",
            Link::NodeTrustsDtr => "node_trusts_dtr",
        }
    }

    /// The heading people read.
    pub fn title(self) -> &'static str {
        match self {
            Link::DtrCa => "DTR's CA (step 2)",
            Link::UcpKnowsDtr => "UCP knows DTR (step 3)",
            Link::DtrTrustsUcp => "DTR trusts UCP (step 4)",
            Link::NodeTrustsDtr => "node trusts DTR (step 5)",
        }
    }

    /// The error a push from a node shows while this link is broken.
    pub fn symptom(self) -> Option<&'static str> {
        match self {
            Link::UcpKnowsDtr | Link::DtrTrustsUcp => Some(REFUSED_SYMPTOM),
            Link::NodeTrustsDtr => Some(X509_UNKNOWN_AUTHORITY),
            Link::DtrCa => None,
        }
    }
}

/// How a link is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Holds, but needs attention soon (a CA about to expire).
    Warning,
    Broken,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Broken => "broken",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub link: Link,
    /// The node, for per-node links.
    pub node: Option<String>,
    pub health: Health,
    /// What holds (or not), in one sentence.
    pub message: String,
    /// Why it is broken, when it is.
    pub cause: Option<String>,
    /// What to run or change.
    pub fix: Option<String>,
}

impl Verdict {
    pub(crate) fn ok(link: Link, node: Option<&str>, message: impl Into<String>) -> Verdict {
        Verdict {
            link,
            node: node.map(str::to_string),
            health: Health::Ok,
            message: message.into(),
            cause: None,
            fix: None,
        }
    }

    pub(crate) fn broken(
        link: Link,
        node: Option<&str>,
        message: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Verdict {
        Verdict {
            link,
            node: node.map(str::to_string),
            health: Health::Broken,
            message: message.into(),
            cause: Some(cause.into()),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn warning(
        link: Link,
        node: Option<&str>,
        message: impl Into<String>,
        fix: &str,
    ) -> Verdict {
        Verdict {
            link,
            node: node.map(str::to_string),
            health: Health::Warning,
            message: message.into(),
            cause: None,
            fix: Some(fix.to_string()),
        }
    }
}

/// How doctor reached a node (`Event::DoctorStart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Connected, and how: `native SSH (curve25519-sha256)`.
    Connected(String),
    /// Not reached, and why.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::push_failure::{DENIED_20_10, UNAUTHORIZED_1_11};

    #[test]
    fn the_refused_symptom_quotes_both_engine_generations() {
        assert_eq!(
            REFUSED_SYMPTOM,
            format!("{DENIED_20_10} (Docker 1.11: {UNAUTHORIZED_1_11})")
        );
    }
}
