//! The server half of Cognito's `USER_SRP_AUTH` (SRP-6a over the RFC 3526 3,072-bit group,
//! SHA-256, Cognito's "Caldera Derived Key" HKDF and password-claim signature), so the lab's
//! user pool signs in apps the way AWS's app libraries do by default.
//!
//! Written with `num-bigint` rather than a crate: the maintained Cognito SRP crates
//! (`aws-cognito-srp`, `cognito_srp`) are client-only, and the generic `srp` crate does not
//! implement Cognito's variant (its `k`, `x`, HKDF and claim signature). The math below is
//! the protocol as AWS's clients compute it (AWS Amplify, amazon-cognito-identity-js,
//! pycognito); the lab's tests run it against two independent clients (the `aws-cognito-srp`
//! crate and Python's `pycognito`).
//!
//! Pure: randomness comes in as arguments.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use num_bigint::BigUint;
use sha2::{Digest, Sha256};

/// RFC 3526 §4, the 3,072-bit MODP group's prime (AWS Cognito's `N`); `g` = 2.
const N_HEX: [&str; 12] = [
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
];
const INFO: &[u8] = b"Caldera Derived Key\x01";

fn n() -> &'static BigUint {
    static N: OnceLock<BigUint> = OnceLock::new();
    N.get_or_init(|| {
        // Invariant: a constant hex string (checked by the `group_is_3072_bits` test).
        BigUint::parse_bytes(N_HEX.concat().as_bytes(), 16).unwrap_or_default()
    })
}

fn g() -> BigUint {
    BigUint::from(2u8)
}

/// Big-endian bytes with a leading zero byte when the high bit is set (SRP's "padded hex").
fn pad(bytes: &[u8]) -> Vec<u8> {
    match bytes.first() {
        Some(b) if *b >= 0x80 => {
            let mut v = Vec::with_capacity(bytes.len() + 1);
            v.push(0);
            v.extend_from_slice(bytes);
            v
        }
        _ => bytes.to_vec(),
    }
}

fn h(parts: &[&[u8]]) -> BigUint {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    BigUint::from_bytes_be(&d.finalize())
}

fn k() -> &'static BigUint {
    static K: OnceLock<BigUint> = OnceLock::new();
    K.get_or_init(|| h(&[&pad(&n().to_bytes_be()), &pad(&g().to_bytes_be())]))
}

/// `x = H(salt || H(poolName || userId || ":" || password))`; `poolName` is the pool id after `_`.
fn x(pool_id: &str, user_id: &str, password: &str, salt: &[u8]) -> BigUint {
    let pool_name = pool_id.split_once('_').map_or(pool_id, |(_, n)| n);
    let inner = Sha256::new()
        .chain_update(pool_name.as_bytes())
        .chain_update(user_id.as_bytes())
        .chain_update(b":")
        .chain_update(password.as_bytes())
        .finalize();
    h(&[&pad(salt), &inner])
}

/// A `PASSWORD_VERIFIER` challenge in progress (kept by the pool, keyed by `SECRET_BLOCK`).
#[derive(Clone, PartialEq, Eq)]
pub struct Pending {
    pub user_id: String,
    a_pub: BigUint,
    b: BigUint,
    b_pub: BigUint,
    verifier: BigUint,
    /// Whether the verifier is the user's (false: unknown user, the claim cannot verify).
    known_user: bool,
    pub salt: Vec<u8>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The ephemeral secret and the verifier stay out of logs.
        f.debug_struct("Pending")
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// Why `SRP_A` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrpError {
    #[error("SRP_A is not a hex number")]
    NotHex,
    #[error("SRP_A is 0 mod N")]
    Degenerate,
}

/// `InitiateAuth` `USER_SRP_AUTH`: the server's ephemeral `B` for the client's `SRP_A`.
/// `password` is `None` for an unknown user: the challenge looks the same, and no claim
/// verifies (Cognito's user-existence-error prevention). `b_random` (32+ bytes) and
/// `salt_random` (16 bytes) come from the caller's RNG.
pub fn start(
    pool_id: &str,
    user_id: &str,
    password: Option<&str>,
    srp_a_hex: &str,
    b_random: &[u8],
    salt_random: &[u8],
) -> Result<Pending, SrpError> {
    let a_pub = BigUint::parse_bytes(srp_a_hex.as_bytes(), 16).ok_or(SrpError::NotHex)?;
    if (&a_pub % n()) == BigUint::default() {
        return Err(SrpError::Degenerate);
    }
    let mut salt = salt_random.to_vec();
    if let Some(first) = salt.first_mut() {
        // A salt whose hex has no leading zero nibble and no sign padding reads the same in
        // every client's padding convention.
        *first = (*first & 0x7f) | 0x10;
    }
    let verifier = match password {
        Some(pw) => g().modpow(&x(pool_id, user_id, pw, &salt), n()),
        None => g().modpow(&BigUint::from_bytes_be(b_random).pow(2), n()),
    };
    let b = BigUint::from_bytes_be(b_random) % n();
    let b_pub = (k() * &verifier + g().modpow(&b, n())) % n();
    Ok(Pending {
        user_id: user_id.to_string(),
        a_pub,
        b,
        b_pub,
        verifier,
        known_user: password.is_some(),
        salt,
    })
}

impl Pending {
    /// `SRP_B` as hex.
    pub fn srp_b_hex(&self) -> String {
        self.b_pub.to_str_radix(16)
    }

    /// `SALT` as hex.
    pub fn salt_hex(&self) -> String {
        hex::encode(&self.salt)
    }

    fn key(&self) -> [u8; 16] {
        let u = h(&[
            &pad(&self.a_pub.to_bytes_be()),
            &pad(&self.b_pub.to_bytes_be()),
        ]);
        // S = (A * v^u)^b mod N
        let s = (&self.a_pub * self.verifier.modpow(&u, n())).modpow(&self.b, n());
        let mut prk = <Hmac<Sha256> as Mac>::new_from_slice(&pad(&u.to_bytes_be()))
            // Invariant: HMAC accepts keys of any length.
            .expect("hmac key");
        prk.update(&pad(&s.to_bytes_be()));
        let prk = prk.finalize().into_bytes();
        let mut okm = <Hmac<Sha256> as Mac>::new_from_slice(&prk).expect("hmac key");
        okm.update(INFO);
        let okm = okm.finalize().into_bytes();
        let mut key = [0u8; 16];
        key.copy_from_slice(&okm[..16]);
        key
    }

    /// `RespondToAuthChallenge` `PASSWORD_VERIFIER`: whether `PASSWORD_CLAIM_SIGNATURE` is
    /// HMAC(key, poolName || userId || SECRET_BLOCK || TIMESTAMP).
    pub fn verify(
        &self,
        pool_id: &str,
        secret_block_b64: &str,
        timestamp: &str,
        signature_b64: &str,
    ) -> bool {
        let Ok(block) = STANDARD.decode(secret_block_b64) else {
            return false;
        };
        let Ok(sig) = STANDARD.decode(signature_b64) else {
            return false;
        };
        let pool_name = pool_id.split_once('_').map_or(pool_id, |(_, n)| n);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key()).expect("hmac key");
        mac.update(pool_name.as_bytes());
        mac.update(self.user_id.as_bytes());
        mac.update(&block);
        mac.update(timestamp.as_bytes());
        // verify_slice compares in constant time.
        mac.verify_slice(&sig).is_ok() && self.known_user
    }
}

/// Cognito's `TIMESTAMP` format: `Tue Feb 4 09:05:01 UTC 2025` (day without leading zero).
pub fn timestamp_is_well_formed(ts: &str) -> bool {
    let parts: Vec<&str> = ts.split(' ').collect();
    parts.len() == 6
        && parts[0].len() == 3
        && parts[1].len() == 3
        && parts[2].parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
        && !parts[2].starts_with('0')
        && parts[3].len() == 8
        && parts[4] == "UTC"
        && parts[5].parse::<u16>().is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn group_is_3072_bits() {
        assert_eq!(n().bits(), 3072);
        assert!(n().bit(0));
    }

    /// A client written from the protocol description (the integration tests also use the
    /// `aws-cognito-srp` crate and pycognito).
    pub(crate) fn client_claim(
        pool_id: &str,
        password: &str,
        a: &BigUint,
        p: &Pending,
        block: &str,
        ts: &str,
    ) -> String {
        let a_pub = g().modpow(a, n());
        let b_pub = BigUint::parse_bytes(p.srp_b_hex().as_bytes(), 16).unwrap();
        let u = h(&[&pad(&a_pub.to_bytes_be()), &pad(&b_pub.to_bytes_be())]);
        let xx = x(
            pool_id,
            &p.user_id,
            password,
            &hex::decode(p.salt_hex()).unwrap(),
        );
        let gx = k() * g().modpow(&xx, n()) % n();
        let base = (&b_pub + n() - gx) % n();
        let s = base.modpow(&(a + &u * &xx), n());
        let mut prk = <Hmac<Sha256> as Mac>::new_from_slice(&pad(&u.to_bytes_be())).unwrap();
        prk.update(&pad(&s.to_bytes_be()));
        let prk = prk.finalize().into_bytes();
        let mut okm = <Hmac<Sha256> as Mac>::new_from_slice(&prk).unwrap();
        okm.update(INFO);
        let key = &okm.finalize().into_bytes()[..16];
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(pool_id.split_once('_').unwrap().1.as_bytes());
        mac.update(p.user_id.as_bytes());
        mac.update(&STANDARD.decode(block).unwrap());
        mac.update(ts.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn a_client_with_the_password_verifies_and_others_do_not() {
        let pool = "us-east-1_LabPool01";
        let a = BigUint::from_bytes_be(&[7u8; 32]);
        let a_hex = g().modpow(&a, n()).to_str_radix(16);
        let p = start(pool, "alice", Some("pw-1"), &a_hex, &[9u8; 32], &[3u8; 16]).unwrap();
        let block = STANDARD.encode(b"opaque-block");
        let ts = "Tue Feb 4 09:05:01 UTC 2025";
        let sig = client_claim(pool, "pw-1", &a, &p, &block, ts);
        assert!(p.verify(pool, &block, ts, &sig));
        let wrong = client_claim(pool, "pw-2", &a, &p, &block, ts);
        assert!(!p.verify(pool, &block, ts, &wrong));
        assert!(!p.verify(pool, &block, "Tue Feb 4 09:05:02 UTC 2025", &sig));
        // Unknown users get a challenge that nothing verifies.
        let q = start(pool, "zed", None, &a_hex, &[9u8; 32], &[3u8; 16]).unwrap();
        let sig = client_claim(pool, "", &a, &q, &block, ts);
        assert!(!q.verify(pool, &block, ts, &sig));
        assert_eq!(
            start(pool, "alice", Some("x"), "zz", &[1], &[1]),
            Err(SrpError::NotHex)
        );
        let n_hex = n().to_str_radix(16);
        assert_eq!(
            start(pool, "alice", Some("x"), &n_hex, &[1], &[1]),
            Err(SrpError::Degenerate)
        );
    }

    #[test]
    fn timestamps_follow_cognitos_format() {
        assert!(timestamp_is_well_formed("Tue Feb 4 09:05:01 UTC 2025"));
        assert!(timestamp_is_well_formed("Mon Feb 10 18:30:12 UTC 2025"));
        assert!(!timestamp_is_well_formed("Tue Feb 04 09:05:01 UTC 2025"));
        assert!(!timestamp_is_well_formed("2025-02-04T09:05:01Z"));
    }
}
