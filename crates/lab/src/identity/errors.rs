//! AWS error shapes: the awsQuery XML envelope (STS) and the awsJson1.1 body (Cognito). The
//! SDKs map an error to a typed variant only by its code, so codes are spelled exactly as AWS
//! spells them; messages never contain secrets (keys, passwords, tokens).

use http::StatusCode;

/// One AWS service error, protocol-neutral until rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AwsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// STS `ValidationError` for a modelled constraint, in AWS's wording.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad_request("ValidationError", message)
    }

    /// `Sender` for client faults, `Receiver` for server faults (awsQuery `<Type>`).
    fn fault(&self) -> &'static str {
        if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// awsQuery error body (STS).
    pub fn to_query_xml(&self, request_id: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{}</Type>\
             <Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            self.fault(),
            self.code,
            xml_escape(&self.message),
            xml_escape(request_id)
        )
    }

    /// awsJson1.1 error body (Cognito).
    pub fn to_json(&self) -> String {
        serde_json::json!({ "__type": self.code, "message": self.message }).to_string()
    }
}

/// Escapes text for XML element content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_xml_has_the_shape_the_sdk_parses() {
        let e = AwsError::forbidden("AccessDenied", "User: a<b> is not authorized");
        let xml = e.to_query_xml("req-1");
        assert!(xml.starts_with("<ErrorResponse"));
        assert!(xml.contains("<Type>Sender</Type><Code>AccessDenied</Code>"));
        assert!(xml.contains("<Message>User: a&lt;b&gt; is not authorized</Message>"));
        assert!(xml.contains("<RequestId>req-1</RequestId>"));
    }

    #[test]
    fn server_faults_are_receiver() {
        let e = AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", "x");
        assert!(e.to_query_xml("r").contains("<Type>Receiver</Type>"));
    }

    #[test]
    fn json_error_uses_dunder_type() {
        let e = AwsError::bad_request("NotAuthorizedException", "Incorrect username or password.");
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["__type"], "NotAuthorizedException");
        assert_eq!(v["message"], "Incorrect username or password.");
    }
}
