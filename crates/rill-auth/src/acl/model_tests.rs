//! Property tests: the indexed [`Authorizer`] agrees with a model that scans every binding
//! and follows Kafka's rules literally, and nothing panics on any input.

use proptest::prelude::*;

use super::*;

/// The model of `authorize`: every binding scanned, the rules written out as Kafka states them.
fn model_authorize(
    settings: &AuthorizerSettings,
    acls: &[AclBinding],
    principal: &str,
    host: &str,
    op: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if settings.super_users.iter().any(|s| s == principal) {
        return true;
    }
    if matches!(op, AclOperation::Any | AclOperation::Unknown)
        || matches!(resource_type, ResourceType::Any | ResourceType::Unknown)
    {
        return false;
    }
    let applicable: Vec<&AclBinding> = acls
        .iter()
        .filter(|b| b.validate().is_ok())
        .filter(|b| b.resource_type == resource_type)
        .filter(|b| match b.pattern_type {
            PatternType::Literal => b.resource_name == name || b.resource_name == "*",
            PatternType::Prefixed => name.starts_with(&b.resource_name),
            _ => false,
        })
        .collect();
    if applicable.is_empty() {
        return settings.allow_everyone_if_no_acl_found;
    }
    let concerns = |b: &AclBinding| {
        let principal_ok = b.principal == principal
            || b.principal.strip_suffix(":*").is_some_and(|kind| {
                !kind.contains(':') && principal.starts_with(&format!("{kind}:"))
            });
        principal_ok && (b.host == "*" || b.host == host)
    };
    let denied = applicable.iter().any(|b| {
        concerns(b)
            && b.permission == AclPermission::Deny
            && (b.operation == op || b.operation == AclOperation::All)
    });
    if denied {
        return false;
    }
    applicable.iter().any(|b| {
        use AclOperation::*;
        let implied = match op {
            Describe => matches!(b.operation, Read | Write | Delete | Alter),
            DescribeConfigs => b.operation == AlterConfigs,
            _ => false,
        };
        concerns(b)
            && b.permission == AclPermission::Allow
            && (b.operation == op || b.operation == All || implied)
    })
}

/// Kafka's `AclEntry.supportedOperations`, written out again.
fn model_supported(resource_type: ResourceType) -> Vec<AclOperation> {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => vec![
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => vec![Read, Describe, Delete, DescribeConfigs, AlterConfigs],
        ResourceType::Cluster => vec![
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => vec![Describe, Write],
        ResourceType::DelegationToken => vec![Describe],
        ResourceType::User => vec![CreateTokens, DescribeTokens],
        _ => vec![],
    }
}

/// The model of `authorize_any`: Kafka's `Authorizer.authorizeByResourceType`, transcribed.
fn model_authorize_any(
    settings: &AuthorizerSettings,
    acls: &[AclBinding],
    principal: &str,
    host: &str,
    op: AclOperation,
    resource_type: ResourceType,
) -> bool {
    if matches!(op, AclOperation::Any | AclOperation::Unknown)
        || matches!(resource_type, ResourceType::Any | ResourceType::Unknown)
    {
        return false;
    }
    if model_authorize(
        settings,
        acls,
        principal,
        host,
        op,
        resource_type,
        "hardcode",
    ) {
        return true;
    }
    let mut deny_literal = Vec::new();
    let mut deny_prefixed = Vec::new();
    let mut allow = Vec::new();
    let mut wildcard_allow = false;
    for b in acls
        .iter()
        .filter(|b| b.validate().is_ok() && b.resource_type == resource_type)
    {
        let principal_ok = b.principal == principal
            || b.principal.strip_suffix(":*").is_some_and(|kind| {
                !kind.contains(':') && principal.starts_with(&format!("{kind}:"))
            });
        if !(b.host == host || b.host == "*")
            || !principal_ok
            || !(b.operation == op || b.operation == AclOperation::All)
        {
            continue;
        }
        let name = b.resource_name.clone();
        match (b.permission, b.pattern_type) {
            (AclPermission::Deny, PatternType::Literal) if name == "*" => return false,
            (AclPermission::Deny, PatternType::Literal) => deny_literal.push(name),
            (AclPermission::Deny, _) => deny_prefixed.push(name),
            (_, PatternType::Literal) if name == "*" => wildcard_allow = true,
            (_, pattern) => allow.push((pattern, name)),
        }
    }
    if wildcard_allow {
        return true;
    }
    allow.iter().any(|(pattern, name)| {
        if *pattern == PatternType::Literal && deny_literal.contains(name) {
            return false;
        }
        let mut prefix = String::new();
        for c in name.chars() {
            prefix.push(c);
            if deny_prefixed.contains(&prefix) {
                return false;
            }
        }
        true
    })
}

fn pick<T: Clone + std::fmt::Debug + 'static>(values: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(values)
}

const RESOURCE_TYPES: &[ResourceType] = &[
    ResourceType::Topic,
    ResourceType::Group,
    ResourceType::Cluster,
];
const NAMES: &[&str] = &[
    "a",
    "ab",
    "abc",
    "b",
    "*",
    "kafka-cluster",
    "é",
    "éa",
    "hard",
];
const PRINCIPALS: &[&str] = &["User:alice", "User:bob", "User:*", "Group:*", "Group:ops"];
const HOSTS: &[&str] = &["*", "10.0.0.1", "10.0.0.2"];
const PERMISSIONS: &[AclPermission] = &[AclPermission::Allow, AclPermission::Deny];
const PATTERNS: &[PatternType] = &[PatternType::Literal, PatternType::Prefixed];
const REQUEST_NAMES: &[&str] = &[
    "a",
    "ab",
    "abc",
    "abcd",
    "b",
    "bc",
    "c",
    "*",
    "kafka-cluster",
    "é",
    "éa",
    "éb",
    "e",
    "hardcode",
];
const REQUEST_PRINCIPALS: &[&str] = &[
    "User:alice",
    "User:bob",
    "User:carol",
    "Group:ops",
    "Group:x",
    "alice",
];
const REQUEST_HOSTS: &[&str] = &["10.0.0.1", "10.0.0.2", "10.0.0.3"];

fn binding() -> impl Strategy<Value = AclBinding> {
    (
        pick(RESOURCE_TYPES),
        pick(NAMES),
        pick(PATTERNS),
        pick(PRINCIPALS),
        pick(HOSTS),
        pick(&AclOperation::VALUES[2..]),
        pick(PERMISSIONS),
    )
        .prop_map(
            |(resource_type, name, pattern_type, principal, host, operation, permission)| {
                AclBinding {
                    resource_type,
                    resource_name: name.to_string(),
                    pattern_type,
                    principal: principal.to_string(),
                    host: host.to_string(),
                    operation,
                    permission,
                }
            },
        )
}

/// TOPIC bindings from a tiny alphabet, so that DENY and ALLOW often meet on one name.
fn small_topic_binding() -> impl Strategy<Value = AclBinding> {
    (
        pick(&["a", "ab", "é", "éa", "*", "h"][..]),
        pick(PATTERNS),
        pick(&["User:alice", "User:*"][..]),
        pick(&[AclOperation::Read, AclOperation::Write, AclOperation::All][..]),
        pick(PERMISSIONS),
    )
        .prop_map(
            |(name, pattern_type, principal, operation, permission)| AclBinding {
                resource_type: ResourceType::Topic,
                resource_name: name.to_string(),
                pattern_type,
                principal: principal.to_string(),
                host: "*".to_string(),
                operation,
                permission,
            },
        )
}

fn settings() -> impl Strategy<Value = AuthorizerSettings> {
    (
        any::<bool>(),
        proptest::sample::subsequence(vec!["User:bob", "Group:ops"], 0..=1),
    )
        .prop_map(
            |(allow_everyone_if_no_acl_found, supers)| AuthorizerSettings {
                super_users: supers.into_iter().map(str::to_string).collect(),
                allow_everyone_if_no_acl_found,
            },
        )
}

#[derive(Debug, Clone)]
struct Request {
    principal: &'static str,
    host: &'static str,
    op: AclOperation,
    resource_type: ResourceType,
    name: &'static str,
}

fn request() -> impl Strategy<Value = Request> {
    (
        pick(REQUEST_PRINCIPALS),
        pick(REQUEST_HOSTS),
        pick(AclOperation::VALUES),
        prop_oneof![8 => pick(RESOURCE_TYPES), 1 => pick(ResourceType::VALUES)],
        pick(REQUEST_NAMES),
    )
        .prop_map(|(principal, host, op, resource_type, name)| Request {
            principal,
            host,
            op,
            resource_type,
            name,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn authorizer_agrees_with_the_model(
        settings in settings(),
        acls in proptest::collection::vec(binding(), 0..40),
        requests in proptest::collection::vec(request(), 1..30),
    ) {
        let authorizer = Authorizer::new(settings.clone(), acls.clone());
        for r in &requests {
            let want = model_authorize(&settings, &acls, r.principal, r.host, r.op, r.resource_type, r.name);
            let got = authorizer.authorize(r.principal, r.host, r.op, r.resource_type, r.name);
            prop_assert_eq!(got, want, "authorize {:?}", r);

            let want_ops = model_supported(r.resource_type)
                .into_iter()
                .filter(|op| model_authorize(&settings, &acls, r.principal, r.host, *op, r.resource_type, r.name))
                .fold(0i32, |bits, op| bits | (1 << op.code()));
            let got_ops = authorizer.authorized_operations(r.principal, r.host, r.resource_type, r.name);
            prop_assert_eq!(got_ops, want_ops, "authorized_operations {:?}", r);

            let want_any = model_authorize_any(&settings, &acls, r.principal, r.host, r.op, r.resource_type);
            let got_any = authorizer.authorize_any(r.principal, r.host, r.op, r.resource_type);
            prop_assert_eq!(got_any, want_any, "authorize_any {:?}", r);
        }
        let mut distinct: Vec<&AclBinding> = acls.iter().filter(|b| b.validate().is_ok()).collect();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(authorizer.acl_count(), distinct.len());
    }

    #[test]
    fn authorize_any_agrees_with_the_model_on_small_sets(
        allow_everyone in any::<bool>(),
        acls in proptest::collection::vec(small_topic_binding(), 0..8),
        principal in pick(&["User:alice", "User:bob"][..]),
        op in pick(&[AclOperation::Read, AclOperation::Write, AclOperation::Describe][..]),
    ) {
        let settings = AuthorizerSettings { super_users: vec![], allow_everyone_if_no_acl_found: allow_everyone };
        let authorizer = Authorizer::new(settings.clone(), acls.clone());
        let want = model_authorize_any(&settings, &acls, principal, "10.0.0.1", op, ResourceType::Topic);
        let got = authorizer.authorize_any(principal, "10.0.0.1", op, ResourceType::Topic);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn acls_agree_with_the_filter(
        acls in proptest::collection::vec(binding(), 0..30),
        resource_type in pick(ResourceType::VALUES),
        name in proptest::option::of(pick(REQUEST_NAMES)),
        pattern_type in pick(PatternType::VALUES),
        principal in proptest::option::of(pick(PRINCIPALS)),
        operation in pick(AclOperation::VALUES),
        permission in pick(AclPermission::VALUES),
    ) {
        let filter = AclBindingFilter {
            resource_type,
            resource_name: name.map(str::to_string),
            pattern_type,
            principal: principal.map(str::to_string),
            host: None,
            operation,
            permission,
        };
        let authorizer = Authorizer::new(AuthorizerSettings::default(), acls.clone());
        let got: Vec<&AclBinding> = authorizer.acls(&filter).collect();
        let mut want: Vec<&AclBinding> = acls.iter().filter(|b| b.validate().is_ok() && filter.matches(b)).collect();
        want.sort();
        want.dedup();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn never_panics(
        acls in proptest::collection::vec(
            (
                pick(ResourceType::VALUES),
                any::<String>(),
                pick(PatternType::VALUES),
                any::<String>(),
                any::<String>(),
                any::<i8>(),
                any::<i8>(),
            ),
            0..20,
        ),
        requests in proptest::collection::vec(
            (any::<String>(), any::<String>(), any::<i8>(), any::<i8>(), any::<String>()),
            1..10,
        ),
        super_users in any::<String>(),
        allow_everyone in any::<bool>(),
    ) {
        let acls: Vec<AclBinding> = acls
            .into_iter()
            .map(|(resource_type, name, pattern_type, principal, host, op, perm)| AclBinding {
                resource_type,
                resource_name: name,
                pattern_type,
                principal,
                host,
                operation: AclOperation::from_code(op),
                permission: AclPermission::from_code(perm),
            })
            .collect();
        // Valid twins of the random bindings, so the index holds random names too.
        let valid: Vec<AclBinding> = acls
            .iter()
            .filter(|b| !b.resource_name.is_empty())
            .map(|b| AclBinding {
                resource_type: ResourceType::Topic,
                pattern_type: if b.resource_name.len() % 2 == 0 { PatternType::Prefixed } else { PatternType::Literal },
                principal: format!("User:{}", b.principal),
                host: "*".to_string(),
                operation: AclOperation::Read,
                permission: AclPermission::Allow,
                ..b.clone()
            })
            .collect();
        let settings = AuthorizerSettings {
            super_users: AuthorizerSettings::parse_super_users(&super_users),
            allow_everyone_if_no_acl_found: allow_everyone,
        };
        let all: Vec<AclBinding> = acls.iter().chain(&valid).cloned().collect();
        let authorizer = Authorizer::new(settings.clone(), all.clone());
        for b in &all {
            let _ = b.validate();
            let _ = b.resource_name.parse::<ResourceType>();
            let _ = b.host.parse::<AclOperation>();
        }
        for (principal, host, op, rt, name) in &requests {
            let op = AclOperation::from_code(*op);
            let rt = ResourceType::from_code(*rt);
            let got = authorizer.authorize(principal, host, op, rt, name);
            prop_assert_eq!(got, model_authorize(&settings, &all, principal, host, op, rt, name));
            let _ = authorizer.authorized_operations(principal, host, rt, name);
            let _ = authorizer.authorize_any(principal, host, op, rt);
            // Every valid twin's own name, and its name with a character more, as requests.
            for b in &valid {
                let user = format!("User:{}", principal);
                for asked in [b.resource_name.clone(), format!("{}{}", b.resource_name, name)] {
                    let got = authorizer.authorize(&user, host, AclOperation::Read, ResourceType::Topic, &asked);
                    let want = model_authorize(&settings, &all, &user, host, AclOperation::Read, ResourceType::Topic, &asked);
                    prop_assert_eq!(got, want);
                }
            }
            let filter = AclBindingFilter {
                resource_type: rt,
                resource_name: Some(name.clone()),
                pattern_type: PatternType::Match,
                principal: Some(principal.clone()),
                host: Some(host.clone()),
                operation: op,
                permission: AclPermission::Any,
            };
            let _ = filter.validate();
            let _ = authorizer.acls(&filter).count();
        }
    }
}
