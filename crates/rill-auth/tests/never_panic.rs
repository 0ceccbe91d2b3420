//! No input panics: arbitrary bytes as every mechanism's tokens at every step, grammar-shaped
//! text that reaches deeper into the parsers, every truncation of valid tokens, and the
//! client fed arbitrary server answers. Every outcome is `Ok` or a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use rill_auth::{
    JaasConfig, OAuthValidator, PrincipalMapper, SaslClient, SaslServer, SaslSettings, SaslStep,
    ScramCredential, ScramMechanism,
};

const MECHANISMS: [&str; 4] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

fn enabled() -> Vec<String> {
    MECHANISMS.map(String::from).to_vec()
}

fn creds() -> BTreeMap<(String, ScramMechanism), ScramCredential> {
    let mut c = BTreeMap::new();
    for m in ScramMechanism::ALL {
        c.insert(
            ("alice".to_string(), m),
            // Precomputed salted password: PBKDF2 per case would dominate the run time.
            ScramCredential::from_salted_password(m, &[7; 32], b"salt".to_vec(), 4096),
        );
    }
    c
}

fn settings() -> SaslSettings {
    let mut s = SaslSettings::default();
    s.plain_users.insert("alice".into(), "pw".into());
    s.oauth = Some(
        OAuthValidator::from_jwks_json(
            include_str!("data/jwks.json"),
            vec!["kafka".into()],
            None,
            "sub".into(),
            30,
        )
        .unwrap(),
    );
    s
}

/// Feeds `tokens` in turn; stops at the first error or at Done (then one more token).
fn drive(mechanism: &str, tokens: &[Vec<u8>], server_nonce: &str) {
    let (settings, creds) = (settings(), creds());
    let mut server = SaslServer::new(mechanism, &enabled()).unwrap();
    for t in tokens {
        match server.step(t, &settings, &creds, 1_700_000_000_000, server_nonce) {
            Ok(SaslStep::Challenge(c)) => assert!(c.len() <= 4096),
            Ok(SaslStep::Done { .. }) => {}
            Err(_) => break,
        }
    }
}

/// Text made of the characters these grammars care about.
fn grammar_text() -> impl Strategy<Value = Vec<u8>> {
    proptest::string::string_regex("[nrcpaivse=,\\x00\\x01A-Za-z0-9.+/_ -]{0,80}")
        .unwrap()
        .prop_map(String::into_bytes)
}

fn valid_first(mechanism: &str) -> Vec<u8> {
    SaslClient::new(mechanism, "alice", "pw", "cnonce")
        .unwrap()
        .first()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn server_survives_arbitrary_tokens(
        m in 0usize..4,
        tokens in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..512), 1..4),
    ) {
        drive(MECHANISMS[m], &tokens, "snonce");
    }

    #[test]
    fn server_survives_grammar_shaped_tokens(
        m in 0usize..4,
        tokens in proptest::collection::vec(grammar_text(), 1..4),
    ) {
        drive(MECHANISMS[m], &tokens, "snonce");
    }

    #[test]
    fn server_survives_anything_after_a_valid_first_message(
        m in 0usize..4,
        second in prop_oneof![grammar_text(), proptest::collection::vec(any::<u8>(), 0..256)],
        third in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        drive(MECHANISMS[m], &[valid_first(MECHANISMS[m]), second, third], "snonce");
    }

    #[test]
    fn server_survives_any_server_nonce(m in 0usize..4, nonce in ".{0,20}") {
        drive(MECHANISMS[m], &[valid_first(MECHANISMS[m])], &nonce);
    }

    #[test]
    fn client_survives_arbitrary_server_tokens(
        m in 0usize..4,
        answers in proptest::collection::vec(
            prop_oneof![grammar_text(), proptest::collection::vec(any::<u8>(), 0..256)], 1..4),
    ) {
        let mut client = SaslClient::new(MECHANISMS[m], "alice", "pw", "cnonce").unwrap();
        client.first();
        for a in &answers {
            if client.step(a).is_err() {
                break;
            }
        }
    }

    #[test]
    fn validator_survives_arbitrary_and_mutated_tokens(
        text in "[A-Za-z0-9_.-]{0,300}",
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        let v = settings().oauth.unwrap();
        let _ = v.validate(&text, 0);
        let mut token = JWT.as_bytes().to_vec();
        for (at, byte) in flips {
            let i = at % token.len();
            token[i] = byte;
        }
        let _ = v.validate(&String::from_utf8_lossy(&token), 0);
    }

    #[test]
    fn jaas_parser_survives_anything(
        text in prop_oneof![".{0,200}", "[a-z.=;\"'\\\\/* \\n]{0,80}"],
    ) {
        let _ = JaasConfig::parse(&text);
    }

    #[test]
    fn principal_rules_survive_anything(
        rules in prop_oneof![".{0,100}", "(RULE:|DEFAULT|[/,$\\\\()LU.*^a-z=]){0,30}"],
        dn in ".{0,60}",
    ) {
        if let Ok(mapper) = PrincipalMapper::parse(&rules) {
            let _ = mapper.map(&dn);
        }
    }
}

/// A syntactically valid JWT (RS256, kid rsa-1) to mutate; its signature is not checked here.
const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OSwiaWF0IjoxfQ.c2lnbmF0dXJl";

#[test]
fn every_truncation_of_valid_tokens_is_handled() {
    let scram_first = b"n,,n=alice,r=cnonce".to_vec();
    let scram_final =
        b"c=biws,r=cnoncesnonce,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".to_vec();
    let oauth = format!("n,a=alice,\x01auth=Bearer {JWT}\x01k=v\x01\x01").into_bytes();
    let plain = b"alice\0alice\0pw".to_vec();
    for len in 0..=oauth.len() {
        drive("OAUTHBEARER", &[oauth[..len].to_vec(), vec![1]], "snonce");
    }
    for len in 0..=plain.len() {
        drive("PLAIN", &[plain[..len].to_vec()], "snonce");
    }
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for len in 0..=scram_first.len() {
            drive(m, &[scram_first[..len].to_vec()], "snonce");
        }
        for len in 0..=scram_final.len() {
            drive(
                m,
                &[scram_first.clone(), scram_final[..len].to_vec()],
                "snonce",
            );
        }
    }
}
