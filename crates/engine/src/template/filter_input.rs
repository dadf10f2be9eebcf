//! Checks and conversions of the values filters and tests are given, shared
//! by every file of filters and tests.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Fails for an undefined input. Filters that take `&Value` see undefined
/// values even in strict mode, and only `default`-like filters should.
pub(crate) fn require(value: &Value, filter: &str) -> Result<(), Error> {
    if value.is_undefined() {
        Err(Error::new(
            ErrorKind::UndefinedError,
            format!("the value given to `{filter}` is undefined"),
        ))
    } else {
        Ok(())
    }
}

/// Python's `str()`: `True`, `None`, and strings as themselves.
pub(crate) fn py_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.to_string(),
        ValueKind::None => "None".to_string(),
        _ => value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string),
    }
}
