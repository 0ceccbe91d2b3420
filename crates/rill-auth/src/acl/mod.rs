//! Kafka's ACLs and their authorizer (`StandardAuthorizer`, `AclBinding`, `AclBindingFilter`),
//! as pure code: the broker hands an [`Authorizer`] the ACL set and its settings
//! (`super.users`, `allow.everyone.if.no.acl.found`) and asks it for decisions.
//!
//! - [`ResourceType`], [`PatternType`], [`AclOperation`], [`AclPermission`]: Kafka's enums
//!   with their wire codes and names.
//! - [`AclBinding`]: one ACL as CreateAcls stores it, with Kafka's validation;
//!   [`AclBindingFilter`]: the filters of DescribeAcls and DeleteAcls.
//! - [`Authorizer`]: an immutable index of the ACLs answering `authorize`,
//!   `authorized_operations` and `authorize_any` (Kafka's `authorizeByResourceType`).
//!
//! Nothing here panics on any input or blocks; `authorize` and `authorized_operations`
//! allocate nothing and look only at the bindings that apply to the resource. An
//! [`Authorizer`] is immutable, `Send` and `Sync`: the broker builds a new one when the ACL
//! set or the settings change and swaps it in.

mod authorizer;
mod binding;
mod index;
mod types;

#[cfg(test)]
mod authorizer_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod query_tests;

pub use authorizer::{Authorizer, AuthorizerSettings};
pub use binding::{AclBinding, AclBindingFilter};
pub use types::{AclOperation, AclPermission, PatternType, ResourceType};

/// The only name a CLUSTER resource has (Kafka's `kafka-cluster`).
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// The resource name of a LITERAL binding that applies to every resource of its type, and
/// the host of a binding that applies to every host.
pub const WILDCARD: &str = "*";

/// Why an ACL value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// A binding that CreateAcls may not store, or a filter DescribeAcls/DeleteAcls refuse
    /// (Kafka answers both with INVALID_REQUEST); the text says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A name that is none of Kafka's names for the enum.
    #[error("unknown {kind} name `{name}`")]
    UnknownName {
        /// Which enum: `resource type`, `pattern type`, `operation` or `permission type`.
        kind: &'static str,
        /// The name as given.
        name: String,
    },
}
