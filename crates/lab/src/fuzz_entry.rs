//! Entry points shared by the fuzz targets (fuzz/fuzz_targets/lab_*.rs) and the seeded smoke
//! test (crates/lab/tests/it/fuzz_smoke.rs): arbitrary bytes through the broker's packet
//! handling and the SigV4 URL verifier. Property: never panic; malformed input only ends that connection.

use std::time::{Duration, SystemTime};

use bytes::BytesMut;

use crate::broker::codec::{self, Inbound, Version};
use crate::broker::decide;
use crate::realism::{self, Realism};
use crate::shadow;
use crate::sigv4::verify::{self, EMPTY_PAYLOAD_SHA256, IOT_SERVICE, RequestParts, TokenMode};

/// Feeds `data` as a stream of websocket payloads (split at arbitrary points chosen by the
/// first byte) through version sniffing, decoding and the per-packet decisions.
pub fn packets(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut buf = BytesMut::new();
    let mut version = None;
    let mut shadows = shadow::Shadows::default();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            if version.is_none() {
                match codec::sniff_version(&buf) {
                    Ok(Some(v)) => version = Some(v),
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            let v = version.unwrap_or(Version::V311);
            match codec::decode(v, &mut buf, 128 * 1024) {
                Ok(Some(p)) => exercise(v, p, &mut shadows),
                Ok(None) => break,
                // The session closes the connection here.
                Err(_) => return,
            }
        }
    }
}

fn exercise(v: Version, p: Inbound, shadows: &mut shadow::Shadows) {
    match p {
        Inbound::Publish {
            publish:
                codec::Publish {
                    topic,
                    qos,
                    retain,
                    pkid,
                    payload,
                },
            ..
        } => {
            let d = decide::on_publish(decide::PublishFacts {
                version: v,
                qos,
                pkid,
                retain,
                topic_valid: decide::valid_topic(&topic),
                rate_ok: true,
                quota_fault: false,
                publish_allowed: true,
                retain_allowed: retain,
                // The `aws` profile's checks on the same input.
                before_auth: realism::decide::publish_topic_error(&Realism::aws(), &topic, retain)
                    .then_some(decide::PublishQuota::TopicError { disconnect: false }),
                retained_over_quota: false,
            });
            for a in d.actions {
                if let decide::Action::Send(o) = a {
                    let _ = codec::encode(v, &o);
                }
            }
            if let Some(t) = shadow::parse_topic(&topic) {
                let _ = shadows.handle(&t, &payload, 0);
            }
            let _ = decide::topic_matches(&topic, "a/#");
        }
        Inbound::Subscribe { pkid, filters } => {
            let facts: Vec<decide::FilterFacts> = filters
                .into_iter()
                .map(|(filter, qos)| decide::FilterFacts {
                    valid: decide::valid_filter(&filter),
                    allowed: true,
                    quota: realism::decide::over_topic_limits(&Realism::aws(), &filter)
                        .then_some(decide::FilterQuota::TopicLimit),
                    filter,
                    qos,
                })
                .collect();
            let too_many = realism::decide::too_many_filters(&Realism::aws(), facts.len())
                .then_some(decide::TooManyFilters::SubAck);
            let _ = decide::on_subscribe(v, pkid, &facts, false, too_many);
        }
        _ => {}
    }
}

/// Treats `data` as a request target (`/path?query`) and verifies it as the gateway would.
pub fn url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let headers = vec![("host".to_string(), "127.0.0.1:8443".to_string())];
    let parts = RequestParts {
        method: "GET",
        path,
        query,
        headers: &headers,
        payload_sha256: EMPTY_PAYLOAD_SHA256,
        normalize_path: true,
    };
    if let Ok(q) = verify::parse_presigned_query(query) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let _ = verify::verify_presigned(
            &parts,
            &q,
            "secret",
            IOT_SERVICE,
            Some("us-east-1"),
            TokenMode::Unsigned,
            now,
        );
    }
    let _ = verify::canonical_uri(path, true);
}
