//! The payloads a probe publishes: inert JSON that names the canary, the probe run's nonce, a
//! kind (bait, marker, publish, retain, ...) and a sequence number, so every message a probe
//! waits for is recognised exactly — never by a substring, never one of another run's.

use bytes::Bytes;

/// One marked payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub kind: &'static str,
    pub canary: String,
    pub nonce: String,
    pub seq: u32,
}

impl Mark {
    pub fn bytes(&self) -> Bytes {
        Bytes::from(
            serde_json::json!({
                "iot_canary": true,
                "kind": self.kind,
                "canary": self.canary,
                "nonce": self.nonce,
                "seq": self.seq,
            })
            .to_string(),
        )
    }
}

/// A received payload read as a mark: `(kind, canary, nonce, seq)`; `None` for anything else.
pub fn read(payload: &[u8]) -> Option<(String, String, String, u32)> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if v.get("iot_canary")?.as_bool()? {
        Some((
            v.get("kind")?.as_str()?.to_string(),
            v.get("canary")?.as_str()?.to_string(),
            v.get("nonce")?.as_str()?.to_string(),
            u32::try_from(v.get("seq")?.as_u64()?).ok()?,
        ))
    } else {
        None
    }
}

/// Whether `payload` is this run's mark of `kind` (any sequence number at or after `from`).
pub fn is(payload: &[u8], nonce: &str, kind: &str, from: u32) -> bool {
    read(payload).is_some_and(|(k, _, n, s)| k == kind && n == nonce && s >= from)
}

/// Whether `payload` is a retained mark this canary left (any run), so the probe may
/// overwrite and clear it.
pub fn is_own_retained(payload: &[u8], canary: &str) -> bool {
    read(payload).is_some_and(|(k, c, _, _)| k == "retain" && c == canary)
}

/// The `clientToken` of a shadow service answer.
pub fn client_token(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    Some(v.get("clientToken")?.as_str()?.to_string())
}

/// The `code` of a shadow service `…/rejected` answer.
pub fn rejected_code(payload: &[u8]) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    u16::try_from(v.get("code")?.as_u64()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_match_exactly() {
        let m = Mark {
            kind: "bait",
            canary: "c\"1".into(),
            nonce: "iotc-1".into(),
            seq: 3,
        };
        let b = m.bytes();
        assert_eq!(
            read(&b),
            Some(("bait".into(), "c\"1".into(), "iotc-1".into(), 3))
        );
        assert!(is(&b, "iotc-1", "bait", 3));
        assert!(!is(&b, "iotc-1", "bait", 4));
        assert!(!is(&b, "iotc-1", "marker", 0));
        // Another run's nonce that contains this one is another run.
        assert!(!is(&b, "iotc-", "bait", 0));
        let marker = Mark {
            kind: "marker",
            nonce: "iotc-1-2".into(),
            ..m.clone()
        };
        assert!(!is(&marker.bytes(), "iotc-1", "marker", 0));
        assert_eq!(read(b"not json"), None);
        assert_eq!(read(br#"{"iot_canary":false}"#), None);
        let retained = Mark {
            kind: "retain",
            ..m
        };
        assert!(is_own_retained(&retained.bytes(), "c\"1"));
        assert!(!is_own_retained(&retained.bytes(), "c2"));
        assert!(!is_own_retained(b"{\"temp\":21}", "c\"1"));
    }

    #[test]
    fn shadow_answers() {
        let a = br#"{"code":403,"message":"Forbidden","clientToken":"iotc-1"}"#;
        assert_eq!(client_token(a).as_deref(), Some("iotc-1"));
        assert_eq!(rejected_code(a), Some(403));
        assert_eq!(rejected_code(br#"{"state":{}}"#), None);
    }
}
