//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server side, as Kafka's
//! `ScramSaslServer`: client-first → server-first → client-final → server-final.
//!
//! Differences from Kafka, on purpose: an unknown user is answered with a fake credential (a
//! salt derived from [`SaslSettings::fake_salt_key`], 4096 iterations) and fails only at the
//! client-final, with the same message as a wrong password, so existence does not leak
//! (Kafka fails at the client-first). The client-final's `c=` must be the base64 of the
//! client's GS2 header. Rill has no delegation tokens, so `tokenauth=true` fails.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::sasl::{CredentialLookup, SaslError, SaslSettings, SaslStep};
use crate::scram_credential::{ScramCredential, ScramMechanism, MIN_ITERATIONS};
use crate::scram_message::{is_valid_nonce, ClientFinal, ClientFirst, ServerFinal, ServerFirst};

/// What the server remembers between the server-first and the client-final.
struct Pending {
    /// The authenticated-to-be user.
    username: String,
    /// The user's credential, or a fake one for an unknown user.
    credential: ScramCredential,
    /// False for the fake credential: the exchange fails whatever the proof.
    known_user: bool,
    /// The client-first message without its GS2 header.
    client_first_bare: String,
    /// The GS2 header whose base64 the client-final's `c=` must carry.
    gs2_header: String,
    /// The server-first message as sent.
    server_first: String,
    /// The combined nonce.
    nonce: String,
}

/// One SCRAM exchange on the server.
pub(crate) struct ScramServer {
    /// SHA-256 or SHA-512.
    mechanism: ScramMechanism,
    /// `None` until the client-first was answered.
    pending: Option<Pending>,
}

impl ScramServer {
    /// A server waiting for the client-first message.
    pub(crate) fn new(mechanism: ScramMechanism) -> Self {
        ScramServer {
            mechanism,
            pending: None,
        }
    }

    fn fail(&self) -> SaslError {
        SaslError::invalid_credentials(self.mechanism.name())
    }

    /// Answers the client-first (first call) or the client-final (second call).
    pub(crate) fn step(
        &mut self,
        token: &[u8],
        settings: &SaslSettings,
        creds: &dyn CredentialLookup,
        server_nonce: &str,
    ) -> Result<SaslStep, SaslError> {
        let text = std::str::from_utf8(token).map_err(|_| self.fail())?;
        match self.pending.take() {
            None => self.client_first(text, settings, creds, server_nonce),
            Some(p) => self.client_final(text, &p),
        }
    }

    fn client_first(
        &mut self,
        text: &str,
        settings: &SaslSettings,
        creds: &dyn CredentialLookup,
        server_nonce: &str,
    ) -> Result<SaslStep, SaslError> {
        if !is_valid_nonce(server_nonce) {
            return Err(SaslError::IllegalState(
                "SCRAM server nonce must be printable ASCII without ','".into(),
            ));
        }
        let first = ClientFirst::parse(text).map_err(|_| self.fail())?;
        if first.extensions.get("tokenauth").map(String::as_str) == Some("true") {
            return Err(SaslError::AuthenticationFailed(
                "Authentication failed: delegation tokens are not supported".into(),
            ));
        }
        if !first.authzid.is_empty() && first.authzid != first.username {
            return Err(SaslError::AuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is different from username".into(),
            ));
        }
        let (credential, known_user) = match creds.scram(&first.username, self.mechanism) {
            Some(c) if c.mechanism == self.mechanism => (c, true),
            _ => (self.fake_credential(&first.username, settings), false),
        };
        if credential.iterations < MIN_ITERATIONS {
            return Err(self.fail());
        }
        let server_first = ServerFirst {
            nonce: format!("{}{server_nonce}", first.nonce),
            salt: credential.salt.clone(),
            iterations: credential.iterations,
        };
        let text = server_first.to_text();
        self.pending = Some(Pending {
            username: first.username,
            credential,
            known_user,
            client_first_bare: first.bare,
            gs2_header: first.gs2_header,
            server_first: text.clone(),
            nonce: server_first.nonce,
        });
        Ok(SaslStep::Challenge(text.into_bytes()))
    }

    fn client_final(&mut self, text: &str, p: &Pending) -> Result<SaslStep, SaslError> {
        let fin = ClientFinal::parse(text).map_err(|_| self.fail())?;
        // Kafka's ScramSaslServer checks that the final nonce *ends with* the combined one,
        // and librdkafka before 2.2 sends the client nonce twice (client nonce, then the
        // server's combined nonce); the proof covers what the client sent either way.
        if fin.channel_binding != B64.encode(&p.gs2_header) || !fin.nonce.ends_with(&p.nonce) {
            return Err(self.fail());
        }
        let m = self.mechanism;
        let auth_message = format!(
            "{},{},{}",
            p.client_first_bare, p.server_first, fin.without_proof
        );
        let client_signature = m.hmac(&p.credential.stored_key, auth_message.as_bytes());
        if fin.proof.len() != client_signature.len() {
            return Err(self.fail());
        }
        let client_key: Vec<u8> = fin
            .proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let proof_ok: bool = m.hash(&client_key).ct_eq(&p.credential.stored_key).into();
        if !proof_ok || !p.known_user {
            return Err(self.fail());
        }
        let server_signature = m.hmac(&p.credential.server_key, auth_message.as_bytes());
        Ok(SaslStep::Done {
            response: ServerFinal::Verifier(server_signature)
                .to_text()
                .into_bytes(),
            principal: p.username.clone(),
            expires_at_ms: None,
        })
    }

    /// A credential for a user that does not exist: a stable salt per user, keys no proof
    /// can match in practice.
    fn fake_credential(&self, username: &str, settings: &SaslSettings) -> ScramCredential {
        let m = self.mechanism;
        let seed = format!("{}\0{username}", m.name());
        let salt = m.hmac(&settings.fake_salt_key, seed.as_bytes());
        let stored_key = m.hmac(
            &settings.fake_salt_key,
            format!("stored\0{seed}").as_bytes(),
        );
        ScramCredential {
            mechanism: m,
            salt: salt[..salt.len().min(32)].to_vec(),
            server_key: stored_key.clone(),
            stored_key,
            iterations: MIN_ITERATIONS,
        }
    }
}
