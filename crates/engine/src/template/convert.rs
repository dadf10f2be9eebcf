//! Conversions between data (`serde_json` values, as tasks and hosts give
//! them) and template values, keeping mapping order.
//!
//! Every part of the template engine converts values, so this sits below
//! all of them.

use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectExt, ObjectRepr, Value};

/// A mapping that keeps its keys in insertion order, as YAML and Python
/// dicts do (minijinja's own maps sort their keys).
#[derive(Debug, Default)]
pub(crate) struct OrderedMap(pub(crate) IndexMap<Value, Value>);

impl Object for OrderedMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.0.keys().cloned()))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Builds an ordered map value.
pub(crate) fn map_value(pairs: impl IntoIterator<Item = (Value, Value)>) -> Value {
    Value::from_object(OrderedMap(pairs.into_iter().collect()))
}

/// Converts data to a template value, keeping mapping order.
pub(crate) fn from_json(value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from_object(items.iter().map(from_json).collect::<Vec<_>>()),
        J::Object(map) => map_value(
            map.iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v))),
        ),
    }
}

/// Converts a template value back to data. Values that have no data form
/// (functions, macros) become `null`; undefined values inside containers too.
pub(crate) fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Like `to_json`, but a value that failed (a lazily templated variable
/// inside a scope that is serialized whole) is an error, not `null`.
pub(crate) fn try_to_json(value: &Value) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(value)
}
