//! SCRAM users: DescribeUserScramCredentials and AlterUserScramCredentials decided on the
//! metadata image, as Kafka's `ScramImage.describe` and `ScramControlManager.alterCredentials`
//! do, and written as metadata records through [`Broker::commit`] (on a cluster node the
//! proposal goes to the active controller, as every admin write).
//!
//! [`describe`] and [`plan_alter`] are pure (image in, answer and records out); only
//! [`alter`] touches the metadata log, and it blocks: call it from a blocking context.
//! Refusals are [`AdminError`]s, whose Kafka codes come from [`AdminError::code`].

use rill_auth::scram_credential::{MAX_ITERATIONS, MIN_ITERATIONS};
use rill_auth::{ScramCredential, ScramMechanism};
use rill_meta::{MetadataImage, MetadataRecord};

use crate::admin::AdminError;
use crate::broker::Broker;
use crate::error::BrokerError;

/// The stored credential of `user` for `mechanism`, as rill-auth verifies it (`None` when
/// there is none, or its iteration count does not fit).
pub fn stored_credential(
    image: &MetadataImage,
    user: &str,
    mechanism: ScramMechanism,
) -> Option<ScramCredential> {
    let c = image.scram_credential(user, mechanism.code())?;
    Some(ScramCredential {
        mechanism,
        salt: c.salt.0.clone(),
        stored_key: c.stored_key.0.clone(),
        server_key: c.server_key.0.clone(),
        iterations: u32::try_from(c.iterations).ok()?,
    })
}

/// One user's answer to DescribeUserScramCredentials: its (mechanism code, iterations) pairs,
/// or why there are none.
pub type DescribedUser = (String, Result<Vec<(i8, i32)>, AdminError>);

/// An AlterUserScramCredentials deletion: (user, mechanism code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The user.
    pub name: String,
    /// Kafka's mechanism code.
    pub mechanism: i8,
}

/// An AlterUserScramCredentials upsertion: the client salted the password already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsertion {
    /// The user.
    pub name: String,
    /// Kafka's mechanism code.
    pub mechanism: i8,
    /// PBKDF2 iterations the client used.
    pub iterations: i32,
    /// The salt the client used.
    pub salt: Vec<u8>,
    /// `Hi(password, salt, iterations)`; never stored, only the keys derived from it.
    pub salted_password: Vec<u8>,
}

/// What an AlterUserScramCredentials request does: the records to commit (one batch) and one
/// result per user named (`None`: accepted).
#[derive(Debug, Default)]
pub struct AlterPlan {
    /// The records of every accepted change.
    pub records: Vec<MetadataRecord>,
    /// Per user: accepted, or refused with a reason.
    pub results: Vec<(String, Option<AdminError>)>,
}

/// Answers DescribeUserScramCredentials from `image`. `users` empty or `None` = every user
/// with a credential, by name; otherwise each name asked, in request order, a name asked
/// twice refused with DUPLICATE_RESOURCE and one without credentials with RESOURCE_NOT_FOUND.
pub fn describe(image: &MetadataImage, users: Option<&[String]>) -> Vec<DescribedUser> {
    let mut asked: Vec<(String, bool)> = Vec::new();
    match users {
        Some(users) if !users.is_empty() => {
            for u in users {
                match asked.iter_mut().find(|(name, _)| name == u) {
                    Some((_, twice)) => *twice = true,
                    None => asked.push((u.clone(), false)),
                }
            }
        }
        _ => {
            for (user, _, _) in image.scram_credentials() {
                if asked.last().is_none_or(|(last, _)| last != user) {
                    asked.push((user.to_string(), false));
                }
            }
        }
    }
    asked
        .into_iter()
        .map(|(user, twice)| {
            let outcome = if twice {
                Err(AdminError::DuplicateResource(format!(
                    "Cannot describe SCRAM credentials for the same user twice in a single \
                     request: {user}"
                )))
            } else {
                let infos: Vec<(i8, i32)> = ScramMechanism::ALL
                    .iter()
                    .filter_map(|m| {
                        image
                            .scram_credential(&user, m.code())
                            .map(|c| (m.code(), c.iterations))
                    })
                    .collect();
                if infos.is_empty() {
                    Err(AdminError::ResourceNotFound(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )))
                } else {
                    Ok(infos)
                }
            };
            (user, outcome)
        })
        .collect()
}

/// The mechanism of `code` for user `name`, or why neither may be used.
fn check_name_and_mechanism(name: &str, code: i8) -> Result<ScramMechanism, AdminError> {
    if name.is_empty() {
        return Err(AdminError::UnacceptableCredential(
            "Username must not be empty".into(),
        ));
    }
    ScramMechanism::from_code(code)
        .ok_or_else(|| AdminError::UnsupportedSaslMechanism("Unknown SCRAM mechanism".into()))
}

fn check_deletion(image: &MetadataImage, d: &Deletion) -> Result<(), AdminError> {
    check_name_and_mechanism(&d.name, d.mechanism)?;
    if image.scram_credential(&d.name, d.mechanism).is_none() {
        return Err(AdminError::ResourceNotFound(
            "Attempt to delete a user credential that does not exist".into(),
        ));
    }
    Ok(())
}

fn check_upsertion(u: &Upsertion) -> Result<ScramMechanism, AdminError> {
    let mechanism = check_name_and_mechanism(&u.name, u.mechanism)?;
    if i64::from(u.iterations) < i64::from(MIN_ITERATIONS) {
        return Err(AdminError::UnacceptableCredential(
            "Too few iterations".into(),
        ));
    }
    if i64::from(u.iterations) > i64::from(MAX_ITERATIONS) {
        return Err(AdminError::UnacceptableCredential(
            "Too many iterations".into(),
        ));
    }
    Ok(mechanism)
}

/// Takes the entry of `name` out of `list`, if there is one.
fn take<T>(list: &mut Vec<(String, T)>, name: &str) -> Option<T> {
    let i = list.iter().position(|(n, _)| n == name)?;
    Some(list.remove(i).1)
}

/// Decides an AlterUserScramCredentials request on `image` as Kafka's controller does: at
/// most one change per user per request (a user named again is refused with
/// DUPLICATE_RESOURCE, and the changes before lose too), deletions only of stored
/// credentials, known mechanisms, non-empty names and 4096..=16384 iterations. Results list
/// accepted deletions, then accepted upsertions, then refusals, each in request order.
pub fn plan_alter(
    image: &MetadataImage,
    deletions: Vec<Deletion>,
    upsertions: Vec<Upsertion>,
) -> AlterPlan {
    let mut refused: Vec<(String, AdminError)> = Vec::new();
    let duplicate = || {
        AdminError::DuplicateResource(
            "A user credential cannot be altered twice in the same request".into(),
        )
    };
    let mut deletes: Vec<(String, Deletion)> = Vec::new();
    for d in deletions {
        if refused.iter().any(|(n, _)| *n == d.name) {
            continue;
        }
        if take(&mut deletes, &d.name).is_some() {
            refused.push((d.name, duplicate()));
        } else if let Err(e) = check_deletion(image, &d) {
            refused.push((d.name, e));
        } else {
            deletes.push((d.name.clone(), d));
        }
    }
    let mut upserts: Vec<(String, (ScramMechanism, Upsertion))> = Vec::new();
    for u in upsertions {
        if refused.iter().any(|(n, _)| *n == u.name) {
            continue;
        }
        if take(&mut deletes, &u.name).is_some() || take(&mut upserts, &u.name).is_some() {
            refused.push((u.name, duplicate()));
            continue;
        }
        match check_upsertion(&u) {
            Ok(m) => upserts.push((u.name.clone(), (m, u))),
            Err(e) => refused.push((u.name, e)),
        }
    }
    let mut plan = AlterPlan::default();
    for (name, d) in deletes {
        plan.records
            .push(MetadataRecord::UserScramCredentialRemoved {
                name: name.clone(),
                mechanism: d.mechanism,
            });
        plan.results.push((name, None));
    }
    for (name, (mechanism, u)) in upserts {
        let c = ScramCredential::from_salted_password(
            mechanism,
            &u.salted_password,
            u.salt,
            u.iterations.unsigned_abs(),
        );
        plan.records
            .push(MetadataRecord::UserScramCredentialUpserted {
                name: name.clone(),
                mechanism: mechanism.code(),
                salt: c.salt.into(),
                stored_key: c.stored_key.into(),
                server_key: c.server_key.into(),
                iterations: u.iterations,
            });
        plan.results.push((name, None));
    }
    plan.results
        .extend(refused.into_iter().map(|(n, e)| (n, Some(e))));
    plan
}

/// Decides and commits an AlterUserScramCredentials request. When the commit fails, every
/// accepted user gets that error instead. Blocking.
pub fn alter(
    broker: &Broker,
    deletions: Vec<Deletion>,
    upsertions: Vec<Upsertion>,
) -> Vec<(String, Option<AdminError>)> {
    let plan = plan_alter(&broker.image(), deletions, upsertions);
    if plan.records.is_empty() {
        return plan.results;
    }
    let changed = plan.records.len();
    match broker.commit(plan.records) {
        Ok(()) => {
            tracing::info!(changed, "SCRAM credentials changed");
            plan.results
        }
        Err(e) => {
            tracing::warn!(error = %e, "SCRAM credential change not committed");
            plan.results
                .into_iter()
                .map(|(name, outcome)| (name, Some(outcome.unwrap_or_else(|| commit_failure(&e)))))
                .collect()
        }
    }
}

/// A failed commit as each accepted user's refusal: NOT_CONTROLLER stays retriable, a
/// change that lost a race (a credential deleted meanwhile) or an I/O failure is a storage
/// error.
fn commit_failure(e: &BrokerError) -> AdminError {
    AdminError::Storage(match e {
        BrokerError::NotController { leader } => BrokerError::NotController { leader: *leader },
        other => BrokerError::Internal(other.to_string()),
    })
}

#[cfg(test)]
#[path = "scram_users_tests.rs"]
mod tests;
