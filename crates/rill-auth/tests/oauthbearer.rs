//! OAUTHBEARER: JWTs signed in the test with committed keys (tests/data, see its README),
//! checked by the validator and through whole SASL exchanges, including Kafka's error flow
//! (`{"status":"invalid_token"}` challenge, the client's `%x01`, then the failure).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rill_auth::{
    OAuthValidator, SaslClient, SaslError, SaslServer, SaslSettings, SaslStep, ScramCredential,
    ScramMechanism, TokenError,
};
use serde_json::{json, Value};

const RSA: &[u8] = include_bytes!("data/rsa2048.pem");
const RSA_OTHER: &[u8] = include_bytes!("data/rsa_other.pem");
const EC: &[u8] = include_bytes!("data/ec256.pem");
const JWKS: &str = include_str!("data/jwks.json");
const JWKS_OTHER: &str = include_str!("data/jwks_other.json");

/// "Now" for every test: 2024-01-01T00:00:00Z.
const NOW_S: i64 = 1_704_067_200;
const NOW_MS: i64 = NOW_S * 1000;

fn claims() -> Value {
    json!({"sub": "alice", "iat": NOW_S - 10, "exp": NOW_S + 3600, "aud": ["kafka"], "iss": "https://idp"})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC).unwrap(),
        _ => EncodingKey::from_rsa_pem(RSA).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn rsa(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("rsa-1"), claims)
}

fn validator() -> OAuthValidator {
    OAuthValidator::from_jwks_json(
        JWKS,
        vec!["kafka".into()],
        Some("https://idp".into()),
        "sub".into(),
        30,
    )
    .unwrap()
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

#[test]
fn accepts_every_allowed_algorithm() {
    let v = validator();
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::ES256,
    ] {
        let kid = if alg == Algorithm::ES256 {
            "ec-1"
        } else {
            "rsa-1"
        };
        let t = v
            .validate(&sign(alg, Some(kid), &claims()), NOW_MS)
            .unwrap();
        assert_eq!(t.principal, "alice", "{alg:?}");
        assert_eq!(t.expires_at_ms, (NOW_S + 3600) * 1000);
    }
}

/// What a refused token's error must look like.
type Expect = fn(&TokenError) -> bool;

#[test]
fn refuses_bad_tokens() {
    let v = validator();
    let c = claims();
    let cases: Vec<(String, Expect)> = vec![
        (rsa(&with(c.clone(), "exp", json!(NOW_S - 31))), |e| {
            matches!(e, TokenError::Expired { .. })
        }),
        (rsa(&without(c.clone(), "exp")), |e| {
            *e == TokenError::Claim("exp")
        }),
        (rsa(&with(c.clone(), "exp", json!("soon"))), |e| {
            *e == TokenError::Claim("exp")
        }),
        (rsa(&without(c.clone(), "iat")), |e| {
            *e == TokenError::Claim("iat")
        }),
        (rsa(&with(c.clone(), "nbf", json!(NOW_S + 31))), |e| {
            matches!(e, TokenError::NotYetValid { .. })
        }),
        (rsa(&with(c.clone(), "aud", json!("other"))), |e| {
            *e == TokenError::Audience
        }),
        (rsa(&without(c.clone(), "aud")), |e| {
            *e == TokenError::Audience
        }),
        (rsa(&with(c.clone(), "iss", json!("https://evil"))), |e| {
            *e == TokenError::Issuer
        }),
        (rsa(&without(c.clone(), "sub")), |e| {
            *e == TokenError::Claim("sub")
        }),
        (rsa(&with(c.clone(), "sub", json!("  "))), |e| {
            *e == TokenError::Claim("sub")
        }),
        (sign(Algorithm::RS256, Some("nope"), &c), |e| {
            matches!(e, TokenError::NoKey { .. })
        }),
        // Two usable keys and no kid: no way to choose.
        (sign(Algorithm::RS256, None, &c), |e| {
            matches!(e, TokenError::NoKey { .. })
        }),
        // An EC algorithm naming the RSA key (and the reverse) never reaches the verifier.
        (sign(Algorithm::ES256, Some("rsa-1"), &c), |e| {
            matches!(e, TokenError::NoKey { .. })
        }),
        (sign(Algorithm::RS256, Some("ec-1"), &c), |e| {
            matches!(e, TokenError::NoKey { .. })
        }),
        ("a.b".into(), |e| matches!(e, TokenError::Malformed(_))),
        ("a.b.c.d".into(), |e| matches!(e, TokenError::Malformed(_))),
    ];
    for (token, ok) in cases {
        let err = v.validate(&token, NOW_MS).unwrap_err();
        assert!(ok(&err), "{err:?} for {token}");
    }
    // Within the clock skew is fine.
    assert!(v
        .validate(&rsa(&with(c.clone(), "exp", json!(NOW_S - 29))), NOW_MS)
        .is_ok());
    assert!(v
        .validate(&rsa(&with(c.clone(), "nbf", json!(NOW_S + 29))), NOW_MS)
        .is_ok());
    // A single audience string and an issuer-less validator.
    let loose = OAuthValidator::from_jwks_json(JWKS, vec![], None, "sub".into(), 0).unwrap();
    assert!(loose
        .validate(&rsa(&without(without(c.clone(), "aud"), "iss")), NOW_MS)
        .is_ok());
}

#[test]
fn refuses_forged_and_unsigned_tokens() {
    let v = validator();
    let good = rsa(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    // Another payload under the original signature.
    let evil = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &with(claims(), "sub", json!("admin")),
    );
    let evil_payload = evil.split('.').nth(1).unwrap();
    let swapped = format!("{}.{}.{}", parts[0], evil_payload, parts[2]);
    assert_eq!(v.validate(&swapped, NOW_MS), Err(TokenError::BadSignature));
    // Signed by a key not in the set, under a known kid.
    let key = EncodingKey::from_rsa_pem(RSA_OTHER).unwrap();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa-1".into());
    let foreign = jsonwebtoken::encode(&h, &claims(), &key).unwrap();
    assert_eq!(v.validate(&foreign, NOW_MS), Err(TokenError::BadSignature));
    // alg none and HMAC (with the public key as secret) are refused.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine;
    let none_header = B64URL.encode(br#"{"alg":"none","kid":"rsa-1"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert!(v.validate(&unsigned, NOW_MS).is_err());
    let hmac = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("rsa-1".into());
        jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(JWKS.as_bytes())).unwrap()
    };
    assert!(matches!(
        v.validate(&hmac, NOW_MS),
        Err(TokenError::AlgorithmNotAllowed(_))
    ));

    // After a key rotation, reload takes the new key.
    let mut v = validator();
    v.reload(JWKS_OTHER).unwrap();
    assert_eq!(v.validate(&good, NOW_MS), Err(TokenError::BadSignature));
    assert!(v.validate(&foreign, NOW_MS).is_ok());
    assert!(v.reload("{}").is_err());
    assert!(
        v.validate(&foreign, NOW_MS).is_ok(),
        "a failed reload keeps the keys"
    );
}

#[test]
fn jwks_errors() {
    let mk = |j: &str| OAuthValidator::from_jwks_json(j, vec![], None, "sub".into(), 0);
    assert!(mk("not json").is_err());
    assert!(mk(r#"{"keys": 1}"#).is_err());
    assert!(mk(r#"{"keys": []}"#).is_err());
    assert!(mk(r#"{"keys": [{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
    // One key, no kid in the token: that key is used.
    let one = r#"{"keys":[JWK]}"#.replace(
        "JWK",
        &serde_json::to_string(&serde_json::from_str::<Value>(JWKS).unwrap()["keys"][0]).unwrap(),
    );
    let v = mk(&one).unwrap();
    assert!(v
        .validate(&sign(Algorithm::RS256, None, &claims()), NOW_MS)
        .is_ok());
}

fn settings() -> SaslSettings {
    SaslSettings {
        oauth: Some(validator()),
        ..SaslSettings::default()
    }
}

fn no_creds() -> BTreeMap<(String, ScramMechanism), ScramCredential> {
    BTreeMap::new()
}

fn enabled() -> Vec<String> {
    vec!["OAUTHBEARER".into()]
}

#[test]
fn exchange_succeeds_with_token_expiry() {
    let mut client = SaslClient::new("OAUTHBEARER", "", &rsa(&claims()), "").unwrap();
    let mut server = SaslServer::new("OAUTHBEARER", &enabled()).unwrap();
    let step = server
        .step(&client.first(), &settings(), &no_creds(), NOW_MS, "n")
        .unwrap();
    let SaslStep::Done {
        response,
        principal,
        expires_at_ms,
    } = step
    else {
        panic!("{step:?}")
    };
    assert_eq!(principal, "alice");
    assert_eq!(expires_at_ms, Some((NOW_S + 3600) * 1000));
    assert_eq!(client.step(&response).unwrap(), None);
    // authzid equal to the subject is fine; another is refused.
    let mut client = SaslClient::new("OAUTHBEARER", "alice", &rsa(&claims()), "").unwrap();
    let mut server = SaslServer::new("OAUTHBEARER", &enabled()).unwrap();
    assert!(server
        .step(&client.first(), &settings(), &no_creds(), NOW_MS, "n")
        .is_ok());
    let mut client = SaslClient::new("OAUTHBEARER", "bob", &rsa(&claims()), "").unwrap();
    let mut server = SaslServer::new("OAUTHBEARER", &enabled()).unwrap();
    let e = server
        .step(&client.first(), &settings(), &no_creds(), NOW_MS, "n")
        .unwrap_err();
    assert!(e.to_string().contains("authorization id (bob)"), "{e}");
}

#[test]
fn a_refused_token_gets_kafkas_error_challenge_then_fails() {
    let expired = rsa(&with(claims(), "exp", json!(NOW_S - 3600)));
    let mut client = SaslClient::new("OAUTHBEARER", "", &expired, "").unwrap();
    let mut server = SaslServer::new("OAUTHBEARER", &enabled()).unwrap();
    let step = server
        .step(&client.first(), &settings(), &no_creds(), NOW_MS, "n")
        .unwrap();
    assert_eq!(
        step,
        SaslStep::Challenge(br#"{"status":"invalid_token"}"#.to_vec())
    );
    assert!(server.failure_reason().unwrap().contains("expired"));
    let SaslStep::Challenge(json) = step else {
        unreachable!()
    };
    let ack = client.step(&json).unwrap().unwrap();
    assert_eq!(ack, vec![1u8]);
    let e = server
        .step(&ack, &settings(), &no_creds(), NOW_MS, "n")
        .unwrap_err();
    assert_eq!(
        e,
        SaslError::AuthenticationFailed(r#"{"status":"invalid_token"}"#.into())
    );
    assert_eq!(e.kafka_error_code(), 58);
    assert!(matches!(
        server.step(&ack, &settings(), &no_creds(), NOW_MS, "n"),
        Err(SaslError::IllegalState(_))
    ));
    // Without a validator every token is refused the same way.
    let mut server = SaslServer::new("OAUTHBEARER", &enabled()).unwrap();
    let bare = SaslSettings::default();
    let step = server
        .step(&client.first(), &bare, &no_creds(), NOW_MS, "n")
        .unwrap();
    assert!(matches!(step, SaslStep::Challenge(_)));
    // A malformed initial response fails at once, as a SaslException in Kafka.
    let mut server = SaslServer::new("OAUTHBEARER", &enabled()).unwrap();
    let e = server
        .step(b"n,,auth=Bearer x", &settings(), &no_creds(), NOW_MS, "n")
        .unwrap_err();
    assert!(e.to_string().ends_with("SASL mechanism OAUTHBEARER"), "{e}");
}
