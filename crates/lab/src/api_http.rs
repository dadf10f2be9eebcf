//! What every simulator handler shares: JSON responses and the error
//! envelope UCP, DTR and the registry use, request bodies, timestamps, and
//! the lock on shared state.

use std::sync::{Mutex, MutexGuard};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Locks `mutex`; a handler that panicked while holding it leaves the state
/// as it was, which is still the best state the lab has.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The current UTC time as RFC 3339 with whole seconds.
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// The error envelope UCP, DTR and the registry share:
/// `{"errors":[{"code","message"[,"detail"]}]}` (ucp-dtr-api.md §6).
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<Value>,
) -> Response {
    let mut error = json!({ "code": code, "message": message });
    if let Some(detail) = detail {
        error["detail"] = detail;
    }
    json_response(status, &json!({ "errors": [error] }))
}

/// Parses a JSON request body whatever its Content-Type says, as Go servers
/// do (curl sends JSON bodies without one).
pub(crate) fn parse_json_object(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}
