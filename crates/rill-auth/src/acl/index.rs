//! The bindings of one resource type, indexed so that a decision looks only at the bindings
//! whose resource pattern applies to the resource: LITERAL ones by name, the LITERAL `*` ones
//! apart, PREFIXED ones by prefix with the set of prefix lengths that exist (a name of n bytes
//! costs at most one lookup per distinct prefix length up to n). Looking up allocates nothing.
//!
//! A decision folds every applicable binding into a [`Verdict`]: bit masks of the operations
//! allowed and denied to the principal and host, and whether any binding applied at all.

use std::collections::HashMap;

use super::types::{AclOperation, AclPermission, PatternType};
use super::{AclBinding, WILDCARD};

/// Every concrete operation's bit (codes 2 to 14).
const ALL_OPERATIONS: u32 = 0x7FFC;

/// Who a binding concerns and what it allows or denies; its resource pattern is where it
/// is filed in the [`TypeIndex`].
#[derive(Debug, Clone)]
struct Rule {
    /// `Type:name` as in the binding; `Type:*` concerns every principal of that type.
    principal: String,
    /// An address, or `*`.
    host: String,
    /// The bits this rule allows (an ALLOW, with Kafka's implied operations) or denies.
    mask: u32,
    /// ALLOW or DENY.
    permission: AclPermission,
}

impl Rule {
    fn new(binding: &AclBinding) -> Self {
        let op = binding.operation;
        let mask = match (op, binding.permission) {
            (AclOperation::All, _) => ALL_OPERATIONS,
            // ALLOW of READ, WRITE, DELETE, ALTER implies DESCRIBE; of ALTER_CONFIGS,
            // DESCRIBE_CONFIGS. DENY implies nothing.
            (
                AclOperation::Read
                | AclOperation::Write
                | AclOperation::Delete
                | AclOperation::Alter,
                AclPermission::Allow,
            ) => op.bit() | AclOperation::Describe.bit(),
            (AclOperation::AlterConfigs, AclPermission::Allow) => {
                op.bit() | AclOperation::DescribeConfigs.bit()
            }
            _ => op.bit(),
        };
        Rule {
            principal: binding.principal.clone(),
            host: binding.host.clone(),
            mask,
            permission: binding.permission,
        }
    }

    /// Whether the rule concerns `principal` connected from `host`.
    fn concerns(&self, principal: &str, host: &str) -> bool {
        (self.host == WILDCARD || self.host == host)
            && principal_applies(&self.principal, principal)
    }
}

/// Whether a binding's principal concerns `principal`: equal, or `Type:*` with the same type
/// (Kafka matches `User:*` against every `User:` principal; the same holds for every type).
pub(crate) fn principal_applies(binding: &str, principal: &str) -> bool {
    if binding == principal {
        return true;
    }
    match (binding.split_once(':'), principal.split_once(':')) {
        (Some((kind, "*")), Some((asked, _))) => kind == asked,
        _ => false,
    }
}

/// The outcome of the bindings that apply to one resource, for one principal and host.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Verdict {
    /// Whether any binding's resource pattern applies to the resource (whoever it concerns).
    found: bool,
    /// The operations an ALLOW binding grants (implications included).
    allowed: u32,
    /// The operations a DENY binding forbids.
    denied: u32,
}

impl Verdict {
    fn add(&mut self, rules: &[Rule], principal: &str, host: &str) {
        self.found |= !rules.is_empty();
        for rule in rules.iter().filter(|r| r.concerns(principal, host)) {
            match rule.permission {
                AclPermission::Allow => self.allowed |= rule.mask,
                AclPermission::Deny => self.denied |= rule.mask,
                _ => {}
            }
        }
    }

    /// The decision for `op`: denied by any DENY, else allowed by any ALLOW, else
    /// `no_acl_found` if no binding applies to the resource, else denied.
    pub(crate) fn permits(&self, op: AclOperation, no_acl_found: bool) -> bool {
        let bit = op.bit();
        if self.denied & bit != 0 {
            false
        } else if self.allowed & bit != 0 {
            true
        } else {
            !self.found && no_acl_found
        }
    }
}

/// The bindings of one resource type.
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeIndex {
    /// LITERAL bindings other than `*`, by resource name.
    literal: HashMap<String, Vec<Rule>>,
    /// LITERAL `*` bindings: they apply to every resource of the type.
    wildcard: Vec<Rule>,
    /// PREFIXED bindings, by prefix.
    prefixed: HashMap<String, Vec<Rule>>,
    /// The distinct byte lengths of the keys of `prefixed`, ascending.
    prefix_lens: Vec<usize>,
}

impl TypeIndex {
    /// Files a binding of this type (valid: LITERAL or PREFIXED, non-empty name).
    pub(crate) fn insert(&mut self, binding: &AclBinding) {
        let rule = Rule::new(binding);
        let name = &binding.resource_name;
        match binding.pattern_type {
            PatternType::Literal if name == WILDCARD => self.wildcard.push(rule),
            PatternType::Literal => self.literal.entry(name.clone()).or_default().push(rule),
            PatternType::Prefixed => {
                if let Err(at) = self.prefix_lens.binary_search(&name.len()) {
                    self.prefix_lens.insert(at, name.len());
                }
                self.prefixed.entry(name.clone()).or_default().push(rule);
            }
            _ => {}
        }
    }

    /// The bindings that apply to the resource `name`, folded for `principal` and `host`.
    pub(crate) fn verdict(&self, name: &str, principal: &str, host: &str) -> Verdict {
        let mut verdict = Verdict::default();
        if let Some(rules) = self.literal.get(name) {
            verdict.add(rules, principal, host);
        }
        verdict.add(&self.wildcard, principal, host);
        for &len in self
            .prefix_lens
            .iter()
            .take_while(|&&len| len <= name.len())
        {
            // A prefix that is valid UTF-8 ends on a char boundary of every name it starts.
            if let Some(rules) = name.get(..len).and_then(|p| self.prefixed.get(p)) {
                verdict.add(rules, principal, host);
            }
        }
        verdict
    }
}
