//! Kafka's `StandardAuthorizer`: decisions from the ACL set and the settings `super.users`
//! and `allow.everyone.if.no.acl.found`.
//!
//! A request of `principal` from `host` for operation `op` on a resource is allowed when the
//! principal is a super user; otherwise the bindings whose resource pattern applies to the
//! resource (same type, and LITERAL with the same name, LITERAL `*`, or PREFIXED with a prefix
//! of the name) decide: any DENY of `op` or ALL that concerns the principal and host denies;
//! else any ALLOW of `op`, ALL, or an operation implying `op` (READ, WRITE, DELETE, ALTER imply
//! DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS) allows; else, when no binding at all
//! applies to the resource, `allow.everyone.if.no.acl.found` answers; else denied.
//!
//! Immutable once built, so `Send + Sync` and shared by every connection; decisions allocate
//! nothing and look only at the bindings that apply (see the index module).

use std::collections::{BTreeSet, HashSet};

use super::index::{principal_applies, TypeIndex, Verdict};
use super::types::{AclOperation, AclPermission, PatternType, ResourceType};
use super::{AclBinding, AclBindingFilter, WILDCARD};

/// The resource name Kafka's `authorizeByResourceType` asks about first, so that super users
/// (and `allow.everyone.if.no.acl.found` when no binding applies to it) are allowed.
const PROBE_RESOURCE_NAME: &str = "hardcode";

/// The authorizer's settings (Kafka: `super.users`, `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default)]
pub struct AuthorizerSettings {
    /// Principals allowed everything whatever the ACLs say, e.g. `User:admin`.
    pub super_users: Vec<String>,
    /// The decision when no binding applies to the resource (Kafka's default: false).
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerSettings {
    /// Parses Kafka's `super.users` value: principals separated by ';' (spaces trimmed,
    /// empties skipped).
    pub fn parse_super_users(value: &str) -> Vec<String> {
        value
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// ACLs indexed for fast decisions. Immutable: the broker builds a new one when the ACL set
/// changes.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    /// `super.users`.
    super_users: HashSet<String>,
    /// `allow.everyone.if.no.acl.found`.
    allow_everyone_if_no_acl_found: bool,
    /// The bindings by resource type, at the type's wire code.
    by_type: [TypeIndex; 8],
    /// The distinct valid bindings, sorted (by resource type first).
    bindings: Vec<AclBinding>,
}

impl Authorizer {
    /// An authorizer deciding with `settings` and the bindings `acls`. Duplicates count once;
    /// bindings that [`AclBinding::validate`] refuses are left out (CreateAcls never stores
    /// them, and Kafka's authorizer could not hold them).
    pub fn new(settings: AuthorizerSettings, acls: impl IntoIterator<Item = AclBinding>) -> Self {
        let bindings: BTreeSet<AclBinding> =
            acls.into_iter().filter(|b| b.validate().is_ok()).collect();
        let mut by_type: [TypeIndex; 8] = Default::default();
        for binding in &bindings {
            if let Some(index) = type_slot(binding.resource_type).and_then(|i| by_type.get_mut(i)) {
                index.insert(binding);
            }
        }
        Authorizer {
            super_users: settings.super_users.into_iter().collect(),
            allow_everyone_if_no_acl_found: settings.allow_everyone_if_no_acl_found,
            by_type,
            bindings: bindings.into_iter().collect(),
        }
    }

    /// Whether `principal` from `host` may perform `op` on the resource `resource_type`/`name`.
    ///
    /// Super users always may. Otherwise a request for operation `Any`/`Unknown` or on a
    /// resource of type `Any`/`Unknown` is denied (Kafka never asks for one).
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        op: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        if !op.is_concrete() {
            return false;
        }
        self.verdict(principal, host, resource_type, name)
            .is_some_and(|v| v.permits(op, self.allow_everyone_if_no_acl_found))
    }

    /// Kafka's `authorized_operations` bit field for the resource: bit `1 << op.code()` set
    /// for every operation of [`ResourceType::supported_operations`] that
    /// [`Authorizer::authorize`] allows; 0 for type `Any`/`Unknown`.
    pub fn authorized_operations(
        &self,
        principal: &str,
        host: &str,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        let supported = resource_type.supported_operations();
        let bits = if self.is_super_user(principal) {
            supported.iter().fold(0, |bits, op| bits | op.bit())
        } else {
            match self.verdict(principal, host, resource_type, name) {
                Some(v) => supported
                    .iter()
                    .filter(|op| v.permits(**op, self.allow_everyone_if_no_acl_found))
                    .fold(0, |bits, op| bits | op.bit()),
                None => 0,
            }
        };
        // Operation codes stop at 14: the bits fit an i32.
        i32::try_from(bits).unwrap_or(0)
    }

    /// Whether any ALLOW binding could let `principal` from `host` perform `op` on SOME
    /// resource of `resource_type` (Kafka's `authorizeByResourceType`, used e.g. for the
    /// IDEMPOTENT_WRITE fallback and CREATE on topics).
    ///
    /// As Kafka: allowed if [`Authorizer::authorize`] allows `op` on the resource named
    /// `hardcode` (super users; `allow.everyone.if.no.acl.found` when no binding applies to
    /// that name); otherwise, over the bindings of the type that concern the principal and
    /// host with operation `op` or ALL (no implications): denied by a LITERAL `*` DENY,
    /// allowed by a LITERAL `*` ALLOW, allowed by an ALLOW of a LITERAL name that no LITERAL
    /// DENY names and no PREFIXED DENY is a prefix of, or of a PREFIXED name that no PREFIXED
    /// DENY is a prefix of; else denied. A request for operation or type `Any`/`Unknown` is
    /// denied (Kafka refuses it as an illegal argument).
    pub fn authorize_any(
        &self,
        principal: &str,
        host: &str,
        op: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if !op.is_concrete() || !resource_type.is_concrete() {
            return false;
        }
        if self.authorize(principal, host, op, resource_type, PROBE_RESOURCE_NAME) {
            return true;
        }
        let mut denied: HashSet<(PatternType, &str)> = HashSet::new();
        let mut allowed: Vec<(PatternType, &str)> = Vec::new();
        let probe = AclBindingFilter {
            resource_type,
            principal: None,
            host: None,
            ..AclBindingFilter::any()
        };
        for b in self.acls(&probe) {
            let concerned = (b.host == WILDCARD || b.host == host)
                && principal_applies(&b.principal, principal)
                && (b.operation == op || b.operation == AclOperation::All);
            if !concerned {
                continue;
            }
            let wildcard = b.pattern_type == PatternType::Literal && b.resource_name == WILDCARD;
            match (b.permission, wildcard) {
                (AclPermission::Deny, true) => return false,
                (AclPermission::Deny, false) => {
                    denied.insert((b.pattern_type, b.resource_name.as_str()));
                }
                (AclPermission::Allow, _) => allowed.push((b.pattern_type, &b.resource_name)),
                _ => {}
            }
        }
        if allowed
            .iter()
            .any(|(p, name)| *p == PatternType::Literal && *name == WILDCARD)
        {
            return true;
        }
        allowed.iter().any(|&(pattern, name)| {
            let literal_denied =
                pattern == PatternType::Literal && denied.contains(&(PatternType::Literal, name));
            let prefix_denied = name
                .char_indices()
                .map(|(at, c)| at + c.len_utf8())
                .filter_map(|end| name.get(..end))
                .any(|prefix| denied.contains(&(PatternType::Prefixed, prefix)));
            !literal_denied && !prefix_denied
        })
    }

    /// Whether `principal` is in `super.users` (compared exactly).
    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    /// How many distinct bindings the authorizer holds.
    pub fn acl_count(&self) -> usize {
        self.bindings.len()
    }

    /// The bindings `filter` matches, sorted (DescribeAcls).
    pub fn acls<'a>(
        &'a self,
        filter: &'a AclBindingFilter,
    ) -> impl Iterator<Item = &'a AclBinding> + 'a {
        let of_type = match filter.resource_type {
            ResourceType::Any => self.bindings.as_slice(),
            t => {
                let start = self.bindings.partition_point(|b| b.resource_type < t);
                let end = self.bindings.partition_point(|b| b.resource_type <= t);
                self.bindings.get(start..end).unwrap_or_default()
            }
        };
        of_type.iter().filter(move |b| filter.matches(b))
    }

    /// The bindings that apply to the resource, folded for `principal` and `host`; `None` for
    /// a resource type that is `Any` or `Unknown`.
    fn verdict(
        &self,
        principal: &str,
        host: &str,
        resource_type: ResourceType,
        name: &str,
    ) -> Option<Verdict> {
        let index = type_slot(resource_type).and_then(|i| self.by_type.get(i))?;
        Some(index.verdict(name, principal, host))
    }
}

/// The slot of a concrete resource type in [`Authorizer::by_type`].
fn type_slot(resource_type: ResourceType) -> Option<usize> {
    if resource_type.is_concrete() {
        usize::try_from(resource_type.code()).ok()
    } else {
        None
    }
}
