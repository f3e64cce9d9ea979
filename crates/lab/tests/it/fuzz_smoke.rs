//! Seeded, deterministic stand-in for the fuzz targets (fuzz/fuzz_targets/lab_*.rs) that runs
//! in every `cargo test`: mutated valid packets and URLs must never panic.

use iot_canary_lab::fuzz_entry;
use rand::{Rng, SeedableRng};

fn mutate(rng: &mut rand::rngs::StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..8) {
        match rng.random_range(0..4) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            1 => {
                let i = rng.random_range(0..=v.len());
                v.insert(i, rng.random());
            }
            2 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v.truncate(i);
            }
            _ => v.extend((0..rng.random_range(0..16)).map(|_| rng.random::<u8>())),
        }
    }
    v
}

#[test]
fn mutated_packets_never_panic() {
    // split byte, then a 3.1.1 CONNECT, PUBLISH QoS1 to a shadow topic, SUBSCRIBE.
    let mut seed = vec![7u8];
    seed.extend_from_slice(&[
        0x10, 0x11, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30, 0, 5, b'd', b'e', b'v', b'-', b'1',
    ]);
    let topic = b"$aws/things/x/shadow/update";
    let payload = br#"{"state":{"desired":{"a":{"b":null}}},"version":0}"#;
    seed.push(0x32);
    seed.push((2 + topic.len() + 2 + payload.len()) as u8);
    seed.extend_from_slice(&[0, topic.len() as u8]);
    seed.extend_from_slice(topic);
    seed.extend_from_slice(&[0, 1]);
    seed.extend_from_slice(payload);
    seed.extend_from_slice(&[0x82, 0x08, 0, 2, 0, 3, b'a', b'/', b'#', 1]);
    let mut v5 = seed.clone();
    v5[9] = 5; // protocol level 5 (properties are then misparsed: good fuzz input too)
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1ab);
    fuzz_entry::packets(&seed);
    for _ in 0..20_000 {
        fuzz_entry::packets(&mutate(&mut rng, &seed));
        fuzz_entry::packets(&mutate(&mut rng, &v5));
    }
}

#[test]
fn mutated_urls_never_panic() {
    let seed = b"/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=00ff&X-Amz-Security-Token=a%2Bb";
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5197);
    fuzz_entry::url(seed);
    for _ in 0..20_000 {
        fuzz_entry::url(&mutate(&mut rng, seed));
    }
}
