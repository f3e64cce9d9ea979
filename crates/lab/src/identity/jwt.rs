//! RS256 JSON Web Tokens for the lab's Cognito user pool: id, access and refresh-free tokens
//! with Cognito's standard claims. Pure apart from key generation: signing and verification
//! take the time as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is not a JWT")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token claim {0} is missing or wrong")]
    Claim(&'static str),
    #[error("cannot create signing key")]
    Key,
}

/// The user pool's signing key. Generated once per lab start, never persisted.
pub struct JwtSigner {
    key: RsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner").field("kid", &self.kid).finish()
    }
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl JwtSigner {
    pub fn generate() -> Result<Self, JwtError> {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| JwtError::Key)?;
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]);
        Ok(JwtSigner { key, kid })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` (a JSON object) as a compact JWS.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, JwtError> {
        let header = serde_json::json!({ "kid": self.kid, "alg": "RS256" });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| JwtError::Key)?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// Verifies signature and `exp` (and `nbf`-free Cognito semantics: `iat` is informative).
    /// Returns the claims; callers check `iss`, `aud`/`client_id` and `token_use`.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Map<String, Value>, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Value = decode_json(h)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(JwtError::Malformed);
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        let public = UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            self.key.public_key().as_ref(),
        );
        public
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| JwtError::BadSignature)?;
        let claims = match decode_json(c)? {
            Value::Object(m) => m,
            _ => return Err(JwtError::Malformed),
        };
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(JwtError::Claim("exp"))?;
        if epoch(now) >= exp {
            return Err(JwtError::Expired);
        }
        Ok(claims)
    }
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// Cognito user-pool token claims (id or access token), as Cognito issues them.
pub struct TokenClaims<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub sub: &'a str,
    pub username: &'a str,
    pub token_use: &'a str,
    pub issued_at: SystemTime,
    pub ttl_secs: u64,
    pub jti: &'a str,
}

impl TokenClaims<'_> {
    pub fn to_map(&self) -> Map<String, Value> {
        let iat = epoch(self.issued_at);
        let mut m = Map::new();
        m.insert("sub".into(), self.sub.into());
        m.insert("iss".into(), self.issuer.into());
        m.insert("token_use".into(), self.token_use.into());
        m.insert("auth_time".into(), iat.into());
        m.insert("iat".into(), iat.into());
        m.insert("exp".into(), (iat + self.ttl_secs).into());
        m.insert("jti".into(), self.jti.into());
        if self.token_use == "id" {
            m.insert("aud".into(), self.client_id.into());
            m.insert("cognito:username".into(), self.username.into());
        } else {
            m.insert("client_id".into(), self.client_id.into());
            m.insert("username".into(), self.username.into());
            m.insert("scope".into(), "aws.cognito.signin.user.admin".into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;
    use std::time::Duration;

    fn signer() -> &'static JwtSigner {
        static S: OnceLock<JwtSigner> = OnceLock::new();
        S.get_or_init(|| JwtSigner::generate().unwrap())
    }

    fn claims(t: SystemTime, use_: &'static str) -> Map<String, Value> {
        TokenClaims {
            issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Lab",
            client_id: "client1",
            sub: "sub-1",
            username: "alice",
            token_use: use_,
            issued_at: t,
            ttl_secs: 3600,
            jti: "j1",
        }
        .to_map()
    }

    #[test]
    fn round_trip_and_standard_claims() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tok = signer().sign(&claims(t, "id")).unwrap();
        let c = signer().verify(&tok, t + Duration::from_secs(10)).unwrap();
        assert_eq!(c["cognito:username"], "alice");
        assert_eq!(c["aud"], "client1");
        assert_eq!(c["token_use"], "id");
        assert_eq!(c["exp"], 1_800_003_600u64);
        let a = signer()
            .verify(&signer().sign(&claims(t, "access")).unwrap(), t)
            .unwrap();
        assert_eq!(a["client_id"], "client1");
        assert_eq!(a["username"], "alice");
    }

    #[test]
    fn expiry_is_enforced_at_exp() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tok = signer().sign(&claims(t, "id")).unwrap();
        assert_eq!(
            signer().verify(&tok, t + Duration::from_secs(3600)),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn tampered_payload_and_garbage_are_rejected() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tok = signer().sign(&claims(t, "id")).unwrap();
        let parts: Vec<&str> = tok.split('.').collect();
        let mut other = claims(t, "id");
        other.insert("cognito:username".into(), "bob".into());
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(Value::Object(other).to_string()),
            parts[2]
        );
        assert_eq!(signer().verify(&forged, t), Err(JwtError::BadSignature));
        assert_eq!(signer().verify("abc", t), Err(JwtError::Malformed));
        assert_eq!(signer().verify("a.b.c", t), Err(JwtError::Malformed));
        assert_eq!(signer().verify("", t), Err(JwtError::Malformed));
        // A token from another key (another lab instance) does not verify.
        let other_signer = JwtSigner::generate().unwrap();
        let foreign = other_signer.sign(&claims(t, "id")).unwrap();
        assert_eq!(signer().verify(&foreign, t), Err(JwtError::BadSignature));
    }
}
