//! The operator API's errors: one JSON shape for every refusal,
//! `{"error": "...", "field": "contacts[2].groups[0]"}`, so a script can
//! point at the field to fix without parsing prose.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

/// A refused API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 400 for bad input, 500 for a failed store commit, 503 when the SIP
    /// core cannot take the request.
    pub status: StatusCode,
    /// What is wrong, for a person.
    pub error: String,
    /// The path of the offending field in the request (`body` for the
    /// body as a whole, `uri` for the URI in the request's path); none
    /// when the request is fine and the server is not.
    pub field: Option<String>,
}

impl ApiError {
    /// Bad input in `field`.
    pub fn bad_request(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: Some(field.into()),
        }
    }

    /// The server could not do it; not the client's fault.
    pub fn server(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
        }
    }

    /// The control queue to the SIP core is full or closed.
    pub fn core_busy() -> ApiError {
        ApiError::server(
            StatusCode::SERVICE_UNAVAILABLE,
            "the SIP core is busy or stopping; retry",
        )
    }

    /// The SIP core dropped the request (it is stopping).
    pub fn core_stopped() -> ApiError {
        ApiError::server(StatusCode::SERVICE_UNAVAILABLE, "the SIP core stopped")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.error });
        if let Some(field) = self.field {
            body["field"] = field.into();
        }
        (self.status, Json(body)).into_response()
    }
}

/// Decodes a JSON body into `T`, which should deny unknown fields. A
/// failure names the field: the path serde was at (`contacts[2].groups[0]`
/// for a mistyped id), extended by the field's own name when it is
/// missing or unknown (`contacts[2].name`), `body` when nothing more
/// precise is known (not JSON at all, trailing bytes).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        ApiError::bad_request(field_of(&path, &message), message)
    })?;
    json.end()
        .map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    Ok(value)
}

/// The field a serde error is about: its path, plus the name serde quotes
/// when the field itself is missing or not one of ours.
fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(name)) if !path.ends_with(&format!(".{name}")) && path != name => {
            format!("{path}.{name}")
        }
        (path, _) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by serde only
    struct Outer {
        items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        id: u32,
        name: String,
    }

    fn field(json: &str) -> String {
        parse_json::<Outer>(json.as_bytes())
            .expect_err("refused")
            .field
            .expect("a field")
    }

    #[test]
    fn a_refused_body_names_the_field() {
        assert_eq!(
            field(r#"{"items": [{"id": 1, "name": "a"}, {"id": "2", "name": "b"}]}"#),
            "items[1].id"
        );
        assert_eq!(field(r#"{"items": [{"id": 1}]}"#), "items[0].name");
        assert_eq!(
            field(r#"{"items": [{"id": 1, "name": "a", "colour": 3}]}"#),
            "items[0].colour"
        );
        assert_eq!(field(r#"{}"#), "items");
        assert_eq!(field(r#"{"items": [], "more": 1}"#), "more");
        assert_eq!(field(r#"not json"#), "body");
        assert_eq!(field(r#"{"items": []} trailing"#), "body");
        assert_eq!(field(r#"[]"#), "body");
        assert!(parse_json::<Outer>(br#"{"items": [{"id": 1, "name": "a"}]}"#).is_ok());
    }
}
