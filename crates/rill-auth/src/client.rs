//! The client side of SASL, for Rill's own clients (the CLI, replica fetchers): PLAIN,
//! SCRAM-SHA-256/512 (which checks the server's signature, so a server without the
//! credential cannot pass itself off) and OAUTHBEARER with a static token.
//!
//! Pure, like the server: the caller passes the client nonce and carries the bytes.
//! Use: send [`SaslClient::first`], then feed each server answer to [`SaslClient::step`]
//! until it returns `Ok(None)`.

use std::fmt;

use crate::oauthbearer::{ClientInitialResponse, SEPARATOR};
use crate::plain;
use crate::sasl::{SaslError, SaslMechanism, MAX_TOKEN_BYTES};
use crate::scram_credential::{ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::scram_message::{is_valid_nonce, ClientFinal, ClientFirst, ServerFinal, ServerFirst};

/// Where the client stands.
enum State {
    /// `first` not yet called.
    Initial,
    /// PLAIN or OAUTHBEARER: waiting for the server's (empty) answer.
    AwaitingOutcome,
    /// SCRAM: waiting for the server-first.
    ScramServerFirst(ClientFirst),
    /// SCRAM: waiting for the server-final, expecting this server signature.
    ScramServerFinal(Vec<u8>),
    /// Finished or failed.
    Ended,
}

/// One client-side SASL authentication.
pub struct SaslClient {
    /// The mechanism.
    mechanism: SaslMechanism,
    /// The user name (the authorization id for OAUTHBEARER, if not empty).
    username: String,
    /// The password (PLAIN, SCRAM) or the token (OAUTHBEARER).
    secret: String,
    /// SCRAM's client nonce.
    client_nonce: String,
    /// Where the exchange stands.
    state: State,
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mechanism.name())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn failed(msg: impl Into<String>) -> SaslError {
    SaslError::AuthenticationFailed(msg.into())
}

impl SaslClient {
    /// A client for `mechanism`. `secret` is the password (PLAIN, SCRAM) or the compact JWT
    /// (OAUTHBEARER, where a non-empty `username` is sent as the authorization id and must
    /// then equal the token's subject). `client_nonce` is fresh printable random text
    /// (SCRAM only; ignored otherwise).
    ///
    /// # Errors
    /// [`SaslError::UnsupportedMechanism`] for a mechanism Rill does not speak;
    /// [`SaslError::IllegalState`] for an unusable SCRAM nonce.
    pub fn new(
        mechanism: &str,
        username: &str,
        secret: &str,
        client_nonce: &str,
    ) -> Result<Self, SaslError> {
        let mech = SaslMechanism::from_name(mechanism)
            .ok_or_else(|| SaslError::UnsupportedMechanism(mechanism.to_string()))?;
        if matches!(mech, SaslMechanism::Scram(_)) && !is_valid_nonce(client_nonce) {
            return Err(SaslError::IllegalState(
                "SCRAM client nonce must be printable ASCII without ','".into(),
            ));
        }
        Ok(SaslClient {
            mechanism: mech,
            username: username.to_string(),
            secret: secret.to_string(),
            client_nonce: client_nonce.to_string(),
            state: State::Initial,
        })
    }

    /// The client's first message (the `auth_bytes` of the first `SaslAuthenticate`).
    /// Calling it again restarts the exchange.
    pub fn first(&mut self) -> Vec<u8> {
        match self.mechanism {
            SaslMechanism::Plain => {
                self.state = State::AwaitingOutcome;
                plain::encode(&self.username, &self.secret)
            }
            SaslMechanism::OAuthBearer => {
                self.state = State::AwaitingOutcome;
                ClientInitialResponse::encode(&self.secret, &self.username)
            }
            SaslMechanism::Scram(_) => {
                let first = ClientFirst::new(&self.username, &self.client_nonce);
                let text = first.to_text();
                self.state = State::ScramServerFirst(first);
                text.into_bytes()
            }
        }
    }

    /// Feeds the server's answer: `Ok(Some(bytes))` to send next, `Ok(None)` when
    /// authenticated.
    ///
    /// # Errors
    /// [`SaslError::AuthenticationFailed`] if the server's message is malformed or over
    /// [`MAX_TOKEN_BYTES`], reports
    /// an error, or (SCRAM) does not prove it knows the credential;
    /// [`SaslError::IllegalState`] before [`SaslClient::first`] or after the end.
    pub fn step(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Ended);
        if server_token.len() > MAX_TOKEN_BYTES {
            return Err(failed(format!(
                "SASL token of {} bytes from the server is over the limit of {MAX_TOKEN_BYTES} bytes",
                server_token.len()
            )));
        }
        match state {
            State::Initial | State::Ended => Err(SaslError::IllegalState(
                "no SASL message expected from the server".into(),
            )),
            State::AwaitingOutcome if server_token.is_empty() => Ok(None),
            State::AwaitingOutcome if self.mechanism == SaslMechanism::OAuthBearer => {
                // RFC 7628 §3.2.3: answer the server's error with %x01; it then fails.
                Ok(Some(vec![SEPARATOR as u8]))
            }
            State::AwaitingOutcome => Err(failed("unexpected SASL challenge from the server")),
            State::ScramServerFirst(first) => self.scram_client_final(&first, server_token),
            State::ScramServerFinal(expected) => {
                let text = std::str::from_utf8(server_token)
                    .map_err(|_| failed("SCRAM server-final is not UTF-8"))?;
                match ServerFinal::parse(text) {
                    Ok(ServerFinal::Verifier(v)) if v == expected => Ok(None),
                    Ok(ServerFinal::Error(e)) => Err(failed(format!("SCRAM server error: {e}"))),
                    _ => Err(failed("invalid SCRAM server signature")),
                }
            }
        }
    }

    fn scram_client_final(
        &mut self,
        first: &ClientFirst,
        server_token: &[u8],
    ) -> Result<Option<Vec<u8>>, SaslError> {
        let m: ScramMechanism = match self.mechanism {
            SaslMechanism::Scram(m) => m,
            _ => return Err(SaslError::IllegalState("not a SCRAM exchange".into())),
        };
        let text = std::str::from_utf8(server_token)
            .map_err(|_| failed("SCRAM server-first is not UTF-8"))?;
        let sf = ServerFirst::parse(text).map_err(|e| failed(e.to_string()))?;
        if !sf.nonce.starts_with(&first.nonce) || sf.nonce.len() == first.nonce.len() {
            return Err(failed("invalid SCRAM server nonce"));
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&sf.iterations) {
            return Err(failed(format!(
                "SCRAM iteration count {} is outside [{MIN_ITERATIONS}, {MAX_ITERATIONS}]",
                sf.iterations
            )));
        }
        let salted = m.salted_password(self.secret.as_bytes(), &sf.salt, sf.iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = ClientFinal::without_proof(&first.gs2_header, &sf.nonce);
        let auth_message = format!("{},{},{without_proof}", first.bare, text);
        let client_signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof = client_key
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.state = State::ScramServerFinal(m.hmac(&server_key, auth_message.as_bytes()));
        let fin = ClientFinal {
            channel_binding: String::new(),
            nonce: sf.nonce,
            proof,
            without_proof,
        };
        Ok(Some(fin.to_text().into_bytes()))
    }
}
