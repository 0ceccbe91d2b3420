//! SCRAM users: DescribeUserScramCredentials and AlterUserScramCredentials (v0).
//!
//! As Kafka's AdminClient, the client salts the password itself (a fresh random salt,
//! PBKDF2 with the mechanism's HMAC) and sends only the salted password; the broker derives
//! and stores the keys. Alterations go to the controller connection, as other admin writes.

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;
use rand::RngCore;
pub use rill_auth::ScramMechanism;

use crate::error::{ClientError, Result};
use crate::Client;

/// Length of the salt the client draws for a new credential, in bytes.
pub const SALT_LEN: usize = 32;

/// Kafka's default (and smallest) iteration count.
pub const DEFAULT_ITERATIONS: i32 = 4096;

/// One user's SCRAM credentials as DescribeUserScramCredentials shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramUser {
    /// The user name.
    pub name: String,
    /// (mechanism code, iterations) of each credential; the code stays raw so a mechanism
    /// this client does not know is still shown.
    pub credentials: Vec<(i8, i32)>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl Client {
    /// Describes the SCRAM credentials of `users`, or of every user when `None`.
    ///
    /// # Errors
    /// The broker's error, for the request or for a user (RESOURCE_NOT_FOUND for a user
    /// without credentials).
    pub async fn describe_scram_users(&self, users: Option<&[String]>) -> Result<Vec<ScramUser>> {
        let conn = self.any_connection().await?;
        let version = conn.version(ApiKey::DescribeUserScramCredentials)?;
        let mut req = DescribeUserScramCredentialsRequest::default();
        req.users = users.map(|us| {
            us.iter()
                .map(|u| UserName::default().with_name(s(u)))
                .collect()
        });
        let resp = conn.call(&req, version).await?;
        ClientError::check(
            resp.error_code,
            || "describe SCRAM users".into(),
            resp.error_message.as_deref(),
        )?;
        let mut out = Vec::new();
        for r in resp.results {
            ClientError::check(
                r.error_code,
                || format!("describe SCRAM user '{}'", r.user.as_str()),
                r.error_message.as_deref(),
            )?;
            out.push(ScramUser {
                name: r.user.to_string(),
                credentials: r
                    .credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates or replaces `name`'s credential for `mechanism` from `password`, salted here
    /// with a fresh random salt and `iterations` rounds.
    ///
    /// # Errors
    /// The broker's error (UNACCEPTABLE_CREDENTIAL for iterations outside 4096..=16384, ...).
    pub async fn upsert_scram_user(
        &self,
        name: &str,
        mechanism: ScramMechanism,
        iterations: i32,
        password: &str,
    ) -> Result<()> {
        let mut salt = vec![0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        // A negative count is sent as is for the broker to refuse; PBKDF2 needs a u32.
        let rounds = u32::try_from(iterations).unwrap_or(1).max(1);
        let salted = mechanism.salted_password(password.as_bytes(), &salt, rounds);
        let u = ScramCredentialUpsertion::default()
            .with_name(s(name))
            .with_mechanism(mechanism.code())
            .with_iterations(iterations)
            .with_salt(Bytes::from(salt))
            .with_salted_password(Bytes::from(salted));
        let req = AlterUserScramCredentialsRequest::default().with_upsertions(vec![u]);
        self.alter_scram(req, name).await
    }

    /// Deletes `name`'s credential for the mechanism of code `mechanism`.
    ///
    /// # Errors
    /// The broker's error (RESOURCE_NOT_FOUND when there is no such credential).
    pub async fn delete_scram_user(&self, name: &str, mechanism: i8) -> Result<()> {
        let d = ScramCredentialDeletion::default()
            .with_name(s(name))
            .with_mechanism(mechanism);
        let req = AlterUserScramCredentialsRequest::default().with_deletions(vec![d]);
        self.alter_scram(req, name).await
    }

    async fn alter_scram(&self, req: AlterUserScramCredentialsRequest, name: &str) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::AlterUserScramCredentials)?;
        let resp = conn.call(&req, version).await?;
        for r in &resp.results {
            ClientError::check(
                r.error_code,
                || format!("alter SCRAM user '{name}'"),
                r.error_message.as_deref(),
            )?;
        }
        Ok(())
    }
}
