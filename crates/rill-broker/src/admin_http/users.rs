//! SCRAM users over HTTP, through [`crate::scram_users`] (what DescribeUserScramCredentials
//! and AlterUserScramCredentials do): DESCRIBE on the cluster to list, ALTER to change.
//! Never a secret in an answer: mechanisms and iteration counts only.
//!
//! - `GET /api/v1/users`: `[{name, credentials: [{mechanism, iterations}]}]`.
//! - `POST /api/v1/users` `{name, password, mechanism?=SCRAM-SHA-512, iterations?=4096}`:
//!   creates or replaces that mechanism's credential. The password crosses the admin
//!   listener (HTTPS when security is on) and is salted here with a random 32-byte salt;
//!   only the derived keys are stored.
//! - `DELETE /api/v1/users/{name}[?mechanism=SCRAM-SHA-256]`: that credential, or all of
//!   the user's.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use rill_auth::ScramMechanism;
use serde::{Deserialize, Serialize};

use super::access::{authorize, AdminCall};
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::scram_users::{self, Deletion, Upsertion};

/// Kafka's default iteration count (kafka-configs, AdminClient).
const DEFAULT_ITERATIONS: i32 = 4096;

/// One credential of a user.
#[derive(Debug, Serialize)]
pub struct CredentialJson {
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

/// One user.
#[derive(Debug, Serialize)]
pub struct UserJson {
    /// The user name (the principal is `User:<name>`).
    pub name: String,
    /// Its credentials.
    pub credentials: Vec<CredentialJson>,
}

/// A mechanism code's name.
fn mechanism_name(code: i8) -> String {
    ScramMechanism::from_code(code).map_or_else(|| format!("unknown ({code})"), |m| m.name().into())
}

/// `GET /api/v1/users`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<UserJson>>> {
    let broker = state.broker()?;
    authorize(&caller, &broker, AdminCall::DescribeUsers)?;
    let out = scram_users::describe(&broker.image(), None)
        .into_iter()
        .filter_map(|(name, outcome)| {
            let infos = outcome.ok()?;
            Some(UserJson {
                name,
                credentials: infos
                    .into_iter()
                    .map(|(m, iterations)| CredentialJson {
                        mechanism: mechanism_name(m),
                        iterations,
                    })
                    .collect(),
            })
        })
        .collect();
    Ok(Json(out))
}

/// `POST /api/v1/users` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// The user name.
    pub name: String,
    /// The password (salted here, never stored).
    pub password: String,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512` (default).
    #[serde(default)]
    pub mechanism: Option<String>,
    /// PBKDF2 iterations, 4096..=16384 (default 4096).
    #[serde(default)]
    pub iterations: Option<i32>,
}

/// What a change did.
#[derive(Debug, Serialize)]
pub struct UserChanged {
    /// The user.
    pub name: String,
    /// The mechanisms changed.
    pub mechanisms: Vec<String>,
}

/// The mechanism named `name`.
fn mechanism(name: &str) -> ApiResult<ScramMechanism> {
    ScramMechanism::from_name(name.trim()).ok_or_else(|| {
        ApiError::kafka(
            kafka_protocol::ResponseError::UnsupportedSaslMechanism.code(),
            format!("unknown SCRAM mechanism '{name}': SCRAM-SHA-256 or SCRAM-SHA-512"),
        )
    })
}

/// Commits one user's change and answers its outcome.
async fn commit(
    state: &AppState,
    name: String,
    deletions: Vec<Deletion>,
    upsertions: Vec<Upsertion>,
) -> ApiResult<()> {
    let broker = state.broker()?;
    let results =
        tokio::task::spawn_blocking(move || scram_users::alter(&broker, deletions, upsertions))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    for (user, outcome) in results {
        if let Some(e) = outcome {
            tracing::info!(user = %user, error = %e, "SCRAM credential change refused");
            return Err(e.into());
        }
    }
    tracing::info!(user = %name, "SCRAM credentials changed through the admin API");
    Ok(())
}

/// `POST /api/v1/users`.
pub async fn upsert(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewCredential>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<UserChanged>)> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let broker = state.broker()?;
    authorize(&caller, &broker, AdminCall::AlterUsers)?;
    let m = mechanism(req.mechanism.as_deref().unwrap_or("SCRAM-SHA-512"))?;
    let iterations = req.iterations.unwrap_or(DEFAULT_ITERATIONS);
    if req.password.is_empty() {
        return Err(ApiError::kafka(
            kafka_protocol::ResponseError::UnacceptableCredential.code(),
            "the password is empty",
        ));
    }
    let rounds = u32::try_from(iterations).unwrap_or(0);
    let mut salt = uuid::Uuid::new_v4().as_bytes().to_vec();
    salt.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    let password = req.password;
    let (salt, salted_password) = tokio::task::spawn_blocking(move || {
        // Out-of-range counts are refused by plan_alter before anything is stored; do not
        // spend more than the maximum on one here.
        let r = rounds.clamp(1, rill_auth::scram_credential::MAX_ITERATIONS);
        let salted = m.salted_password(password.as_bytes(), &salt, r);
        (salt, salted)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let name = req.name;
    let up = Upsertion {
        name: name.clone(),
        mechanism: m.code(),
        iterations,
        salt,
        salted_password,
    };
    commit(&state, name.clone(), Vec::new(), vec![up]).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserChanged {
            name,
            mechanisms: vec![m.name().into()],
        }),
    ))
}

/// `DELETE /api/v1/users/{name}` query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Only this mechanism's credential.
    pub mechanism: Option<String>,
}

/// `DELETE /api/v1/users/{name}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    q: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<UserChanged>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let broker = state.broker()?;
    authorize(&caller, &broker, AdminCall::AlterUsers)?;
    let mechanisms: Vec<ScramMechanism> = match q.mechanism {
        Some(m) => vec![mechanism(&m)?],
        None => {
            let image = broker.image();
            ScramMechanism::ALL
                .into_iter()
                .filter(|m| image.scram_credential(&name, m.code()).is_some())
                .collect()
        }
    };
    if mechanisms.is_empty() {
        return Err(ApiError::kafka(
            kafka_protocol::ResponseError::ResourceNotFound.code(),
            format!("user '{name}' has no SCRAM credential"),
        ));
    }
    // AlterUserScramCredentials takes one change per user per request: one request per
    // mechanism.
    for m in &mechanisms {
        let d = Deletion {
            name: name.clone(),
            mechanism: m.code(),
        };
        commit(&state, name.clone(), vec![d], Vec::new()).await?;
    }
    Ok(Json(UserChanged {
        name,
        mechanisms: mechanisms.iter().map(|m| m.name().to_string()).collect(),
    }))
}
