//! Whole SASL exchanges: RFC 7677's SCRAM-SHA-256 example byte for byte, and Rill's client
//! against Rill's server in-process for every mechanism, right and wrong credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rill_auth::{
    CredentialLookup, SaslClient, SaslError, SaslServer, SaslSettings, SaslStep, ScramCredential,
    ScramMechanism, MAX_TOKEN_BYTES,
};

type Creds = BTreeMap<(String, ScramMechanism), ScramCredential>;

const SCRAM_FAILED_256: &str = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256";

fn enabled() -> Vec<String> {
    ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
        .map(String::from)
        .to_vec()
}

fn creds() -> Creds {
    let mut c = Creds::new();
    for m in ScramMechanism::ALL {
        c.insert(
            ("alice".into(), m),
            ScramCredential::from_password(m, "alice-secret", b"some salt".to_vec(), 4096),
        );
    }
    c
}

fn settings() -> SaslSettings {
    let mut s = SaslSettings::default();
    s.plain_users.insert("alice".into(), "alice-secret".into());
    s.fake_salt_key = b"broker start secret".to_vec();
    s
}

/// Runs `client` against a fresh server until one side finishes.
fn run(
    mechanism: &str,
    client: &mut SaslClient,
    settings: &SaslSettings,
    creds: &dyn CredentialLookup,
) -> Result<String, SaslError> {
    let mut server = SaslServer::new(mechanism, &enabled())?;
    let mut to_server = client.first();
    for _ in 0..4 {
        match server.step(&to_server, settings, creds, 1_000, "srvNonce")? {
            SaslStep::Challenge(c) => match client.step(&c)? {
                Some(next) => to_server = next,
                None => panic!("client finished on a challenge"),
            },
            SaslStep::Done {
                response,
                principal,
                ..
            } => {
                assert_eq!(client.step(&response)?, None);
                assert!(server.is_complete());
                return Ok(principal);
            }
        }
    }
    panic!("exchange did not end")
}

#[test]
fn rfc7677_scram_sha256_example() {
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let mut c = Creds::new();
    c.insert(
        ("user".into(), ScramMechanism::Sha256),
        ScramCredential::from_password(ScramMechanism::Sha256, "pencil", salt, 4096),
    );
    let mut server = SaslServer::new("SCRAM-SHA-256", &enabled()).unwrap();
    let server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let first = server
        .step(
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            &settings(),
            &c,
            0,
            server_nonce,
        )
        .unwrap();
    assert_eq!(
        first,
        SaslStep::Challenge(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                .to_vec()
        )
    );
    let fin = server
        .step(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            &settings(),
            &c,
            0,
            "unused",
        )
        .unwrap();
    assert_eq!(
        fin,
        SaslStep::Done {
            response: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
            principal: "user".into(),
            expires_at_ms: None,
        }
    );
    // A step after Done is an illegal state.
    let err = server.step(b"x", &settings(), &c, 0, "n").unwrap_err();
    assert_eq!(err.kafka_error_code(), 34);

    // Rill's client produces the RFC's client messages and accepts its server-final.
    let mut client =
        SaslClient::new("SCRAM-SHA-256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
    assert_eq!(client.first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let client_final = client
        .step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        .unwrap()
        .unwrap();
    assert_eq!(
        client_final,
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert_eq!(
        client
            .step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap(),
        None
    );
}

#[test]
fn client_and_server_agree_for_plain_and_scram() {
    for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let mut client = SaslClient::new(mech, "alice", "alice-secret", "cliNonce").unwrap();
        assert_eq!(
            run(mech, &mut client, &settings(), &creds()).unwrap(),
            "alice",
            "{mech}"
        );
    }
}

#[test]
fn wrong_password_and_unknown_user_fail_alike() {
    for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let mut wrong = SaslClient::new(mech, "alice", "nope", "cliNonce").unwrap();
        let e1 = run(mech, &mut wrong, &settings(), &creds()).unwrap_err();
        let mut unknown = SaslClient::new(mech, "mallory", "nope", "cliNonce").unwrap();
        let e2 = run(mech, &mut unknown, &settings(), &creds()).unwrap_err();
        assert_eq!(e1, e2, "{mech}");
        assert_eq!(e1.kafka_error_code(), 58);
        if mech == "PLAIN" {
            assert_eq!(
                e1.to_string(),
                "Authentication failed: Invalid username or password"
            );
        }
    }
    let mut wrong = SaslClient::new("SCRAM-SHA-256", "alice", "nope", "n").unwrap();
    let e = run("SCRAM-SHA-256", &mut wrong, &settings(), &creds()).unwrap_err();
    assert_eq!(e.to_string(), SCRAM_FAILED_256);
}

#[test]
fn unknown_scram_user_gets_a_stable_fake_salt_and_fails_only_at_the_end() {
    let server_first = |user: &str| {
        let mut s = SaslServer::new("SCRAM-SHA-256", &enabled()).unwrap();
        let first = format!("n,,n={user},r=abc");
        match s
            .step(first.as_bytes(), &settings(), &creds(), 0, "xyz")
            .unwrap()
        {
            SaslStep::Challenge(c) => String::from_utf8(c).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let a = server_first("mallory");
    assert_eq!(a, server_first("mallory"));
    assert_ne!(a, server_first("trudy"));
    assert!(
        a.starts_with("r=abcxyz,s=") && a.ends_with(",i=4096"),
        "{a}"
    );
}

#[test]
fn scram_refusals() {
    let fails = |first: &str| {
        let mut s = SaslServer::new("SCRAM-SHA-256", &enabled()).unwrap();
        s.step(first.as_bytes(), &settings(), &creds(), 0, "xyz")
            .unwrap_err()
    };
    assert_eq!(
        fails("p=tls-unique,,n=alice,r=a").to_string(),
        SCRAM_FAILED_256
    );
    assert!(fails("n,,n=alice,r=a,tokenauth=true")
        .to_string()
        .contains("delegation"));
    assert!(fails("n,a=bob,n=alice,r=a")
        .to_string()
        .contains("authorization id"));
    // authzid equal to the user is fine.
    let mut s = SaslServer::new("SCRAM-SHA-256", &enabled()).unwrap();
    assert!(s
        .step(b"n,a=alice,n=alice,r=a", &settings(), &creds(), 0, "xyz")
        .is_ok());

    // A client-final with a foreign nonce or channel binding fails even with a right proof.
    for tamper in [
        |m: String| m.replacen("r=cliNonce", "r=other", 1),
        |m: String| m.replacen("c=biws", "c=eSws", 1),
    ] {
        let mut client =
            SaslClient::new("SCRAM-SHA-256", "alice", "alice-secret", "cliNonce").unwrap();
        let mut s = SaslServer::new("SCRAM-SHA-256", &enabled()).unwrap();
        let SaslStep::Challenge(c) = s
            .step(&client.first(), &settings(), &creds(), 0, "x")
            .unwrap()
        else {
            panic!()
        };
        let fin = String::from_utf8(client.step(&c).unwrap().unwrap()).unwrap();
        let err = s
            .step(tamper(fin).as_bytes(), &settings(), &creds(), 0, "x")
            .unwrap_err();
        assert_eq!(err.to_string(), SCRAM_FAILED_256);
    }
}

#[test]
fn client_refuses_a_server_that_does_not_know_the_password() {
    // The server holds a credential for another password; the client's proof fails there,
    // and a forged server-final is refused by the client.
    let mut client = SaslClient::new("SCRAM-SHA-512", "alice", "alice-secret", "c1").unwrap();
    client.first();
    let sf = "r=c1s1,s=c29tZSBzYWx0,i=4096";
    client.step(sf.as_bytes()).unwrap().unwrap();
    let forged = format!("v={}", B64.encode([0u8; 64]));
    assert!(matches!(
        client.step(forged.as_bytes()),
        Err(SaslError::AuthenticationFailed(_))
    ));

    for bad in [
        "r=zz,s=c29tZQ==,i=4096",
        "r=c1,s=c29tZQ==,i=4096",
        "r=c1s,s=c29tZQ==,i=100",
        "r=c1s,s=c29tZQ==,i=99999999",
    ] {
        let mut c = SaslClient::new("SCRAM-SHA-256", "alice", "x", "c1").unwrap();
        c.first();
        assert!(c.step(bad.as_bytes()).is_err(), "{bad}");
    }
    let mut c = SaslClient::new("PLAIN", "alice", "x", "").unwrap();
    c.first();
    assert!(c.step(&vec![b'a'; MAX_TOKEN_BYTES + 1]).is_err());
    assert!(matches!(
        SaslClient::new("SCRAM-SHA-256", "alice", "x", "bad,nonce"),
        Err(SaslError::IllegalState(_))
    ));
}

#[test]
fn mechanisms_must_be_enabled_and_known() {
    let only_plain = vec!["PLAIN".to_string()];
    for m in ["SCRAM-SHA-256", "GSSAPI", "plain", ""] {
        let e = SaslServer::new(m, &only_plain).unwrap_err();
        assert_eq!(e, SaslError::UnsupportedMechanism(m.to_string()));
        assert_eq!(e.kafka_error_code(), 33);
    }
    let gssapi = vec!["GSSAPI".to_string()];
    assert!(SaslServer::new("GSSAPI", &gssapi).is_err());
    assert!(SaslClient::new("GSSAPI", "a", "b", "c").is_err());
}

#[test]
fn oversized_tokens_fail_and_end_the_exchange() {
    for mech in ["PLAIN", "SCRAM-SHA-256", "OAUTHBEARER"] {
        let mut s = SaslServer::new(mech, &enabled()).unwrap();
        let big = vec![b'a'; MAX_TOKEN_BYTES + 1];
        let e = s.step(&big, &settings(), &creds(), 0, "n").unwrap_err();
        assert_eq!(e.kafka_error_code(), 58, "{mech}");
        let e = s
            .step(b"\0alice\0alice-secret", &settings(), &creds(), 0, "n")
            .unwrap_err();
        assert_eq!(e.kafka_error_code(), 34, "{mech}");
    }
}

#[test]
fn a_failed_exchange_refuses_further_tokens() {
    let mut s = SaslServer::new("PLAIN", &enabled()).unwrap();
    assert!(s
        .step(b"\0alice\0wrong", &settings(), &creds(), 0, "n")
        .is_err());
    let e = s
        .step(b"\0alice\0alice-secret", &settings(), &creds(), 0, "n")
        .unwrap_err();
    assert!(matches!(e, SaslError::IllegalState(_)));
    assert!(!s.is_complete());
}

/// librdkafka before 2.2 sends the client nonce twice in its client-final (`r=` its own nonce,
/// then the server's combined one); Kafka accepts it (the final nonce must end with the
/// combined one) and so must Rill: kcat 1.7 (librdkafka 2.0.2) logs in this way.
#[test]
fn a_client_final_whose_nonce_ends_with_the_combined_one_is_accepted() {
    let m = ScramMechanism::Sha256;
    let mut s = SaslServer::new("SCRAM-SHA-256", &enabled()).unwrap();
    let first_bare = "n=alice,r=cliNonce";
    let SaslStep::Challenge(sf) = s
        .step(
            format!("n,,{first_bare}").as_bytes(),
            &settings(),
            &creds(),
            0,
            "srv",
        )
        .unwrap()
    else {
        panic!("no server-first")
    };
    let server_first = String::from_utf8(sf).unwrap();
    assert!(server_first.starts_with("r=cliNoncesrv,"), "{server_first}");
    let without_proof = "c=biws,r=cliNoncecliNoncesrv";
    let salted = m.salted_password(b"alice-secret", b"some salt", 4096);
    let client_key = m.hmac(&salted, b"Client Key");
    let auth = format!("{first_bare},{server_first},{without_proof}");
    let signature = m.hmac(&m.hash(&client_key), auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let fin = format!("{without_proof},p={}", B64.encode(proof));
    let done = s
        .step(fin.as_bytes(), &settings(), &creds(), 0, "srv")
        .unwrap();
    assert!(matches!(done, SaslStep::Done { ref principal, .. } if principal == "alice"));
}
