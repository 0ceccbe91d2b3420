//! Authorization of admin API calls with the ACLs of the Kafka API each one mirrors, decided
//! locally before anything is done (the admin API's own Kafka client is privileged: it
//! authenticates as the broker).
//!
//! [`requirement`] is the table: which operation on which resource a call needs, with
//! Kafka's refusal code. Lists (topics, partitions, groups, transactions) need only an
//! authenticated caller and leave out what it may not DESCRIBE, as Metadata, ListGroups and
//! ListTransactions do; their handlers filter with [`RequestAuth`]. Without an authorizer
//! every authenticated caller may do everything, as in Kafka.

use axum::http::StatusCode;
use kafka_protocol::ResponseError;
use rill_auth::acl::{AclOperation, ResourceType};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use crate::authz::{RequestAuth, CLUSTER_NAME};
use crate::broker::Broker;

/// One admin API call, with the names it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCall<'a> {
    /// `GET /api/v1/cluster`, `/brokers`, `/throughput` (DescribeCluster: authentication only).
    DescribeCluster,
    /// `GET /metrics` when not open.
    Metrics,
    /// `GET /api/v1/topics`, `/partitions` (Metadata: filtered by DESCRIBE).
    ListTopics,
    /// `GET /api/v1/topics/{name}` (Metadata for one topic).
    DescribeTopic(&'a str),
    /// `POST /api/v1/topics` (CreateTopics).
    CreateTopic(&'a str),
    /// `DELETE /api/v1/topics/{name}` (DeleteTopics).
    DeleteTopic(&'a str),
    /// `GET /api/v1/topics/{name}/messages` (Fetch).
    ReadMessages(&'a str),
    /// `GET /api/v1/groups` (ListGroups: filtered by DESCRIBE).
    ListGroups,
    /// `GET /api/v1/groups/{id}` (DescribeGroups, OffsetFetch).
    DescribeGroup(&'a str),
    /// `GET /api/v1/transactions` (ListTransactions: filtered by DESCRIBE).
    ListTransactions,
    /// `GET /api/v1/acls` (DescribeAcls).
    DescribeAcls,
    /// `POST`/`DELETE /api/v1/acls` (CreateAcls, DeleteAcls).
    AlterAcls,
    /// `GET /api/v1/users` (DescribeUserScramCredentials).
    DescribeUsers,
    /// `POST`/`DELETE /api/v1/users/...` (AlterUserScramCredentials).
    AlterUsers,
    /// `GET /api/v1/quotas` (DescribeClientQuotas).
    DescribeQuotas,
    /// `POST /api/v1/quotas` (AlterClientQuotas).
    AlterQuotas,
}

/// One way to be allowed: an operation on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The operation.
    pub operation: AclOperation,
    /// The resource's type.
    pub resource_type: ResourceType,
    /// The resource's name.
    pub name: String,
}

/// What a call needs: any one of `any_of` (none: being authenticated is enough), refused
/// with Kafka's `refusal` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The grants that each allow the call.
    pub any_of: Vec<Grant>,
    /// The Kafka error a refusal carries.
    pub refusal: ResponseError,
}

/// A grant of `op` on a resource.
fn grant(operation: AclOperation, resource_type: ResourceType, name: &str) -> Grant {
    Grant {
        operation,
        resource_type,
        name: name.to_string(),
    }
}

/// Which grants `call` needs (Kafka's rules for the API it mirrors).
pub fn requirement(call: AdminCall<'_>) -> Requirement {
    use AclOperation as Op;
    use ResourceType as R;
    let cluster = |op| grant(op, R::Cluster, CLUSTER_NAME);
    let (any_of, refusal) = match call {
        AdminCall::DescribeCluster
        | AdminCall::ListTopics
        | AdminCall::ListGroups
        | AdminCall::ListTransactions => (vec![], ResponseError::ClusterAuthorizationFailed),
        AdminCall::Metrics | AdminCall::DescribeAcls | AdminCall::DescribeUsers => (
            vec![cluster(Op::Describe)],
            ResponseError::ClusterAuthorizationFailed,
        ),
        AdminCall::AlterAcls | AdminCall::AlterUsers => (
            vec![cluster(Op::Alter)],
            ResponseError::ClusterAuthorizationFailed,
        ),
        AdminCall::DescribeQuotas => (
            vec![cluster(Op::DescribeConfigs)],
            ResponseError::ClusterAuthorizationFailed,
        ),
        AdminCall::AlterQuotas => (
            vec![cluster(Op::AlterConfigs)],
            ResponseError::ClusterAuthorizationFailed,
        ),
        AdminCall::DescribeTopic(t) => (
            vec![grant(Op::Describe, R::Topic, t)],
            ResponseError::TopicAuthorizationFailed,
        ),
        AdminCall::CreateTopic(t) => (
            vec![cluster(Op::Create), grant(Op::Create, R::Topic, t)],
            ResponseError::TopicAuthorizationFailed,
        ),
        AdminCall::DeleteTopic(t) => (
            vec![grant(Op::Delete, R::Topic, t)],
            ResponseError::TopicAuthorizationFailed,
        ),
        AdminCall::ReadMessages(t) => (
            vec![grant(Op::Read, R::Topic, t)],
            ResponseError::TopicAuthorizationFailed,
        ),
        AdminCall::DescribeGroup(g) => (
            vec![grant(Op::Describe, R::Group, g)],
            ResponseError::GroupAuthorizationFailed,
        ),
    };
    Requirement { any_of, refusal }
}

/// Whether `auth` meets `req`.
pub fn allowed(auth: &RequestAuth, req: &Requirement) -> bool {
    req.any_of.is_empty()
        || req
            .any_of
            .iter()
            .any(|g| auth.allows(g.operation, g.resource_type, &g.name))
}

/// Authorizes `call` for `caller`: its authorization context for further checks (filters).
///
/// # Errors
/// 403 with Kafka's refusal code when the ACLs do not allow it.
pub fn authorize(caller: &Caller, broker: &Broker, call: AdminCall<'_>) -> ApiResult<RequestAuth> {
    let auth = caller.request_auth(broker);
    let req = requirement(call);
    if allowed(&auth, &req) {
        return Ok(auth);
    }
    tracing::info!(principal = %auth.principal, host = %auth.host, ?call, "admin API call refused by the ACLs");
    let needed = req
        .any_of
        .iter()
        .map(|g| format!("{} on {} '{}'", g.operation, g.resource_type, g.name))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(ApiError {
        status: StatusCode::FORBIDDEN,
        kafka_code: Some(req.refusal.code()),
        message: format!("{} is not authorized: needs {needed}", auth.principal),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rill_auth::acl::{AclBinding, AclPermission, Authorizer, AuthorizerSettings, PatternType};

    use super::*;

    fn auth(principal: &str, acls: Vec<AclBinding>) -> RequestAuth {
        RequestAuth {
            principal: principal.into(),
            host: "127.0.0.1".into(),
            authorizer: Some(Arc::new(Authorizer::new(
                AuthorizerSettings {
                    super_users: vec!["User:admin".into()],
                    allow_everyone_if_no_acl_found: false,
                },
                acls,
            ))),
        }
    }

    fn allow(op: AclOperation, rt: ResourceType, name: &str, pattern: PatternType) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: op,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn each_call_needs_what_its_kafka_api_needs() {
        use AclOperation as Op;
        use ResourceType as R;
        type Row<'a> = (AdminCall<'a>, Vec<(Op, R, &'a str)>, ResponseError);
        let table: Vec<Row> = vec![
            (
                AdminCall::DescribeCluster,
                vec![],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::ListTopics,
                vec![],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::DescribeTopic("t"),
                vec![(Op::Describe, R::Topic, "t")],
                ResponseError::TopicAuthorizationFailed,
            ),
            (
                AdminCall::CreateTopic("t"),
                vec![
                    (Op::Create, R::Cluster, "kafka-cluster"),
                    (Op::Create, R::Topic, "t"),
                ],
                ResponseError::TopicAuthorizationFailed,
            ),
            (
                AdminCall::DeleteTopic("t"),
                vec![(Op::Delete, R::Topic, "t")],
                ResponseError::TopicAuthorizationFailed,
            ),
            (
                AdminCall::ReadMessages("t"),
                vec![(Op::Read, R::Topic, "t")],
                ResponseError::TopicAuthorizationFailed,
            ),
            (
                AdminCall::DescribeGroup("g"),
                vec![(Op::Describe, R::Group, "g")],
                ResponseError::GroupAuthorizationFailed,
            ),
            (
                AdminCall::DescribeAcls,
                vec![(Op::Describe, R::Cluster, "kafka-cluster")],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::AlterAcls,
                vec![(Op::Alter, R::Cluster, "kafka-cluster")],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::DescribeUsers,
                vec![(Op::Describe, R::Cluster, "kafka-cluster")],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::AlterUsers,
                vec![(Op::Alter, R::Cluster, "kafka-cluster")],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::Metrics,
                vec![(Op::Describe, R::Cluster, "kafka-cluster")],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::DescribeQuotas,
                vec![(Op::DescribeConfigs, R::Cluster, "kafka-cluster")],
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                AdminCall::AlterQuotas,
                vec![(Op::AlterConfigs, R::Cluster, "kafka-cluster")],
                ResponseError::ClusterAuthorizationFailed,
            ),
        ];
        for (call, grants, refusal) in table {
            let r = requirement(call);
            let want: Vec<Grant> = grants.into_iter().map(|(o, t, n)| grant(o, t, n)).collect();
            assert_eq!(r.any_of, want, "{call:?}");
            assert_eq!(r.refusal, refusal, "{call:?}");
        }
    }

    #[test]
    fn acls_decide_and_super_users_pass() {
        let nobody = auth("User:alice", vec![]);
        assert!(!allowed(&nobody, &requirement(AdminCall::CreateTopic("t"))));
        assert!(allowed(&nobody, &requirement(AdminCall::DescribeCluster)));
        let admin = auth("User:admin", vec![]);
        assert!(allowed(&admin, &requirement(AdminCall::AlterAcls)));
        let prefixed = auth(
            "User:alice",
            vec![allow(
                AclOperation::Create,
                ResourceType::Topic,
                "team-",
                PatternType::Prefixed,
            )],
        );
        assert!(allowed(
            &prefixed,
            &requirement(AdminCall::CreateTopic("team-a"))
        ));
        assert!(!allowed(
            &prefixed,
            &requirement(AdminCall::CreateTopic("other"))
        ));
        let cluster_create = auth(
            "User:alice",
            vec![allow(
                AclOperation::Create,
                ResourceType::Cluster,
                "kafka-cluster",
                PatternType::Literal,
            )],
        );
        assert!(allowed(
            &cluster_create,
            &requirement(AdminCall::CreateTopic("any"))
        ));
        // READ implies DESCRIBE, as in Kafka.
        let reader = auth(
            "User:alice",
            vec![allow(
                AclOperation::Read,
                ResourceType::Topic,
                "t",
                PatternType::Literal,
            )],
        );
        assert!(allowed(
            &reader,
            &requirement(AdminCall::DescribeTopic("t"))
        ));
        assert!(!allowed(&reader, &requirement(AdminCall::DeleteTopic("t"))));
        let no_authorizer = RequestAuth::allow_all("User:alice");
        assert!(allowed(&no_authorizer, &requirement(AdminCall::AlterUsers)));
    }
}
