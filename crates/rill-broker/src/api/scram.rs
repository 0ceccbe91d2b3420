//! DescribeUserScramCredentials (API 50) and AlterUserScramCredentials (API 51), v0 both:
//! decode, call [`crate::scram_users`], encode. Describe answers from this node's image;
//! alter commits through the metadata log (the active controller in a cluster).

use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;
use crate::scram_users::{self, Deletion, Upsertion};

/// Answers DescribeUserScramCredentials: mechanisms and iteration counts, never keys.
pub fn describe_user_scram_credentials(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.auth.cluster(rill_auth::acl::AclOperation::Describe) {
        let mut r = DescribeUserScramCredentialsResponse::default();
        r.error_code = kafka_protocol::ResponseError::ClusterAuthorizationFailed.code();
        r.error_message = Some(str_bytes("Authorization failed."));
        return r;
    }
    let users: Option<Vec<String>> = req
        .users
        .map(|us| us.into_iter().map(|u| u.name.to_string()).collect());
    let mut r = DescribeUserScramCredentialsResponse::default();
    for (user, outcome) in scram_users::describe(&broker.image(), users.as_deref()) {
        let mut x = DescribeUserScramCredentialsResult::default();
        x.user = str_bytes(user);
        match outcome {
            Ok(infos) => {
                x.credential_infos = infos
                    .into_iter()
                    .map(|(mechanism, iterations)| {
                        let mut c = CredentialInfo::default();
                        c.mechanism = mechanism;
                        c.iterations = iterations;
                        c
                    })
                    .collect();
            }
            Err(e) => {
                x.error_code = e.code();
                x.error_message = Some(str_bytes(e.to_string()));
            }
        }
        r.results.push(x);
    }
    r
}

/// Answers AlterUserScramCredentials: one result per user named.
pub async fn alter_user_scram_credentials(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Kafka: ALTER on the cluster, refused for every user named.
    if !ctx.auth.cluster(rill_auth::acl::AclOperation::Alter) {
        let mut r = AlterUserScramCredentialsResponse::default();
        let names = req
            .deletions
            .iter()
            .map(|d| d.name.to_string())
            .chain(req.upsertions.iter().map(|u| u.name.to_string()));
        for name in names {
            let mut x = AlterUserScramCredentialsResult::default();
            x.user = str_bytes(name);
            x.error_code = kafka_protocol::ResponseError::ClusterAuthorizationFailed.code();
            x.error_message = Some(str_bytes("Authorization failed."));
            r.results.push(x);
        }
        return r;
    }
    let deletions: Vec<Deletion> = req
        .deletions
        .into_iter()
        .map(|d| Deletion {
            name: d.name.to_string(),
            mechanism: d.mechanism,
        })
        .collect();
    let upsertions: Vec<Upsertion> = req
        .upsertions
        .into_iter()
        .map(|u| Upsertion {
            name: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    let b = broker.clone();
    let results = blocking(move || scram_users::alter(&b, deletions, upsertions))
        .await
        .unwrap_or_default();
    let mut r = AlterUserScramCredentialsResponse::default();
    for (user, outcome) in results {
        let mut x = AlterUserScramCredentialsResult::default();
        x.user = str_bytes(user);
        if let Some(e) = outcome {
            x.error_code = e.code();
            x.error_message = Some(str_bytes(e.to_string()));
        }
        r.results.push(x);
    }
    r
}
