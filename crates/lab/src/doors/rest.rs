//! restJson1 responses as AWS IoT's endpoints send them: errors carry the type in the
//! `x-amzn-ErrorType` header and `{"message": ...}` in the body (the SDKs map the type to an
//! error variant, or report it as the code of an unmodelled error); every response carries
//! `x-amzn-RequestId`. Messages never contain secrets.

use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode, header};

/// One restJson1 error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RestError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl RestError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> RestError {
        RestError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `InvalidRequestException` (both APIs model it).
    pub fn invalid(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::BAD_REQUEST, "InvalidRequestException", message)
    }

    /// 404 `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> RestError {
        RestError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    /// The error body: `{"message": ...}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "message": self.message }).to_string()
    }

    pub fn into_response_with(self, request_id: &str) -> Response {
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response();
        let h = r.headers_mut();
        h.insert(
            HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static(self.code),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(HeaderName::from_static("x-amzn-requestid"), v);
        }
        r
    }
}

/// A success: status 200, `content_type`, `body`, with the request id.
pub fn ok(request_id: &str, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    r
}

/// A JSON success.
pub fn ok_json(request_id: &str, v: &serde_json::Value) -> Response {
    ok(request_id, "application/json", v.to_string().into_bytes())
}

/// A fresh request id shaped like AWS's (8-4-4-4-12 lower-case hex).
pub fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    crate::identity::hyphenated(&b)
}

/// Percent-decodes one path segment as the SDKs encode labels; `None` if it is not UTF-8.
pub fn decode_segment(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The raw query string's pairs, decoded (`+` is a space, as form encoding says).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `key` in `pairs`.
pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A boolean query parameter as the SDKs send it (`true`/`false`); absent = `default`.
pub fn query_bool(pairs: &[(String, String)], key: &str, default: bool) -> Result<bool, RestError> {
    match query_get(pairs, key) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(RestError::invalid(format!(
            "Invalid value for {key}: {other} (expected true or false)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_has_the_type_header_and_message_body() {
        let r = RestError::new(StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden")
            .into_response_with("rid-1");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()["x-amzn-errortype"], "ForbiddenException");
        assert_eq!(r.headers()["x-amzn-requestid"], "rid-1");
        assert_eq!(
            RestError::not_found("No thing").body(),
            r#"{"message":"No thing"}"#
        );
    }

    #[test]
    fn segments_and_queries_decode_as_the_sdks_encode() {
        assert_eq!(
            decode_segment("us-east-1%3Aabc").as_deref(),
            Some("us-east-1:abc")
        );
        assert_eq!(decode_segment("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(decode_segment("%FF"), None);
        let q = query_pairs("qos=1&retain=true&name=cfg");
        assert_eq!(query_get(&q, "name"), Some("cfg"));
        assert_eq!(query_bool(&q, "retain", false), Ok(true));
        assert_eq!(query_bool(&q, "missing", false), Ok(false));
        assert!(query_bool(&query_pairs("retain=yes"), "retain", false).is_err());
    }
}
