//! Kafka's ACL enums (`ResourceType`, `PatternType`, `AclOperation`, `AclPermissionType`)
//! with their wire codes, Kafka's upper-snake-case names for display, and parsing that takes
//! those names case-insensitively, with or without the underscores (`transactional_id`,
//! `TransactionalId`, `TRANSACTIONAL_ID`).

use std::fmt;
use std::str::FromStr;

use super::AclError;

/// Defines one of Kafka's ACL enums: variants with wire codes and Java names, `from_code`,
/// `code`, `name`, `VALUES`, `Display` and `FromStr`.
macro_rules! kafka_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $java:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in wire-code order.
            pub const VALUES: &'static [$name] = &[$($name::$variant),+];

            /// The value with wire code `code`; `Unknown` for a code Kafka does not define.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $( $code => $name::$variant, )+
                    _ => $name::Unknown,
                }
            }

            /// The wire code.
            pub fn code(self) -> i8 {
                match self {
                    $( $name::$variant => $code, )+
                }
            }

            /// Kafka's Java enum name, in upper snake case.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $java, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = AclError;

            /// Kafka's name, case-insensitively, with or without its underscores.
            fn from_str(s: &str) -> Result<Self, AclError> {
                Self::VALUES
                    .iter()
                    .copied()
                    .find(|v| names_match(s, v.name()))
                    .ok_or_else(|| AclError::UnknownName {
                        kind: $kind,
                        name: s.to_string(),
                    })
            }
        }
    };
}

/// Whether `input` spells `java` (upper snake case) case-insensitively, either with its
/// underscores or without any.
fn names_match(input: &str, java: &str) -> bool {
    if input.eq_ignore_ascii_case(java) {
        return true;
    }
    if input.contains('_') {
        return false;
    }
    let mut wanted = java.chars().filter(|c| *c != '_');
    let mut given = input.chars();
    loop {
        match (given.next(), wanted.next()) {
            (None, None) => return true,
            (Some(g), Some(w)) if g.eq_ignore_ascii_case(&w) => {}
            _ => return false,
        }
    }
}

kafka_enum! {
    /// Kafka's resource types with their wire codes.
    ResourceType, "resource type" {
        /// A code this broker does not know.
        Unknown = 0, "UNKNOWN";
        /// In a filter: every type.
        Any = 1, "ANY";
        /// A topic.
        Topic = 2, "TOPIC";
        /// A consumer group.
        Group = 3, "GROUP";
        /// The cluster (its one name is `kafka-cluster`).
        Cluster = 4, "CLUSTER";
        /// A transactional producer's id.
        TransactionalId = 5, "TRANSACTIONAL_ID";
        /// A delegation token.
        DelegationToken = 6, "DELEGATION_TOKEN";
        /// A user (for delegation tokens created on behalf of others).
        User = 7, "USER";
    }
}

kafka_enum! {
    /// Kafka's pattern types: how a binding's resource name selects resources.
    PatternType, "pattern type" {
        /// A code this broker does not know.
        Unknown = 0, "UNKNOWN";
        /// In a filter: every pattern type (a given name then matches exactly).
        Any = 1, "ANY";
        /// In a filter: bindings that apply to the named resource.
        Match = 2, "MATCH";
        /// The name itself, or every name when it is `*`.
        Literal = 3, "LITERAL";
        /// Every name starting with the binding's name.
        Prefixed = 4, "PREFIXED";
    }
}

kafka_enum! {
    /// Kafka's ACL operations.
    AclOperation, "operation" {
        /// A code this broker does not know.
        Unknown = 0, "UNKNOWN";
        /// In a filter: every operation.
        Any = 1, "ANY";
        /// In a binding: every operation.
        All = 2, "ALL";
        /// Consume, commit offsets, join a group.
        Read = 3, "READ";
        /// Produce.
        Write = 4, "WRITE";
        /// Create topics.
        Create = 5, "CREATE";
        /// Delete topics, groups, records.
        Delete = 6, "DELETE";
        /// Alter partitions, ACLs.
        Alter = 7, "ALTER";
        /// Metadata, offsets, group descriptions.
        Describe = 8, "DESCRIBE";
        /// Inter-broker requests.
        ClusterAction = 9, "CLUSTER_ACTION";
        /// Read configs.
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        /// Change configs.
        AlterConfigs = 11, "ALTER_CONFIGS";
        /// Idempotent produce.
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        /// Create delegation tokens.
        CreateTokens = 13, "CREATE_TOKENS";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

kafka_enum! {
    /// ALLOW / DENY (Kafka's `AclPermissionType`).
    AclPermission, "permission type" {
        /// A code this broker does not know.
        Unknown = 0, "UNKNOWN";
        /// In a filter: both.
        Any = 1, "ANY";
        /// Forbids the operation, whatever ALLOW bindings say.
        Deny = 2, "DENY";
        /// Grants the operation unless a DENY binding forbids it.
        Allow = 3, "ALLOW";
    }
}

impl ResourceType {
    /// A type a resource can have: neither `Any` nor `Unknown`.
    pub(crate) fn is_concrete(self) -> bool {
        !matches!(self, ResourceType::Any | ResourceType::Unknown)
    }

    /// The operations Kafka reports in `authorized_operations` for this type (its
    /// `AclEntry.supportedOperations`, Kafka 4); empty for `Any` and `Unknown`.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Any | ResourceType::Unknown => &[],
        }
    }
}

impl AclOperation {
    /// An operation a request can ask for and a binding can name: neither `Any` nor
    /// `Unknown`.
    pub(crate) fn is_concrete(self) -> bool {
        !matches!(self, AclOperation::Any | AclOperation::Unknown)
    }

    /// This operation's bit in an `authorized_operations` field (`1 << code`).
    pub(crate) fn bit(self) -> u32 {
        1u32 << self.code().unsigned_abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in i8::MIN..=i8::MAX {
            for (from, back) in [
                (
                    ResourceType::from_code(code).code(),
                    ResourceType::VALUES.len(),
                ),
                (
                    PatternType::from_code(code).code(),
                    PatternType::VALUES.len(),
                ),
                (
                    AclOperation::from_code(code).code(),
                    AclOperation::VALUES.len(),
                ),
                (
                    AclPermission::from_code(code).code(),
                    AclPermission::VALUES.len(),
                ),
            ] {
                let known = usize::try_from(code).is_ok_and(|c| c < back);
                assert_eq!(from, if known { code } else { 0 }, "code {code}");
            }
        }
        assert_eq!(ResourceType::from_code(5), ResourceType::TransactionalId);
        assert_eq!(ResourceType::User.code(), 7);
        assert_eq!(PatternType::from_code(4), PatternType::Prefixed);
        assert_eq!(AclOperation::from_code(14), AclOperation::DescribeTokens);
        assert_eq!(AclOperation::IdempotentWrite.code(), 12);
        assert_eq!(AclPermission::from_code(3), AclPermission::Allow);
        assert_eq!(AclPermission::from_code(-1), AclPermission::Unknown);
    }

    #[test]
    fn display_is_kafkas_name_and_parses_back() {
        assert_eq!(ResourceType::Topic.to_string(), "TOPIC");
        assert_eq!(
            ResourceType::TransactionalId.to_string(),
            "TRANSACTIONAL_ID"
        );
        assert_eq!(PatternType::Prefixed.to_string(), "PREFIXED");
        assert_eq!(
            AclOperation::DescribeConfigs.to_string(),
            "DESCRIBE_CONFIGS"
        );
        assert_eq!(AclPermission::Allow.to_string(), "ALLOW");
        for v in ResourceType::VALUES {
            assert_eq!(v.to_string().parse::<ResourceType>(), Ok(*v));
        }
        for v in PatternType::VALUES {
            assert_eq!(v.to_string().parse::<PatternType>(), Ok(*v));
        }
        for v in AclOperation::VALUES {
            assert_eq!(v.to_string().parse::<AclOperation>(), Ok(*v));
            assert_eq!(v.to_string().to_lowercase().parse::<AclOperation>(), Ok(*v));
        }
        for v in AclPermission::VALUES {
            assert_eq!(v.to_string().parse::<AclPermission>(), Ok(*v));
        }
    }

    #[test]
    fn parses_every_spelling() {
        for s in [
            "transactional_id",
            "TransactionalId",
            "TRANSACTIONAL_ID",
            "transactionalid",
        ] {
            assert_eq!(s.parse(), Ok(ResourceType::TransactionalId), "{s}");
        }
        for s in ["idempotent_write", "IdempotentWrite", "IDEMPOTENT_WRITE"] {
            assert_eq!(s.parse(), Ok(AclOperation::IdempotentWrite), "{s}");
        }
        assert_eq!(
            "describe_configs".parse(),
            Ok(AclOperation::DescribeConfigs)
        );
        assert_eq!("DescribeConfigs".parse(), Ok(AclOperation::DescribeConfigs));
        assert_eq!("all".parse(), Ok(AclOperation::All));
        assert_eq!("prefixed".parse(), Ok(PatternType::Prefixed));
        assert_eq!("Deny".parse(), Ok(AclPermission::Deny));
        assert_eq!("topic".parse(), Ok(ResourceType::Topic));
    }

    #[test]
    fn refuses_other_names() {
        for s in [
            "",
            "topics",
            "transactional__id",
            "Transactional_Id_",
            "_topic",
            "t opic",
            "é",
        ] {
            assert_eq!(
                s.parse::<ResourceType>(),
                Err(AclError::UnknownName {
                    kind: "resource type",
                    name: s.to_string()
                }),
                "{s}"
            );
        }
        assert!("readd".parse::<AclOperation>().is_err());
        assert!("Describe_Config".parse::<AclOperation>().is_err());
        assert!("permit".parse::<AclPermission>().is_err());
        let err = "x".parse::<PatternType>().err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown pattern type name `x`"));
    }

    #[test]
    fn supported_operations_are_kafkas() {
        assert_eq!(ResourceType::Topic.supported_operations().len(), 8);
        assert_eq!(ResourceType::Cluster.supported_operations().len(), 7);
        assert!(ResourceType::Any.supported_operations().is_empty());
        assert_eq!(AclOperation::Read.bit(), 8);
        assert_eq!(AclOperation::DescribeTokens.bit(), 1 << 14);
    }
}
