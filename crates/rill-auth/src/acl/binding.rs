//! One ACL ([`AclBinding`], Kafka's `AclBinding` of a `ResourcePattern` and an
//! `AccessControlEntry`) and the filters of DescribeAcls and DeleteAcls
//! ([`AclBindingFilter`], Kafka's `AclBindingFilter` of a `ResourcePatternFilter` and an
//! `AccessControlEntryFilter`), with Kafka's validation of both.

use super::types::{AclOperation, AclPermission, PatternType, ResourceType};
use super::{AclError, CLUSTER_RESOURCE_NAME, WILDCARD};

/// One ACL: who may (or may not) do what on which resources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// The type of the resources the binding applies to (never `Any`/`Unknown` once valid).
    pub resource_type: ResourceType,
    /// The resource name, a prefix of names (PREFIXED), or `*` (LITERAL: every name).
    pub resource_name: String,
    /// `Literal` or `Prefixed` in a valid binding.
    pub pattern_type: PatternType,
    /// `Type:name`, e.g. `User:alice`; `Type:*` applies to every principal of that type.
    pub principal: String,
    /// The client's address as text, or `*` for every host.
    pub host: String,
    /// The operation allowed or denied (`All` for every one).
    pub operation: AclOperation,
    /// `Allow` or `Deny` in a valid binding.
    pub permission: AclPermission,
}

impl AclBinding {
    /// Whether this binding may be stored (CreateAcls), with Kafka's reasons.
    ///
    /// # Errors
    /// [`AclError::Invalid`] when the resource type is `Any`/`Unknown`, the pattern type is not
    /// `Literal`/`Prefixed`, the operation is `Any`/`Unknown`, the permission is not
    /// `Allow`/`Deny`, the resource name or host is empty, the principal is not `Type:name`
    /// with both parts non-empty, or a CLUSTER binding is not LITERAL `kafka-cluster`.
    pub fn validate(&self) -> Result<(), AclError> {
        let invalid = |reason: String| Err(AclError::Invalid(reason));
        if !self.resource_type.is_concrete() {
            return invalid(format!("Invalid resourceType {}", self.resource_type));
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return invalid(format!("Invalid patternType {}", self.pattern_type));
        }
        if !self.operation.is_concrete() {
            return invalid(format!("Invalid operation {}", self.operation));
        }
        if !matches!(self.permission, AclPermission::Allow | AclPermission::Deny) {
            return invalid(format!("Invalid permissionType {}", self.permission));
        }
        if self.resource_name.is_empty() {
            return invalid("Resource name should not be empty".to_string());
        }
        match self.principal.split_once(':') {
            None => {
                return invalid(format!(
                    "Could not parse principal from `{}` (no colon is present separating the \
                     principal type from the principal name)",
                    self.principal
                ))
            }
            Some((kind, name)) if kind.is_empty() || name.is_empty() => {
                return invalid(format!(
                    "Invalid principal `{}`: the principal type and name must not be empty",
                    self.principal
                ))
            }
            Some(_) => {}
        }
        if self.host.is_empty() {
            return invalid("Host should not be empty (use `*` for every host)".to_string());
        }
        if self.resource_type == ResourceType::Cluster
            && (self.resource_name != CLUSTER_RESOURCE_NAME
                || self.pattern_type != PatternType::Literal)
        {
            return invalid(format!(
                "The only valid name for the CLUSTER resource is LITERAL {CLUSTER_RESOURCE_NAME}"
            ));
        }
        Ok(())
    }
}

/// A filter over bindings (DescribeAcls, DeleteAcls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    /// A resource type, or `Any` for every type.
    pub resource_type: ResourceType,
    /// A resource name, or `None` for every name.
    pub resource_name: Option<String>,
    /// `Any` (a given name matches exactly, whatever the pattern type), `Match` (bindings
    /// that apply to the named resource), `Literal` or `Prefixed` (that pattern type, a given
    /// name matching exactly).
    pub pattern_type: PatternType,
    /// A principal compared exactly, or `None` for every principal.
    pub principal: Option<String>,
    /// A host compared exactly, or `None` for every host.
    pub host: Option<String>,
    /// An operation, or `Any` for every operation.
    pub operation: AclOperation,
    /// A permission, or `Any` for both.
    pub permission: AclPermission,
}

impl AclBindingFilter {
    /// A filter matching every binding.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// Whether `binding` passes this filter (Kafka's `AclBindingFilter.matches`).
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(binding) && self.matches_entry(binding)
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    fn matches_pattern(&self, binding: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != binding.resource_type {
            return false;
        }
        let any_pattern = matches!(self.pattern_type, PatternType::Any | PatternType::Match);
        if !any_pattern && self.pattern_type != binding.pattern_type {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == binding.pattern_type {
            return *name == binding.resource_name;
        }
        // MATCH with a name: the bindings that would apply to that resource.
        match binding.pattern_type {
            PatternType::Literal => {
                *name == binding.resource_name || binding.resource_name == WILDCARD
            }
            PatternType::Prefixed => name.starts_with(binding.resource_name.as_str()),
            _ => false,
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    fn matches_entry(&self, binding: &AclBinding) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| *p == binding.principal)
            && self.host.as_ref().is_none_or(|h| *h == binding.host)
            && (self.operation == AclOperation::Any || self.operation == binding.operation)
            && (self.permission == AclPermission::Any || self.permission == binding.permission)
    }

    /// A filter with Unknown anywhere is refused (Kafka: INVALID_REQUEST).
    ///
    /// # Errors
    /// [`AclError::Invalid`] naming the first field that is `Unknown`.
    pub fn validate(&self) -> Result<(), AclError> {
        let unknown = [
            ("resource type", self.resource_type == ResourceType::Unknown),
            ("pattern type", self.pattern_type == PatternType::Unknown),
            ("operation", self.operation == AclOperation::Unknown),
            ("permission type", self.permission == AclPermission::Unknown),
        ];
        match unknown.iter().find(|(_, is_unknown)| *is_unknown) {
            Some((field, _)) => Err(AclError::Invalid(format!(
                "The ACL filter has an UNKNOWN {field}"
            ))),
            None => Ok(()),
        }
    }
}

impl Default for AclBindingFilter {
    /// [`AclBindingFilter::any`].
    fn default() -> Self {
        Self::any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(pattern: PatternType, name: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.to_string(),
            pattern_type: pattern,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    fn filter(pattern: PatternType, name: Option<&str>) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: ResourceType::Topic,
            resource_name: name.map(str::to_string),
            pattern_type: pattern,
            ..AclBindingFilter::any()
        }
    }

    fn reason(b: &AclBinding) -> String {
        match b.validate() {
            Err(AclError::Invalid(r)) => r,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn valid_bindings() {
        assert_eq!(binding(PatternType::Literal, "orders").validate(), Ok(()));
        assert_eq!(binding(PatternType::Prefixed, "ord").validate(), Ok(()));
        assert_eq!(binding(PatternType::Literal, "*").validate(), Ok(()));
        let cluster = AclBinding {
            resource_type: ResourceType::Cluster,
            resource_name: "kafka-cluster".to_string(),
            operation: AclOperation::IdempotentWrite,
            ..binding(PatternType::Literal, "")
        };
        assert_eq!(cluster.validate(), Ok(()));
        let wildcard = AclBinding {
            principal: "User:*".to_string(),
            host: "10.0.0.1".to_string(),
            permission: AclPermission::Deny,
            operation: AclOperation::All,
            ..binding(PatternType::Literal, "t")
        };
        assert_eq!(wildcard.validate(), Ok(()));
    }

    #[test]
    fn validate_refuses_with_kafkas_reasons() {
        let ok = binding(PatternType::Literal, "t");
        let cases: Vec<(AclBinding, &str)> = vec![
            (
                AclBinding {
                    resource_type: ResourceType::Any,
                    ..ok.clone()
                },
                "Invalid resourceType ANY",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::Unknown,
                    ..ok.clone()
                },
                "Invalid resourceType UNKNOWN",
            ),
            (
                AclBinding {
                    pattern_type: PatternType::Match,
                    ..ok.clone()
                },
                "Invalid patternType MATCH",
            ),
            (
                AclBinding {
                    pattern_type: PatternType::Any,
                    ..ok.clone()
                },
                "Invalid patternType ANY",
            ),
            (
                AclBinding {
                    pattern_type: PatternType::Unknown,
                    ..ok.clone()
                },
                "Invalid patternType UNKNOWN",
            ),
            (
                AclBinding {
                    operation: AclOperation::Any,
                    ..ok.clone()
                },
                "Invalid operation ANY",
            ),
            (
                AclBinding {
                    operation: AclOperation::Unknown,
                    ..ok.clone()
                },
                "Invalid operation UNKNOWN",
            ),
            (
                AclBinding {
                    permission: AclPermission::Any,
                    ..ok.clone()
                },
                "Invalid permissionType ANY",
            ),
            (
                AclBinding {
                    permission: AclPermission::Unknown,
                    ..ok.clone()
                },
                "Invalid permissionType UNKNOWN",
            ),
            (
                AclBinding {
                    resource_name: String::new(),
                    ..ok.clone()
                },
                "Resource name should not be empty",
            ),
            (
                AclBinding {
                    principal: "alice".to_string(),
                    ..ok.clone()
                },
                "Could not parse principal from `alice`",
            ),
            (
                AclBinding {
                    principal: ":alice".to_string(),
                    ..ok.clone()
                },
                "Invalid principal `:alice`",
            ),
            (
                AclBinding {
                    principal: "User:".to_string(),
                    ..ok.clone()
                },
                "Invalid principal `User:`",
            ),
            (
                AclBinding {
                    host: String::new(),
                    ..ok.clone()
                },
                "Host should not be empty",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::Cluster,
                    resource_name: "other".to_string(),
                    ..ok.clone()
                },
                "The only valid name for the CLUSTER resource",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::Cluster,
                    resource_name: "kafka-cluster".to_string(),
                    pattern_type: PatternType::Prefixed,
                    ..ok.clone()
                },
                "The only valid name for the CLUSTER resource",
            ),
        ];
        for (b, want) in cases {
            let got = reason(&b);
            assert!(got.starts_with(want), "{b:?}: {got}");
        }
    }

    #[test]
    fn filter_any_matches_everything() {
        let f = AclBindingFilter::any();
        assert_eq!(f, AclBindingFilter::default());
        assert!(f.matches(&binding(PatternType::Literal, "t")));
        assert!(f.matches(&binding(PatternType::Prefixed, "t")));
        let group = AclBinding {
            resource_type: ResourceType::Group,
            ..binding(PatternType::Literal, "g")
        };
        assert!(f.matches(&group));
        assert!(!filter(PatternType::Any, None).matches(&group));
    }

    #[test]
    fn filter_by_pattern_type() {
        let lit = binding(PatternType::Literal, "abc");
        let pre = binding(PatternType::Prefixed, "abc");
        assert!(filter(PatternType::Literal, None).matches(&lit));
        assert!(!filter(PatternType::Literal, None).matches(&pre));
        assert!(filter(PatternType::Prefixed, None).matches(&pre));
        assert!(!filter(PatternType::Prefixed, None).matches(&lit));
        assert!(filter(PatternType::Literal, Some("abc")).matches(&lit));
        assert!(!filter(PatternType::Literal, Some("ab")).matches(&lit));
        assert!(filter(PatternType::Prefixed, Some("abc")).matches(&pre));
        assert!(!filter(PatternType::Prefixed, Some("abcd")).matches(&pre));
        // ANY with a name: that exact name under any pattern type.
        assert!(filter(PatternType::Any, Some("abc")).matches(&lit));
        assert!(filter(PatternType::Any, Some("abc")).matches(&pre));
        assert!(!filter(PatternType::Any, Some("abcd")).matches(&pre));
        assert!(!filter(PatternType::Any, Some("*")).matches(&lit));
    }

    #[test]
    fn filter_match_finds_the_bindings_that_apply() {
        let f = filter(PatternType::Match, Some("abcd"));
        assert!(f.matches(&binding(PatternType::Literal, "abcd")));
        assert!(f.matches(&binding(PatternType::Literal, "*")));
        assert!(f.matches(&binding(PatternType::Prefixed, "abc")));
        assert!(f.matches(&binding(PatternType::Prefixed, "abcd")));
        assert!(!f.matches(&binding(PatternType::Literal, "abc")));
        assert!(!f.matches(&binding(PatternType::Prefixed, "abcde")));
        assert!(!f.matches(&binding(PatternType::Prefixed, "b")));
        // MATCH without a name acts as ANY.
        let all = filter(PatternType::Match, None);
        assert!(all.matches(&binding(PatternType::Literal, "x")));
        assert!(all.matches(&binding(PatternType::Prefixed, "y")));
    }

    #[test]
    fn filter_by_entry() {
        let b = AclBinding {
            host: "10.0.0.1".to_string(),
            ..binding(PatternType::Literal, "t")
        };
        let with = |f: fn(&mut AclBindingFilter)| {
            let mut filter = AclBindingFilter::any();
            f(&mut filter);
            filter.matches(&b)
        };
        assert!(with(|f| f.principal = Some("User:alice".to_string())));
        assert!(!with(|f| f.principal = Some("User:bob".to_string())));
        assert!(!with(|f| f.principal = Some("User:*".to_string())));
        assert!(with(|f| f.host = Some("10.0.0.1".to_string())));
        assert!(!with(|f| f.host = Some("*".to_string())));
        assert!(with(|f| f.operation = AclOperation::Read));
        assert!(!with(|f| f.operation = AclOperation::Describe));
        assert!(!with(|f| f.operation = AclOperation::All));
        assert!(with(|f| f.permission = AclPermission::Allow));
        assert!(!with(|f| f.permission = AclPermission::Deny));
        assert!(with(|f| f.resource_type = ResourceType::Topic));
        assert!(!with(|f| f.resource_type = ResourceType::Group));
    }

    #[test]
    fn filter_validate_refuses_unknown() {
        assert_eq!(AclBindingFilter::any().validate(), Ok(()));
        assert_eq!(filter(PatternType::Match, Some("x")).validate(), Ok(()));
        let cases = [
            AclBindingFilter {
                resource_type: ResourceType::Unknown,
                ..AclBindingFilter::any()
            },
            AclBindingFilter {
                pattern_type: PatternType::Unknown,
                ..AclBindingFilter::any()
            },
            AclBindingFilter {
                operation: AclOperation::Unknown,
                ..AclBindingFilter::any()
            },
            AclBindingFilter {
                permission: AclPermission::Unknown,
                ..AclBindingFilter::any()
            },
        ];
        for f in cases {
            assert!(matches!(f.validate(), Err(AclError::Invalid(_))), "{f:?}");
        }
        let err = AclBindingFilter {
            operation: AclOperation::Unknown,
            ..AclBindingFilter::any()
        }
        .validate()
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("The ACL filter has an UNKNOWN operation")
        );
    }
}
