//! Authorization: Kafka's `authorizer.class.name` (StandardAuthorizer), `super.users` and
//! `allow.everyone.if.no.acl.found`, over the ACLs of the metadata image.
//!
//! [`Authz`] holds the settings and an [`Authorizer`] built from the image's ACLs, rebuilt
//! when the image's ACL set changed ([`rill_meta::MetadataImage::acl_changes`]). Each request
//! takes a [`RequestAuth`] (its principal, its host and the authorizer in force) and every
//! handler asks it; without an authorizer configured every request is allowed, as in Kafka.

use std::sync::{Arc, RwLock};

use rill_auth::acl::{
    AclBinding, AclOperation, AclPermission, Authorizer, AuthorizerSettings, PatternType,
    ResourceType,
};
use rill_meta::{AclEntry, MetadataImage};

use crate::config_value::{invalid, ConfigError};

/// The `authorizer.class.name` values that mean Kafka's StandardAuthorizer (the KRaft one
/// and, for configs carried over from ZooKeeper clusters, AclAuthorizer).
const STANDARD_AUTHORIZERS: &[&str] = &[
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
];

/// Kafka's name of the cluster resource.
pub use rill_auth::acl::CLUSTER_RESOURCE_NAME as CLUSTER_NAME;

/// The node's authorizer, when one is configured.
#[derive(Debug)]
pub struct Authz {
    settings: AuthorizerSettings,
    /// The authorizer and the image's `acl_changes` it was built at.
    current: RwLock<(u64, Arc<Authorizer>)>,
}

impl Authz {
    /// The authorizer `authorizer.class.name` asks for: `None` when it is empty.
    ///
    /// # Errors
    /// A class Rill does not implement, or a bad `allow.everyone.if.no.acl.found`.
    pub fn from_config(get: &impl Fn(&str) -> String) -> Result<Option<Authz>, ConfigError> {
        let class = get("authorizer.class.name");
        let class = class.trim();
        if class.is_empty() {
            return Ok(None);
        }
        if !STANDARD_AUTHORIZERS.contains(&class) {
            return Err(invalid(
                "authorizer.class.name",
                class,
                "Rill implements Kafka's StandardAuthorizer only: set \
                 org.apache.kafka.metadata.authorizer.StandardAuthorizer (or leave it empty \
                 for no authorization)",
            ));
        }
        let everyone = get("allow.everyone.if.no.acl.found");
        let allow_everyone_if_no_acl_found = match everyone.trim() {
            "" | "false" => false,
            "true" => true,
            other => {
                return Err(invalid(
                    "allow.everyone.if.no.acl.found",
                    other,
                    "must be true or false",
                ))
            }
        };
        let settings = AuthorizerSettings {
            super_users: AuthorizerSettings::parse_super_users(&get("super.users")),
            allow_everyone_if_no_acl_found,
        };
        Ok(Some(Authz {
            current: RwLock::new((
                u64::MAX,
                Arc::new(Authorizer::new(settings.clone(), Vec::new())),
            )),
            settings,
        }))
    }

    /// The authorizer for `image`'s ACLs (rebuilt when they changed since the last call).
    pub fn authorizer(&self, image: &MetadataImage) -> Arc<Authorizer> {
        let changes = image.acl_changes();
        {
            let g = self.current.read().unwrap_or_else(|p| p.into_inner());
            if g.0 == changes {
                return g.1.clone();
            }
        }
        let built = Arc::new(Authorizer::new(
            self.settings.clone(),
            image.acls().filter_map(|(_, e)| binding_of(e)),
        ));
        let mut g = self.current.write().unwrap_or_else(|p| p.into_inner());
        *g = (changes, built.clone());
        built
    }
}

/// The binding a stored ACL stands for (`None` for one whose codes this build does not know;
/// it then grants nothing).
pub fn binding_of(e: &AclEntry) -> Option<AclBinding> {
    let b = AclBinding {
        resource_type: ResourceType::from_code(e.resource_type),
        resource_name: e.resource_name.clone(),
        pattern_type: PatternType::from_code(e.pattern_type),
        principal: e.principal.clone(),
        host: e.host.clone(),
        operation: AclOperation::from_code(e.operation),
        permission: AclPermission::from_code(e.permission),
    };
    b.validate().is_ok().then_some(b)
}

/// The stored form of `b`.
pub fn entry_of(b: &AclBinding) -> AclEntry {
    AclEntry {
        resource_type: b.resource_type.code(),
        resource_name: b.resource_name.clone(),
        pattern_type: b.pattern_type.code(),
        principal: b.principal.clone(),
        host: b.host.clone(),
        operation: b.operation.code(),
        permission: b.permission.code(),
    }
}

/// Who sent a request and the authorizer its checks go to.
#[derive(Debug, Clone)]
pub struct RequestAuth {
    /// `User:alice` (`User:ANONYMOUS` before or without authentication).
    pub principal: String,
    /// The client's address, as ACL hosts name it.
    pub host: String,
    /// The authorizer in force, `None` when none is configured (everything allowed).
    pub authorizer: Option<Arc<Authorizer>>,
}

impl RequestAuth {
    /// Everything allowed (no authorizer; tests, internal calls).
    pub fn allow_all(principal: impl Into<String>) -> Self {
        RequestAuth {
            principal: principal.into(),
            host: String::new(),
            authorizer: None,
        }
    }

    /// Whether an authorizer is configured.
    pub fn enabled(&self) -> bool {
        self.authorizer.is_some()
    }

    /// Whether the principal may perform `op` on the resource.
    pub fn allows(&self, op: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        match &self.authorizer {
            None => true,
            Some(a) => a.authorize(&self.principal, &self.host, op, resource_type, name),
        }
    }

    /// Whether the principal may perform `op` on the topic.
    pub fn topic(&self, op: AclOperation, topic: &str) -> bool {
        self.allows(op, ResourceType::Topic, topic)
    }

    /// Whether the principal may perform `op` on the group.
    pub fn group(&self, op: AclOperation, group: &str) -> bool {
        self.allows(op, ResourceType::Group, group)
    }

    /// Whether the principal may perform `op` on the cluster.
    pub fn cluster(&self, op: AclOperation) -> bool {
        self.allows(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the principal may perform `op` on some resource of the type (Kafka's
    /// `authorizeByResourceType`).
    pub fn any_of(&self, op: AclOperation, resource_type: ResourceType) -> bool {
        match &self.authorizer {
            None => true,
            Some(a) => a.authorize_any(&self.principal, &self.host, op, resource_type),
        }
    }

    /// Kafka's `authorized_operations` bit field for the resource (`all_allowed` when no
    /// authorizer is configured).
    pub fn operations(&self, resource_type: ResourceType, name: &str, all_allowed: i32) -> i32 {
        match &self.authorizer {
            None => all_allowed,
            Some(a) => a.authorized_operations(&self.principal, &self.host, resource_type, name),
        }
    }
}

/// Why the principal may not describe (`alter` false) or alter a config resource (Kafka's
/// resource type codes: 2 topic, 4 broker, 8 broker logger, 32 group): the refusal Kafka
/// sends, or `None` when it may.
pub fn config_refusal(
    auth: &RequestAuth,
    resource_type: i8,
    name: &str,
    alter: bool,
) -> Option<kafka_protocol::ResponseError> {
    use kafka_protocol::ResponseError as E;
    let op = if alter {
        AclOperation::AlterConfigs
    } else {
        AclOperation::DescribeConfigs
    };
    let (allowed, refusal) = match resource_type {
        2 => (auth.topic(op, name), E::TopicAuthorizationFailed),
        32 => (auth.group(op, name), E::GroupAuthorizationFailed),
        _ => (auth.cluster(op), E::ClusterAuthorizationFailed),
    };
    (!allowed).then_some(refusal)
}
