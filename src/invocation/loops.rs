//! A looped task's per-host settings: `loop_control`'s `pause`, `extended`
//! and `extended_allitems`, and the label an item is shown with.
//!
//! Apart from the invocation because these are rendered per host before
//! the items run, and read by the item loop only.

use std::time::Duration;

use serde_json::Value;

use super::conditions::ValueError;
use super::{Invocation, text};
use crate::yaml::Node;

/// `loop_control` settings as rendered for one host.
pub(super) struct LoopSettings {
    pub(super) pause: Duration,
    pub(super) extended: bool,
    pub(super) allitems: bool,
}

impl Invocation<'_> {
    /// `loop_control`'s `pause` (seconds, fractions allowed), `extended`
    /// and `extended_allitems`, rendered for this host.
    pub(super) fn loop_control(&self) -> Result<LoopSettings, ValueError> {
        let lc = &self.task.loop_control;
        let pause = match &lc.pause {
            None => Duration::ZERO,
            Some(node) => {
                let value = self.render(node)?;
                let secs = match &value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
                .ok_or(ValueError::Pause(value))?;
                Duration::from_secs_f64(secs)
            }
        };
        let flag = |node: &Option<Node>, default: bool| -> Result<bool, ValueError> {
            match node {
                None => Ok(default),
                Some(n) => Ok(self.truth(n)?),
            }
        };
        Ok(LoopSettings {
            pause,
            extended: flag(&lc.extended, false)?,
            allitems: flag(&lc.extended_allitems, true)?,
        })
    }

    pub(super) fn item_label(&self, item: &Value) -> String {
        if let Some(label) = &self.task.loop_label
            && let Ok(v) = self.render(label)
        {
            return text(&v);
        }
        text(item)
    }
}
