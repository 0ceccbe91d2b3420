//! The OAUTHBEARER token validator, as Kafka's broker-side JWT validator (KIP-768): a JWS
//! signed with RS256/384/512, PS256/384/512, ES256 or ES384 by a key of a configured JWK set
//! (chosen by the token's `kid`, or the only key if the token has none), with `exp` and
//! `iat` required, `exp` in the future and `nbf` in the past (both within the allowed clock
//! skew), `aud` containing one expected audience if any are set, `iss` equal to the expected
//! issuer if set; the principal is the configured subject claim (`sub` by default).
//!
//! Pure: the caller passes `now_ms`, and fetching or refreshing the JWK set is the caller's
//! job ([`OAuthValidator::reload`]). Immutable once built; share it behind an `Arc`.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Why a JWK set could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthConfigError {
    /// The text is not a JWK set (`{"keys":[...]}`).
    #[error("invalid JWK set: {0}")]
    InvalidJwks(String),
    /// No key of the set is an RSA or P-256/P-384 EC public key.
    #[error("the JWK set has no usable RSA or EC (P-256, P-384) signing key")]
    NoUsableKey,
}

/// Why a token was refused (logged by the broker; the client only sees `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or a header or payload that is not JSON.
    #[error("malformed JWT: {0}")]
    Malformed(String),
    /// The `alg` is not one Kafka's validator accepts (`none`, HMAC, EdDSA).
    #[error("JWT algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    /// No key of the JWK set has the token's `kid` and algorithm.
    #[error("no verification key for kid {kid:?} and algorithm {alg}")]
    NoKey {
        /// The token's `kid`.
        kid: Option<String>,
        /// The token's `alg`.
        alg: String,
    },
    /// The signature does not verify.
    #[error("invalid JWT signature")]
    BadSignature,
    /// A required claim is missing or of the wrong type.
    #[error("claim {0} is missing or invalid")]
    Claim(&'static str),
    /// `exp` (plus skew) is not after now.
    #[error("token expired at {exp_ms} ms (now {now_ms} ms)")]
    Expired {
        /// The expiry.
        exp_ms: i64,
        /// The caller's clock.
        now_ms: i64,
    },
    /// `nbf` (minus skew) is after now.
    #[error("token not valid before {nbf_ms} ms (now {now_ms} ms)")]
    NotYetValid {
        /// The token's `nbf`.
        nbf_ms: i64,
        /// The caller's clock.
        now_ms: i64,
    },
    /// `aud` has none of the expected audiences.
    #[error("token audience does not contain any of the expected audiences")]
    Audience,
    /// `iss` is not the expected issuer.
    #[error("token issuer is not the expected issuer")]
    Issuer,
}

/// A token that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedToken {
    /// The subject claim's value: the user name.
    pub principal: String,
    /// `exp`, in ms since the epoch.
    pub expires_at_ms: i64,
}

/// The curve or family a key verifies for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
}

/// One usable key of the JWK set.
#[derive(Clone)]
struct VerificationKey {
    /// The JWK's `kid`.
    kid: Option<String>,
    /// RSA or which EC curve; an algorithm of another family is never tried with it (the
    /// signature library would panic on such a mix).
    kind: KeyKind,
    /// The JWK's `alg`, if it pins one.
    alg: Option<String>,
    /// The key itself.
    key: DecodingKey,
}

/// Validates OAUTHBEARER JWTs against a JWK set.
#[derive(Clone)]
pub struct OAuthValidator {
    /// The usable keys of the set.
    keys: Vec<VerificationKey>,
    /// `sasl.oauthbearer.expected.audience`: empty means any.
    expected_audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`.
    expected_issuer: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name`.
    sub_claim: String,
    /// `sasl.oauthbearer.clock.skew.seconds`.
    clock_skew_s: i64,
    /// Set when a token named a key the set lacks (the set may have rotated): the broker
    /// refetches the set soon after ([`OAuthValidator::take_key_miss`]). Shared by clones.
    key_missed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl fmt::Debug for OAuthValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthValidator")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .field("expected_audience", &self.expected_audience)
            .field("expected_issuer", &self.expected_issuer)
            .field("sub_claim", &self.sub_claim)
            .field("clock_skew_s", &self.clock_skew_s)
            .finish()
    }
}

/// The algorithms Kafka's validator accepts, with the key kind each needs.
fn allowed(alg: Algorithm) -> Option<KeyKind> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(KeyKind::Rsa),
        ES256 => Some(KeyKind::P256),
        ES384 => Some(KeyKind::P384),
        HS256 | HS384 | HS512 | EdDSA => None,
    }
}

/// Parses the usable keys of a JWK set, skipping keys of other kinds (encryption keys,
/// symmetric keys, curves Kafka's validator does not take).
fn parse_jwks(jwks_json: &str) -> Result<Vec<VerificationKey>, OAuthConfigError> {
    let doc: Value = serde_json::from_str(jwks_json)
        .map_err(|e| OAuthConfigError::InvalidJwks(e.to_string()))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| OAuthConfigError::InvalidJwks("no \"keys\" array".into()))?;
    let usable: Vec<VerificationKey> = keys.iter().filter_map(parse_key).collect();
    if usable.is_empty() {
        return Err(OAuthConfigError::NoUsableKey);
    }
    Ok(usable)
}

fn parse_key(value: &Value) -> Option<VerificationKey> {
    if value
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    let alg = value.get("alg").and_then(Value::as_str).map(str::to_string);
    let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => KeyKind::P256,
            EllipticCurve::P384 => KeyKind::P384,
            _ => return None,
        },
        _ => return None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(VerificationKey {
        kid: jwk.common.key_id.clone(),
        kind,
        alg,
        key,
    })
}

/// A numeric date claim in ms (JSON integer or float seconds).
fn date_ms(claims: &Value, name: &'static str) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let secs = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .ok_or(TokenError::Claim(name))?;
            Ok(Some(secs.saturating_mul(1000)))
        }
    }
}

impl OAuthValidator {
    /// A validator for the keys of `jwks` (a JWK set document, `{"keys":[...]}`).
    /// `expected_audience` empty accepts any audience; `sub_claim` is usually `"sub"`;
    /// `clock_skew_s` is Kafka's `sasl.oauthbearer.clock.skew.seconds` (default 30).
    ///
    /// # Errors
    /// [`OAuthConfigError`] if the text is not a JWK set or has no usable key.
    pub fn from_jwks_json(
        jwks: &str,
        expected_audience: Vec<String>,
        expected_issuer: Option<String>,
        sub_claim: String,
        clock_skew_s: i64,
    ) -> Result<Self, OAuthConfigError> {
        Ok(OAuthValidator {
            keys: parse_jwks(jwks)?,
            expected_audience,
            expected_issuer,
            sub_claim,
            clock_skew_s,
            key_missed: Default::default(),
        })
    }

    /// Whether a token named a key the set lacks since the last call (then clears it).
    pub fn take_key_miss(&self) -> bool {
        self.key_missed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Replaces the keys with those of `jwks_json` (after the caller refetched the set);
    /// on error the old keys stay.
    ///
    /// # Errors
    /// As [`OAuthValidator::from_jwks_json`].
    pub fn reload(&mut self, jwks_json: &str) -> Result<(), OAuthConfigError> {
        self.keys = parse_jwks(jwks_json)?;
        Ok(())
    }

    /// Validates a compact JWS access token at `now_ms`.
    ///
    /// # Errors
    /// [`TokenError`] saying what failed.
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "not three dot-separated parts".into(),
            ));
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
        let alg_name = format!("{:?}", header.alg);
        let kind = allowed(header.alg).ok_or(TokenError::AlgorithmNotAllowed(alg_name.clone()))?;
        let key = self.key_for(header.kid.as_deref(), kind, &alg_name)?;
        let message = &token[..header_b64.len() + 1 + payload_b64.len()];
        let verified =
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, header.alg)
                .unwrap_or(false);
        if !verified {
            return Err(TokenError::BadSignature);
        }
        let payload = B64URL
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed("payload is not base64url".into()))?;
        let claims: Value = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Malformed("payload is not JSON".into()))?;
        if !claims.is_object() {
            return Err(TokenError::Malformed("payload is not a JSON object".into()));
        }
        self.check_claims(&claims, now_ms)
    }

    fn key_for(
        &self,
        kid: Option<&str>,
        kind: KeyKind,
        alg: &str,
    ) -> Result<&VerificationKey, TokenError> {
        let fits =
            |k: &&VerificationKey| k.kind == kind && k.alg.as_deref().is_none_or(|a| a == alg);
        let found = match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .find(fits),
            None if self.keys.len() == 1 => self.keys.first().filter(fits),
            None => None,
        };
        if found.is_none() {
            self.key_missed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        found.ok_or_else(|| TokenError::NoKey {
            kid: kid.map(str::to_string),
            alg: alg.to_string(),
        })
    }

    fn check_claims(&self, claims: &Value, now_ms: i64) -> Result<ValidatedToken, TokenError> {
        let skew_ms = self.clock_skew_s.saturating_mul(1000);
        let exp_ms = date_ms(claims, "exp")?.ok_or(TokenError::Claim("exp"))?;
        date_ms(claims, "iat")?.ok_or(TokenError::Claim("iat"))?;
        if now_ms.saturating_sub(skew_ms) >= exp_ms {
            return Err(TokenError::Expired { exp_ms, now_ms });
        }
        if let Some(nbf_ms) = date_ms(claims, "nbf")? {
            if now_ms.saturating_add(skew_ms) < nbf_ms {
                return Err(TokenError::NotYetValid { nbf_ms, now_ms });
            }
        }
        if !self.expected_audience.is_empty() {
            let aud_ok = match claims.get("aud") {
                Some(Value::String(a)) => self.expected_audience.contains(a),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|a| self.expected_audience.iter().any(|e| e == a)),
                _ => false,
            };
            if !aud_ok {
                return Err(TokenError::Audience);
            }
        }
        if let Some(iss) = &self.expected_issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
                return Err(TokenError::Issuer);
            }
        }
        let principal = claims
            .get(&self.sub_claim)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(TokenError::Claim("sub"))?;
        Ok(ValidatedToken {
            principal: principal.to_string(),
            expires_at_ms: exp_ms,
        })
    }
}
