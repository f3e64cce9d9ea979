//! One row per published rule (docs/evidence-rules.md has a row for each id).

use super::*;
use crate::verdict::Classified::{DeniedIfControlConfirms as Pending, Final};
use crate::verdict::Verdict::{Allowed, Denied, Inconclusive as I};

use MqttVersion::{V5, V311};
use ProbeAction as A;

const BOTH: &[MqttVersion] = &[V5, V311];
const ONLY5: &[MqttVersion] = &[V5];
const ONLY311: &[MqttVersion] = &[V311];
const ALL: &[ProbeAction] = &ProbeAction::ALL;
const NOT_CONNECT: &[ProbeAction] = &[
    A::Publish,
    A::Subscribe,
    A::Receive,
    A::Retain,
    A::ShadowGet,
    A::ShadowUpdate,
    A::ShadowDelete,
];
const PUBLISHING: &[ProbeAction] = &[A::Publish, A::ShadowGet, A::ShadowUpdate, A::ShadowDelete];
const SUBSCRIBING: &[ProbeAction] = &[A::Subscribe, A::Receive];
const WAITS: [Waiting; 9] = Waiting::ALL;
/// The probes that read AWS API answers (every non-MQTT action).
const API: &[ProbeAction] = &[
    A::HttpsPublish,
    A::HttpsShadowGet,
    A::HttpsShadowUpdate,
    A::HttpsShadowDelete,
    A::HttpsShadowList,
    A::HttpsRetainedGet,
    A::HttpsRetainedList,
    A::DeleteConnection,
    A::AttachPolicy,
    A::AttachThingPrincipal,
    A::ListThings,
    A::DescribeThing,
    A::GetPolicy,
    A::ListAttachedPolicies,
    A::AssumeRole,
    A::WebIdentity,
    A::CustomRole,
];
/// API probes whose success is decisive by itself (all but the witness-confirmed publish).
const API_NOT_PUBLISH: &[ProbeAction] = &[
    A::HttpsShadowGet,
    A::HttpsShadowUpdate,
    A::HttpsShadowDelete,
    A::HttpsShadowList,
    A::HttpsRetainedGet,
    A::HttpsRetainedList,
    A::DeleteConnection,
    A::AttachPolicy,
    A::AttachThingPrincipal,
    A::ListThings,
    A::DescribeThing,
    A::GetPolicy,
    A::ListAttachedPolicies,
    A::AssumeRole,
    A::WebIdentity,
    A::CustomRole,
];

const ARN: &str = "arn:aws:iot:us-east-1:123456789012:thing/bob-plug";

fn api(status: u16, error_type: Option<&str>, message: Option<&str>) -> Observation {
    O::ApiAnswer(crate::verdict::ApiAnswer::new(
        status, error_type, message, ARN,
    ))
}

struct Row {
    id: &'static str,
    versions: &'static [MqttVersion],
    actions: &'static [ProbeAction],
    obs: Vec<Observation>,
    want: Classified,
}

fn row(
    id: &'static str,
    versions: &'static [MqttVersion],
    actions: &'static [ProbeAction],
    obs: Vec<Observation>,
    want: Classified,
) -> Row {
    Row {
        id,
        versions,
        actions,
        obs,
        want,
    }
}

use Observation as O;

fn connack(codes: &[u8]) -> Vec<Observation> {
    codes.iter().map(|&code| O::Connack { code }).collect()
}
fn puback(codes: &[u8]) -> Vec<Observation> {
    codes.iter().map(|&code| O::Puback { code }).collect()
}
fn suback(codes: &[u8]) -> Vec<Observation> {
    codes.iter().map(|&code| O::Suback { code }).collect()
}
fn disconnect(code: u8, waits: &[Waiting]) -> Vec<Observation> {
    waits
        .iter()
        .map(|&waiting_for| O::ServerDisconnect { code, waiting_for })
        .collect()
}
fn closed(waits: &[Waiting], after_ms: u64, repeated: bool) -> Vec<Observation> {
    waits
        .iter()
        .map(|&waiting_for| O::ClosedWithoutAck {
            waiting_for,
            after_ms,
            repeated,
        })
        .collect()
}
fn proof() -> DeliveryProof {
    DeliveryProof {
        bait_routed: true,
        through_filter_under_test: true,
        live_before_bait: true,
        caught_up_after_bait: true,
        qos: 1,
        grace_ms: 1_000,
    }
}
fn not_delivered(f: impl Fn(&mut DeliveryProof)) -> Observation {
    let mut p = proof();
    f(&mut p);
    O::NotDelivered { proof: p }
}
fn shadow(accepted: bool, code: Option<u16>) -> Observation {
    O::ShadowAnswer { accepted, code }
}
fn singled(code: u8, attempts: u8, gap_ms: u64) -> Observation {
    O::SubackSingledOut {
        code,
        attempts,
        gap_ms,
    }
}

/// The classification rules, one per row.
fn rules() -> Vec<Row> {
    use Waiting as W;
    let own_sub_pub = [W::Suback, W::Puback];
    vec![
        row(
            "T1",
            BOTH,
            ALL,
            vec![O::CredentialsUnavailable],
            Final(I(Reason::Credentials)),
        ),
        row(
            "T2",
            BOTH,
            ALL,
            vec![
                O::UpgradeRejected { status: 403 },
                O::UpgradeRejected { status: 500 },
            ],
            Final(I(Reason::UpgradeRejected)),
        ),
        row("T3", BOTH, ALL, vec![O::TlsFailed], Final(I(Reason::Tls))),
        row(
            "T4",
            BOTH,
            ALL,
            vec![O::NetworkFailed],
            Final(I(Reason::Network)),
        ),
        row(
            "T5",
            BOTH,
            ALL,
            WAITS
                .iter()
                .map(|&w| O::TimedOut { waiting_for: w })
                .collect(),
            Final(I(Reason::Timeout)),
        ),
        row("T6", BOTH, ALL, vec![O::Aborted], Final(I(Reason::Aborted))),
        row("T9", BOTH, ALL, vec![O::DnsFailed], Final(I(Reason::Dns))),
        row(
            "T10",
            BOTH,
            ALL,
            vec![O::TcpRefused],
            Final(I(Reason::TcpRefused)),
        ),
        row(
            "T7",
            BOTH,
            ALL,
            vec![O::WitnessFailed {
                detail: "witness subscription timed out".into(),
            }],
            Final(I(Reason::WitnessFailed)),
        ),
        row(
            "T8",
            BOTH,
            ALL,
            vec![O::Unexpected {
                detail: "SUBACK without return codes".into(),
            }],
            Final(I(Reason::Protocol)),
        ),
        // CONNACK
        row("C1", BOTH, &[A::Connect], connack(&[0]), Final(Allowed)),
        row("C2", ONLY5, &[A::Connect], connack(&[0x87]), Final(Denied)),
        row(
            "C3",
            ONLY5,
            NOT_CONNECT,
            connack(&[0x87]),
            Final(I(Reason::ConnectRefused)),
        ),
        row(
            "C4",
            ONLY5,
            ALL,
            connack(&[0x97, 0x9F, 0x89, 0x96]),
            Final(I(Reason::Throttled)),
        ),
        row(
            "C5",
            ONLY5,
            ALL,
            connack(&[0x86, 0x8C]),
            Final(I(Reason::Credentials)),
        ),
        row(
            "C6",
            ONLY5,
            ALL,
            connack(&[0x80, 0x85, 0x88]),
            Final(I(Reason::Protocol)),
        ),
        row("C7", ONLY311, &[A::Connect], connack(&[5]), Final(Denied)),
        row(
            "C8",
            ONLY311,
            NOT_CONNECT,
            connack(&[5]),
            Final(I(Reason::ConnectRefused)),
        ),
        row(
            "C9",
            ONLY311,
            ALL,
            connack(&[4]),
            Final(I(Reason::Credentials)),
        ),
        row(
            "C10",
            ONLY311,
            ALL,
            connack(&[3]),
            Final(I(Reason::Network)),
        ),
        row(
            "C11",
            ONLY311,
            ALL,
            connack(&[1, 2]),
            Final(I(Reason::Protocol)),
        ),
        row(
            "C12",
            BOTH,
            NOT_CONNECT,
            connack(&[0]),
            Final(I(Reason::Protocol)),
        ),
        // PUBACK
        row(
            "P1",
            ONLY5,
            PUBLISHING,
            puback(&[0x00, 0x10]),
            Final(Allowed),
        ),
        row("P2", ONLY5, PUBLISHING, puback(&[0x87]), Final(Denied)),
        row("P2", ONLY5, &[A::Retain], puback(&[0x87]), Final(Denied)),
        row(
            "P3",
            ONLY5,
            ALL,
            puback(&[0x97, 0x96, 0x89]),
            Final(I(Reason::Throttled)),
        ),
        row(
            "P4",
            ONLY5,
            ALL,
            puback(&[0x80, 0x83, 0x90, 0x91]),
            Final(I(Reason::Protocol)),
        ),
        row("P5", ONLY311, PUBLISHING, puback(&[0]), Final(Allowed)),
        row(
            "P6",
            ONLY5,
            &[A::Retain],
            puback(&[0x00, 0x10]),
            Final(I(Reason::WitnessFailed)),
        ),
        row(
            "P6",
            ONLY311,
            &[A::Retain],
            puback(&[0]),
            Final(I(Reason::WitnessFailed)),
        ),
        // SUBACK
        row("S1", BOTH, &[A::Subscribe], suback(&[0, 1]), Final(Allowed)),
        row("S2", ONLY5, SUBSCRIBING, suback(&[0x87]), Final(Denied)),
        row(
            "S3",
            ONLY5,
            SUBSCRIBING,
            suback(&[0x97, 0x9F, 0x89, 0x96]),
            Final(I(Reason::Throttled)),
        ),
        row(
            "S4",
            ONLY5,
            SUBSCRIBING,
            suback(&[0x80, 0x8F, 0x91, 0xA2]),
            Final(I(Reason::Protocol)),
        ),
        row(
            "S5",
            BOTH,
            &[A::Receive],
            suback(&[0, 1]),
            Final(I(Reason::Protocol)),
        ),
        row(
            "S6",
            ONLY311,
            SUBSCRIBING,
            suback(&[0x80]),
            Final(I(Reason::Throttled)),
        ),
        row(
            "S7",
            ONLY311,
            SUBSCRIBING,
            vec![singled(0x80, 2, 1_000), singled(0x80, 3, 5_000)],
            Final(Denied),
        ),
        row(
            "S8",
            ONLY311,
            SUBSCRIBING,
            vec![
                singled(0x80, 1, 5_000),
                singled(0x80, 2, 999),
                singled(0x80, 0, 0),
            ],
            Final(I(Reason::Throttled)),
        ),
        row(
            "S9",
            ONLY5,
            SUBSCRIBING,
            vec![singled(0x87, 2, 1_000)],
            Final(Denied),
        ),
        row(
            "S9",
            ONLY5,
            SUBSCRIBING,
            vec![singled(0x97, 2, 1_000)],
            Final(I(Reason::Throttled)),
        ),
        // MQTT 5 DISCONNECT
        row(
            "D1",
            ONLY5,
            NOT_CONNECT,
            disconnect(0x87, &own_sub_pub),
            Final(Denied),
        ),
        row(
            "D1",
            ONLY5,
            &[A::Connect],
            disconnect(0x87, &[W::Connack]),
            Final(Denied),
        ),
        row(
            "D2",
            ONLY5,
            NOT_CONNECT,
            disconnect(0x87, &[W::Connack]),
            Final(I(Reason::ConnectRefused)),
        ),
        row(
            "D3",
            ONLY5,
            ALL,
            disconnect(
                0x87,
                &[W::Auxiliary, W::Delivery, W::Marker, W::Credentials],
            ),
            Final(I(Reason::SocketClosed)),
        ),
        row(
            "D4",
            ONLY5,
            ALL,
            disconnect(0x87, &[W::Witness]),
            Final(I(Reason::WitnessFailed)),
        ),
        row(
            "D5",
            ONLY5,
            ALL,
            disconnect(0x8E, &WAITS),
            Final(I(Reason::SocketClosed)),
        ),
        row(
            "D6",
            ONLY5,
            ALL,
            disconnect(0x97, &WAITS),
            Final(I(Reason::Throttled)),
        ),
        row(
            "D7",
            ONLY5,
            ALL,
            disconnect(0x8B, &WAITS),
            Final(I(Reason::Network)),
        ),
        row(
            "D8",
            ONLY5,
            ALL,
            disconnect(0x81, &WAITS),
            Final(I(Reason::Protocol)),
        ),
        row(
            "D9",
            ONLY311,
            ALL,
            disconnect(0x87, &WAITS),
            Final(I(Reason::Protocol)),
        ),
        // 3.1.1 closes
        row(
            "K1",
            ONLY311,
            NOT_CONNECT,
            closed(&own_sub_pub, CLOSE_WINDOW_MS, true),
            Pending,
        ),
        row(
            "K1",
            ONLY311,
            &[A::Connect],
            closed(&[W::Connack], 40, true),
            Pending,
        ),
        row(
            "K2",
            ONLY311,
            NOT_CONNECT,
            closed(&own_sub_pub, 40, false),
            Final(I(Reason::SocketClosed)),
        ),
        row(
            "K2",
            ONLY311,
            &[A::Connect],
            closed(&[W::Connack], 40, false),
            Final(I(Reason::SocketClosed)),
        ),
        row(
            "K3",
            ONLY311,
            NOT_CONNECT,
            closed(&own_sub_pub, CLOSE_WINDOW_MS + 1, true),
            Final(I(Reason::SocketClosed)),
        ),
        row(
            "K4",
            ONLY311,
            NOT_CONNECT,
            closed(&[W::Connack, W::Credentials], 40, true),
            Final(I(Reason::Network)),
        ),
        row(
            "K5",
            ONLY311,
            ALL,
            closed(&[W::Auxiliary, W::Delivery, W::Marker], 40, true),
            Final(I(Reason::SocketClosed)),
        ),
        row(
            "K6",
            ONLY311,
            ALL,
            closed(&[W::Witness], 40, true),
            Final(I(Reason::WitnessFailed)),
        ),
        row(
            "K7",
            ONLY5,
            ALL,
            closed(&WAITS, 40, true),
            Final(I(Reason::Network)),
        ),
        // deliveries (receive: bait; publish: the witness's view)
        row("R1", BOTH, ALL, vec![O::Delivered], Final(Allowed)),
        row("R2", BOTH, ALL, vec![not_delivered(|_| {})], Final(Denied)),
        row(
            "R2",
            BOTH,
            ALL,
            vec![not_delivered(|p| p.grace_ms = MIN_GRACE_MS)],
            Final(Denied),
        ),
        row(
            "R3",
            BOTH,
            ALL,
            vec![
                not_delivered(|p| p.bait_routed = false),
                not_delivered(|p| {
                    p.bait_routed = false;
                    p.grace_ms = 0;
                }),
            ],
            Final(I(Reason::WitnessFailed)),
        ),
        row(
            "R4",
            BOTH,
            ALL,
            vec![
                not_delivered(|p| p.live_before_bait = false),
                not_delivered(|p| p.caught_up_after_bait = false),
                not_delivered(|p| {
                    p.live_before_bait = false;
                    p.bait_routed = false;
                }),
            ],
            Final(I(Reason::NoDeliveryProof)),
        ),
        row(
            "R5",
            BOTH,
            ALL,
            vec![not_delivered(|p| p.qos = 0)],
            Final(I(Reason::NoDeliveryProof)),
        ),
        row(
            "R6",
            BOTH,
            ALL,
            vec![not_delivered(|p| p.grace_ms = MIN_GRACE_MS - 1)],
            Final(I(Reason::NoDeliveryProof)),
        ),
        row(
            "R7",
            BOTH,
            ALL,
            vec![
                // Markers before and after the bait, the bait routed, a full grace: all
                // through another filter (the harness's seeds 1039 and 5045).
                not_delivered(|p| p.through_filter_under_test = false),
                // Nothing could come through the filter under test, so nothing was baited.
                not_delivered(|p| {
                    p.through_filter_under_test = false;
                    p.live_before_bait = false;
                    p.caught_up_after_bait = false;
                    p.bait_routed = false;
                    p.grace_ms = 0;
                }),
                // Even where the witness never saw the bait, the missing liveness comes first.
                not_delivered(|p| {
                    p.through_filter_under_test = false;
                    p.bait_routed = false;
                }),
            ],
            Final(I(Reason::NoDeliveryProof)),
        ),
        // shadow service answers
        row(
            "H1",
            BOTH,
            PUBLISHING,
            vec![shadow(true, None), shadow(false, Some(404))],
            Final(Allowed),
        ),
        row(
            "H2",
            BOTH,
            PUBLISHING,
            vec![shadow(false, Some(401)), shadow(false, Some(403))],
            Final(Denied),
        ),
        row(
            "H3",
            BOTH,
            PUBLISHING,
            vec![shadow(false, Some(429))],
            Final(I(Reason::Throttled)),
        ),
        row(
            "H4",
            BOTH,
            PUBLISHING,
            vec![
                shadow(false, Some(500)),
                shadow(false, Some(400)),
                shadow(false, Some(409)),
                shadow(false, None),
            ],
            Final(I(Reason::Protocol)),
        ),
        // AWS API answers (HTTPS data plane, control plane, role paths)
        row(
            "W1",
            BOTH,
            API_NOT_PUBLISH,
            vec![
                api(200, None, None),
                api(202, None, None),
                api(204, None, None),
            ],
            Final(Allowed),
        ),
        row(
            "W1",
            BOTH,
            &[A::HttpsPublish],
            vec![api(200, None, None)],
            Final(I(Reason::WitnessFailed)),
        ),
        row(
            "W2",
            BOTH,
            API,
            vec![
                api(
                    403,
                    Some("AccessDenied"),
                    Some(
                        "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: sts:AssumeRole",
                    ),
                ),
                api(
                    403,
                    Some("AccessDeniedException"),
                    Some(
                        "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: iot:AttachPolicy on resource: arn:aws:iot:us-east-1:123456789012:cert/x",
                    ),
                ),
                api(403, Some("com.amazonaws.iot#AccessDeniedException"), None),
                api(401, Some("UnauthorizedException"), Some("Unauthorized")),
                api(401, None, None),
            ],
            Final(Denied),
        ),
        row(
            "W3",
            BOTH,
            API,
            vec![
                api(403, Some("ForbiddenException"), Some("Forbidden")),
                api(403, Some("ForbiddenException"), None),
            ],
            Classified::DeniedIfSignedControlConfirms,
        ),
        row(
            "W4",
            BOTH,
            API,
            vec![api(
                404,
                Some("ResourceNotFoundException"),
                Some("No shadow exists with name: 'x'"),
            )],
            Final(Allowed),
        ),
        row(
            "W5",
            BOTH,
            API,
            vec![api(
                400,
                Some("InvalidParameterException"),
                Some("Basic (classic) flow is not enabled, please use enhanced flow."),
            )],
            Final(Denied),
        ),
        row(
            "W6",
            BOTH,
            API,
            vec![
                api(429, Some("ThrottlingException"), Some("Rate exceeded")),
                api(400, Some("Throttling"), Some("Rate exceeded")),
                api(400, Some("TooManyRequestsException"), None),
                api(429, None, None),
            ],
            Final(I(Reason::Throttled)),
        ),
        row(
            "W7",
            BOTH,
            API,
            vec![
                api(
                    403,
                    Some("ForbiddenException"),
                    Some(
                        "The request signature we calculated does not match the signature you provided.",
                    ),
                ),
                api(
                    403,
                    Some("ForbiddenException"),
                    Some("The security token included in the request is expired"),
                ),
                api(403, Some("InvalidSignatureException"), None),
                api(
                    400,
                    Some("ExpiredTokenException"),
                    Some("The security token included in the request is expired"),
                ),
                api(403, Some("ExpiredToken"), None),
                api(403, Some("UnrecognizedClientException"), None),
                api(403, Some("InvalidClientTokenId"), None),
                api(403, Some("SignatureDoesNotMatch"), None),
                api(
                    400,
                    Some("NotAuthorizedException"),
                    Some("Invalid login token."),
                ),
                // A credential type with a refusal-shaped status is still credentials.
                api(401, Some("ExpiredTokenException"), None),
            ],
            Final(I(Reason::Credentials)),
        ),
        row(
            "W8",
            BOTH,
            API,
            vec![
                api(500, Some("InternalFailureException"), None),
                api(503, Some("ServiceUnavailableException"), None),
                api(502, None, None),
            ],
            Final(I(Reason::ServerError)),
        ),
        row(
            "W9",
            BOTH,
            API,
            vec![
                api(400, Some("InvalidRequestException"), None),
                api(
                    400,
                    Some("InvalidParameterException"),
                    Some("1 validation error detected"),
                ),
                api(409, Some("ConflictException"), None),
                api(413, Some("RequestEntityTooLargeException"), None),
                api(405, Some("MethodNotAllowedException"), None),
                api(400, Some("ValidationError"), None),
            ],
            Final(I(Reason::InvalidRequest)),
        ),
        row(
            "W10",
            BOTH,
            API,
            vec![
                api(403, None, Some("<html>Forbidden</html>")),
                api(404, None, None),
                api(404, Some("NotFound"), None),
                api(302, None, None),
                api(418, Some("Teapot"), None),
            ],
            Final(I(Reason::Protocol)),
        ),
        row(
            "W11",
            BOTH,
            &[A::HttpsShadowUpdate],
            vec![O::ShadowAbsent],
            Final(I(Reason::NoShadow)),
        ),
        // retained messages
        row(
            "A1",
            BOTH,
            &[A::Retain],
            vec![O::RetainedSeen],
            Final(Allowed),
        ),
        row(
            "A2",
            BOTH,
            &[A::Retain],
            vec![O::RetainedNotSeen],
            Final(I(Reason::WitnessFailed)),
        ),
        row(
            "A3",
            BOTH,
            &[A::Retain],
            vec![O::RetainedInUse],
            Final(I(Reason::RetainedInUse)),
        ),
    ]
}

#[test]
fn every_classification_rule_holds() {
    for r in rules() {
        for &version in r.versions {
            for &action in r.actions {
                for obs in &r.obs {
                    assert_eq!(
                        classify(version, action, obs),
                        r.want,
                        "rule {}: MQTT {version} {action} {obs:?}",
                        r.id
                    );
                }
            }
        }
    }
}

/// The repeat rules: which 3.1.1 closes need a second attempt, and what the second makes of
/// them.
#[test]
fn closes_are_repeated_once_on_a_fresh_connection() {
    let close = |w, ms, repeated| O::ClosedWithoutAck {
        waiting_for: w,
        after_ms: ms,
        repeated,
    };
    // K1: a close answering the probe's own request, inside the window, not yet repeated.
    assert!(close_needs_repeat(
        V311,
        A::Subscribe,
        &close(Waiting::Suback, 10, false)
    ));
    assert!(close_needs_repeat(
        V311,
        A::Connect,
        &close(Waiting::Connack, 10, false)
    ));
    assert!(!close_needs_repeat(
        V311,
        A::Publish,
        &close(Waiting::Connack, 10, false)
    ));
    assert!(!close_needs_repeat(
        V311,
        A::Subscribe,
        &close(Waiting::Suback, 10, true)
    ));
    assert!(!close_needs_repeat(
        V311,
        A::Subscribe,
        &close(Waiting::Delivery, 10, false)
    ));
    assert!(!close_needs_repeat(
        V311,
        A::Subscribe,
        &close(Waiting::Suback, CLOSE_WINDOW_MS + 1, false)
    ));
    assert!(!close_needs_repeat(
        V5,
        A::Subscribe,
        &close(Waiting::Suback, 10, false)
    ));

    let first = close(Waiting::Suback, 30, false);
    // The same close again: repeated, the later of the two delays.
    assert_eq!(
        after_repeat(
            V311,
            A::Subscribe,
            &first,
            close(Waiting::Suback, 70, false)
        ),
        close(Waiting::Suback, 70, true)
    );
    // Anything else the second attempt saw is what counts.
    for second in [
        O::Suback { code: 0 },
        O::TimedOut {
            waiting_for: Waiting::Suback,
        },
        close(Waiting::Suback, CLOSE_WINDOW_MS + 5, false),
        close(Waiting::Delivery, 10, false),
        O::NetworkFailed,
    ] {
        assert_eq!(
            after_repeat(V311, A::Subscribe, &first, second.clone()),
            second
        );
    }
}

#[test]
fn pairing_rules() {
    let ctl = |verdict, started_ms, version, fresh| ControlRun {
        verdict,
        started_ms,
        version,
        fresh,
        family: ProbeFamily::Mqtt,
    };
    let ok_after = ctl(Allowed, 200, V311, true);
    let ok_before = ctl(Allowed, 50, V311, true);
    let ok_after_v5 = ctl(Allowed, 200, V5, true);
    let ok_after_pooled = ctl(Allowed, 200, V311, false);
    let failed = ctl(Denied, 200, V311, true);
    let blind = ctl(I(Reason::Timeout), 200, V311, true);
    let cf = I(Reason::ControlFailed);
    let sc = I(Reason::SocketClosed);
    type PairRow = (&'static str, Expect, Classified, Vec<ControlRun>, Verdict);
    let rows: Vec<PairRow> = vec![
        ("X1", Expect::Allow, Pending, vec![ok_after], sc),
        ("X1", Expect::Allow, Final(Allowed), vec![], Allowed),
        ("X1", Expect::Allow, Final(Denied), vec![], Denied),
        ("X2", Expect::Deny, Final(Denied), vec![ok_after], Denied),
        ("X2", Expect::Deny, Final(Denied), vec![ok_before], Denied),
        ("X3", Expect::Deny, Final(Denied), vec![], cf),
        ("X3", Expect::Deny, Final(Denied), vec![failed], cf),
        ("X3", Expect::Deny, Final(Denied), vec![blind], cf),
        (
            "X3",
            Expect::Deny,
            Final(Denied),
            vec![ok_after, failed],
            cf,
        ),
        ("X4", Expect::Deny, Final(Allowed), vec![failed], Allowed),
        ("X4", Expect::Deny, Final(Allowed), vec![], Allowed),
        (
            "X5",
            Expect::Deny,
            Final(I(Reason::Tls)),
            vec![ok_after],
            I(Reason::Tls),
        ),
        (
            "X5",
            Expect::Deny,
            Final(I(Reason::Tls)),
            vec![failed],
            I(Reason::Tls),
        ),
        ("X6", Expect::Deny, Pending, vec![ok_after], Denied),
        (
            "X6",
            Expect::Deny,
            Pending,
            vec![ok_before, ok_after],
            Denied,
        ),
        ("X7", Expect::Deny, Pending, vec![ok_before], sc),
        ("X7", Expect::Deny, Pending, vec![ok_after_v5], sc),
        ("X7", Expect::Deny, Pending, vec![ok_after_pooled], sc),
        ("X8", Expect::Deny, Pending, vec![failed], cf),
        ("X8", Expect::Deny, Pending, vec![blind, ok_after], cf),
        ("X8", Expect::Deny, Pending, vec![], cf),
    ];
    for (id, expect, c, controls, want) in rows {
        assert_eq!(
            pair_with_controls(expect, ProbeFamily::Mqtt, V311, c, 100, &controls),
            want,
            "rule {id}: {expect:?} {c:?} {controls:?}"
        );
    }
}

/// Controls pair by family (X9), and an API's ForbiddenException counts as a denial only
/// beside a same-family control that succeeded with the same credentials (X10).
#[test]
fn family_pairing_rules() {
    use ProbeFamily::{ControlPlane, Https, Mqtt};
    let ctl = |verdict, family| ControlRun {
        verdict,
        started_ms: 0,
        version: V5,
        fresh: true,
        family,
    };
    let signed = Classified::DeniedIfSignedControlConfirms;
    let cf = I(Reason::ControlFailed);
    type Row = (
        &'static str,
        ProbeFamily,
        Expect,
        Classified,
        Vec<ControlRun>,
        Verdict,
    );
    let rows: Vec<Row> = vec![
        // X9: only the canary's own family counts.
        (
            "X9",
            Https,
            Expect::Deny,
            Final(Denied),
            vec![ctl(Allowed, Mqtt)],
            cf,
        ),
        (
            "X9",
            Https,
            Expect::Deny,
            Final(Denied),
            vec![ctl(Allowed, Https), ctl(Denied, Mqtt)],
            Denied,
        ),
        (
            "X9",
            Mqtt,
            Expect::Deny,
            Final(Denied),
            vec![ctl(Allowed, Mqtt), ctl(Denied, ControlPlane)],
            Denied,
        ),
        (
            "X9",
            ControlPlane,
            Expect::Deny,
            Final(Denied),
            vec![
                ctl(Allowed, ControlPlane),
                ctl(I(Reason::Timeout), ControlPlane),
            ],
            cf,
        ),
        // X10: ForbiddenException.
        (
            "X10",
            Https,
            Expect::Deny,
            signed,
            vec![ctl(Allowed, Https)],
            Denied,
        ),
        ("X10", Https, Expect::Deny, signed, vec![], cf),
        (
            "X10",
            Https,
            Expect::Deny,
            signed,
            vec![ctl(Allowed, Mqtt)],
            cf,
        ),
        (
            "X10",
            Https,
            Expect::Deny,
            signed,
            vec![ctl(I(Reason::Credentials), Https)],
            cf,
        ),
        (
            "X10",
            Https,
            Expect::Deny,
            signed,
            vec![ctl(Denied, Https)],
            cf,
        ),
        // A control's own ForbiddenException is not trusted either way.
        (
            "X10",
            Https,
            Expect::Allow,
            signed,
            vec![ctl(Allowed, Https)],
            I(Reason::Credentials),
        ),
    ];
    for (id, family, expect, c, controls, want) in rows {
        assert_eq!(
            pair_with_controls(expect, family, V5, c, 100, &controls),
            want,
            "rule {id}: {family} {expect:?} {c:?} {controls:?}"
        );
    }
}

/// Independent of the rows: over every observation shape, `denied` rests on an explicit
/// refusal or a delivery proof, and a pending close only on a repeated close in the window.
#[test]
fn nothing_is_denied_without_refusal_or_proof() {
    for r in rules() {
        for &version in BOTH {
            for &action in ALL {
                for obs in &r.obs {
                    match classify(version, action, obs) {
                        Final(Denied) => assert!(
                            is_explicit_refusal(version, obs)
                                || matches!(obs, O::NotDelivered { proof } if is_delivery_proof(proof)),
                            "{version} {action} {obs:?}"
                        ),
                        Pending => assert!(
                            matches!(obs, O::ClosedWithoutAck { repeated: true, after_ms, .. } if *after_ms <= CLOSE_WINDOW_MS),
                            "{version} {action} {obs:?}"
                        ),
                        Classified::DeniedIfSignedControlConfirms => assert!(
                            matches!(obs, O::ApiAnswer(a) if a.status == 403 && a.error_type.as_deref() == Some("ForbiddenException")),
                            "{version} {action} {obs:?}"
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Every rule id tested here (classification rows and the pairing rules X1–X8).
fn tested_ids() -> std::collections::BTreeSet<&'static str> {
    let mut tested: std::collections::BTreeSet<&str> = rules().iter().map(|r| r.id).collect();
    tested.extend(["X1", "X2", "X3", "X4", "X5", "X6", "X7", "X8", "X9", "X10"]);
    tested
}

/// The README's verdict table (its `rules` column) cites every tested rule, and only those.
#[test]
fn the_readme_verdict_table_cites_every_rule() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table = readme
        .split("| what the probe saw | verdict | rules |")
        .nth(1)
        .unwrap_or_else(|| panic!("{}: no verdict table", path.display()));
    let cited: std::collections::BTreeSet<String> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.trim_end_matches('|').rsplit('|').next())
        .flat_map(|cell| cell.split_whitespace().map(str::to_string))
        .collect();
    let tested: std::collections::BTreeSet<String> =
        tested_ids().into_iter().map(str::to_string).collect();
    assert_eq!(cited, tested, "rule ids in {} vs tested", path.display());
}

/// docs/evidence-rules.md has a row for every rule id tested here, and no others.
#[test]
fn the_published_table_lists_every_rule() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/evidence-rules.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let documented: std::collections::BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|id| {
            id.len() <= 3
                && id.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && id[1..].chars().all(|c| c.is_ascii_digit())
                && id.len() > 1
        })
        .collect();
    let tested = tested_ids();
    assert_eq!(
        documented,
        tested,
        "rule ids in {} vs tested",
        path.display()
    );
}
