//! The `set_fact` task: set variables on the host for the rest of the run.
//! It never touches the host and always succeeds, in check mode too.
//!
//! Its arguments are the variables themselves, so there is no fixed list of
//! parameter names. The spec says so with a single parameter named
//! [`ANY_ARG`] (`*`), which the loader treats as "any other key, of this
//! kind": validation then accepts every name and coercion passes values
//! through unchanged. `cacheable` is accepted and ignored (there is no fact
//! cache).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The parameter name that stands for "any other argument".
pub const ANY_ARG: &str = "*";

/// The variables to set, in the order written.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct SetFact {
    pub facts: Map<String, Value>,
}

/// The parameters of `set_fact`: `cacheable`, plus any variable name.
pub fn spec() -> Spec {
    Spec::new(
        "set_fact",
        vec![
            Param::new("cacheable", Kind::Bool).default(false),
            Param::new(ANY_ARG, Kind::Raw),
        ],
    )
}

impl TryFrom<Map<String, Value>> for SetFact {
    type Error = String;

    fn try_from(mut args: Map<String, Value>) -> Result<SetFact, String> {
        args.remove("cacheable");
        let mut facts = Map::new();
        for (name, value) in args {
            if !is_identifier(&name) {
                return Err(format!(
                    "The variable name '{name}' is not valid. Variables must start with a letter \
                     or underscore character, and contain only letters, numbers and underscores."
                ));
            }
            facts.insert(name, boolean_word(value));
        }
        Ok(SetFact { facts })
    }
}

/// Ansible turns the strings `true`/`false`/`yes`/`no` (any case) into
/// booleans in `set_fact`, mostly for `key=value` arguments.
fn boolean_word(value: Value) -> Value {
    if let Value::String(s) = &value {
        match s.to_ascii_lowercase().as_str() {
            "true" | "yes" => return Value::Bool(true),
            "false" | "no" => return Value::Bool(false),
            _ => {}
        }
    }
    value
}

fn is_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SetFact {
    fn outcome(&self) -> Outcome {
        let mut outcome = Outcome::ok().with_data("ansible_facts", self.facts.clone());
        outcome.facts = self.facts.clone();
        outcome
    }
}

#[async_trait]
impl Task for SetFact {
    type Drift = ();

    async fn check(&self, _cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        Ok(Check::InSync(self.outcome()))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // `check` never reports drift, so this only runs if called directly.
        Ok(self.outcome())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_keep_order_and_drop_cacheable() {
        let fact: SetFact =
            serde_json::from_value(json!({"b": 1, "a": "yes", "cacheable": true, "c": "x"}))
                .expect("valid");
        assert_eq!(
            Value::Object(fact.facts),
            json!({"b": 1, "a": true, "c": "x"})
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let err = serde_json::from_value::<SetFact>(json!({"1x": 1})).expect_err("refused");
        assert!(
            err.to_string()
                .contains("The variable name '1x' is not valid")
        );
    }
}
