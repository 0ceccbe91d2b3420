//! Unit tests of the authorizer, one per rule of Kafka's `StandardAuthorizer`
//! (see `StandardAuthorizerTest` and `AuthorizerTest` in Kafka for the cases they follow).

use super::*;
use AclOperation::*;
use AclPermission::{Allow, Deny};
use PatternType::{Literal, Prefixed};
use ResourceType::{Cluster, Group, Topic, TransactionalId};

pub(super) const ALICE: &str = "User:alice";
pub(super) const BOB: &str = "User:bob";
pub(super) const HOST: &str = "10.0.0.1";

pub(super) fn acl(
    resource_type: ResourceType,
    pattern_type: PatternType,
    name: &str,
    principal: &str,
    host: &str,
    operation: AclOperation,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: host.to_string(),
        operation,
        permission,
    }
}

/// A TOPIC binding for any host.
pub(super) fn topic(
    pattern: PatternType,
    name: &str,
    principal: &str,
    op: AclOperation,
    perm: AclPermission,
) -> AclBinding {
    acl(Topic, pattern, name, principal, "*", op, perm)
}

pub(super) fn authorizer(acls: Vec<AclBinding>) -> Authorizer {
    Authorizer::new(AuthorizerSettings::default(), acls)
}

pub(super) fn with_settings(
    super_users: &str,
    allow_everyone: bool,
    acls: Vec<AclBinding>,
) -> Authorizer {
    let settings = AuthorizerSettings {
        super_users: AuthorizerSettings::parse_super_users(super_users),
        allow_everyone_if_no_acl_found: allow_everyone,
    };
    Authorizer::new(settings, acls)
}

pub(super) fn bits(ops: &[AclOperation]) -> i32 {
    ops.iter().fold(0, |b, op| b | (1 << op.code()))
}

#[test]
fn literal_applies_to_its_name_only() {
    let a = authorizer(vec![topic(Literal, "orders", ALICE, Read, Allow)]);
    assert!(a.authorize(ALICE, HOST, Read, Topic, "orders"));
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "orders2"));
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "order"));
    assert!(!a.authorize(ALICE, HOST, Read, Group, "orders"));
    assert!(!a.authorize(ALICE, HOST, Write, Topic, "orders"));
    assert!(!a.authorize(BOB, HOST, Read, Topic, "orders"));
}

#[test]
fn wildcard_name_applies_to_every_name_of_its_type() {
    let a = authorizer(vec![topic(Literal, "*", ALICE, Write, Allow)]);
    assert!(a.authorize(ALICE, HOST, Write, Topic, "anything"));
    assert!(a.authorize(ALICE, HOST, Write, Topic, "*"));
    assert!(!a.authorize(ALICE, HOST, Write, TransactionalId, "anything"));
    // A PREFIXED `*` is only a prefix: it applies to names starting with `*`.
    let a = authorizer(vec![topic(Prefixed, "*", ALICE, Write, Allow)]);
    assert!(!a.authorize(ALICE, HOST, Write, Topic, "anything"));
    assert!(a.authorize(ALICE, HOST, Write, Topic, "*x"));
}

#[test]
fn prefixed_applies_to_names_starting_with_it() {
    let a = authorizer(vec![
        topic(Prefixed, "fin-", ALICE, Read, Allow),
        topic(Prefixed, "fin-eu-", BOB, Read, Allow),
        topic(Literal, "x", BOB, Read, Allow),
    ]);
    assert!(a.authorize(ALICE, HOST, Read, Topic, "fin-"));
    assert!(a.authorize(ALICE, HOST, Read, Topic, "fin-orders"));
    assert!(a.authorize(ALICE, HOST, Read, Topic, "fin-eu-orders"));
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "fin"));
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "xfin-orders"));
    assert!(a.authorize(BOB, HOST, Read, Topic, "fin-eu-1"));
    assert!(!a.authorize(BOB, HOST, Read, Topic, "fin-us-1"));
}

#[test]
fn prefixes_of_non_ascii_names_are_cut_at_char_boundaries() {
    let a = authorizer(vec![
        topic(Prefixed, "é", ALICE, Read, Allow),
        topic(Prefixed, "a", BOB, Read, Allow),
        topic(Prefixed, "日本", BOB, Write, Allow),
    ]);
    assert!(a.authorize(ALICE, HOST, Read, Topic, "été"));
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "e"));
    assert!(!a.authorize(BOB, HOST, Read, Topic, "é"));
    assert!(a.authorize(BOB, HOST, Write, Topic, "日本語"));
    assert!(!a.authorize(BOB, HOST, Write, Topic, "日"));
    assert!(!a.authorize(BOB, HOST, Write, Topic, "日曜"));
}

#[test]
fn wildcard_principal_applies_to_every_principal_of_its_type() {
    let a = authorizer(vec![
        topic(Literal, "t", "User:*", Read, Allow),
        topic(Literal, "g", "Group:*", Write, Allow),
    ]);
    assert!(a.authorize(ALICE, HOST, Read, Topic, "t"));
    assert!(a.authorize(BOB, HOST, Read, Topic, "t"));
    assert!(!a.authorize("Group:ops", HOST, Read, Topic, "t"));
    assert!(!a.authorize("alice", HOST, Read, Topic, "t"));
    assert!(a.authorize("Group:ops", HOST, Write, Topic, "g"));
    assert!(!a.authorize(ALICE, HOST, Write, Topic, "g"));
    // A principal named `*` is not a wildcard unless it is the whole name.
    let a = authorizer(vec![topic(Literal, "t", "User:a*", Read, Allow)]);
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "t"));
}

#[test]
fn host_must_match_or_be_wildcard() {
    let a = authorizer(vec![
        acl(Topic, Literal, "t", ALICE, "10.0.0.1", Read, Allow),
        acl(Topic, Literal, "t", BOB, "*", Read, Allow),
    ]);
    assert!(a.authorize(ALICE, "10.0.0.1", Read, Topic, "t"));
    assert!(!a.authorize(ALICE, "10.0.0.2", Read, Topic, "t"));
    assert!(a.authorize(BOB, "10.0.0.2", Read, Topic, "t"));
    assert!(a.authorize(BOB, "::1", Read, Topic, "t"));
}

#[test]
fn deny_beats_allow() {
    let a = authorizer(vec![
        topic(Literal, "*", "User:*", All, Allow),
        topic(Prefixed, "secret-", ALICE, Read, Deny),
        acl(Topic, Literal, "t", BOB, "10.0.0.9", All, Deny),
    ]);
    assert!(a.authorize(ALICE, HOST, Read, Topic, "public"));
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "secret-plans"));
    assert!(a.authorize(ALICE, HOST, Write, Topic, "secret-plans"));
    assert!(a.authorize(BOB, HOST, Read, Topic, "secret-plans"));
    // DENY ALL from one host.
    assert!(!a.authorize(BOB, "10.0.0.9", Write, Topic, "t"));
    assert!(!a.authorize(BOB, "10.0.0.9", Describe, Topic, "t"));
    assert!(a.authorize(BOB, HOST, Write, Topic, "t"));
}

#[test]
fn deny_has_no_implications() {
    let a = authorizer(vec![
        topic(Literal, "t", ALICE, Read, Allow),
        topic(Literal, "t", ALICE, Describe, Deny),
        topic(Literal, "u", ALICE, Read, Allow),
        topic(Literal, "u", ALICE, Read, Deny),
    ]);
    // DENY of DESCRIBE does not deny READ.
    assert!(a.authorize(ALICE, HOST, Read, Topic, "t"));
    assert!(!a.authorize(ALICE, HOST, Describe, Topic, "t"));
    // DENY of READ does not deny the DESCRIBE an ALLOW of READ implies.
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "u"));
    assert!(a.authorize(ALICE, HOST, Describe, Topic, "u"));
}

#[test]
fn allow_implications() {
    for op in [Read, Write, Delete, Alter] {
        let a = authorizer(vec![topic(Literal, "t", ALICE, op, Allow)]);
        assert!(
            a.authorize(ALICE, HOST, Describe, Topic, "t"),
            "{op} implies DESCRIBE"
        );
        assert!(
            !a.authorize(ALICE, HOST, DescribeConfigs, Topic, "t"),
            "{op}"
        );
    }
    for op in [
        Create,
        ClusterAction,
        DescribeConfigs,
        AlterConfigs,
        IdempotentWrite,
    ] {
        let a = authorizer(vec![topic(Literal, "t", ALICE, op, Allow)]);
        assert!(
            !a.authorize(ALICE, HOST, Describe, Topic, "t"),
            "{op} does not imply DESCRIBE"
        );
    }
    let a = authorizer(vec![topic(Literal, "t", ALICE, AlterConfigs, Allow)]);
    assert!(a.authorize(ALICE, HOST, DescribeConfigs, Topic, "t"));
    assert!(!a.authorize(ALICE, HOST, Alter, Topic, "t"));
    let a = authorizer(vec![topic(Literal, "t", ALICE, Describe, Allow)]);
    assert!(!a.authorize(ALICE, HOST, Read, Topic, "t"));
    let a = authorizer(vec![topic(Literal, "t", ALICE, All, Allow)]);
    for op in &AclOperation::VALUES[2..] {
        assert!(a.authorize(ALICE, HOST, *op, Topic, "t"), "ALL allows {op}");
    }
}

#[test]
fn requests_for_any_or_unknown_are_denied() {
    let a = with_settings(
        "User:admin",
        true,
        vec![topic(Literal, "t", ALICE, All, Allow)],
    );
    assert!(!a.authorize(ALICE, HOST, Any, Topic, "t"));
    assert!(!a.authorize(ALICE, HOST, Unknown, Topic, "t"));
    assert!(!a.authorize(ALICE, HOST, Read, ResourceType::Any, "t"));
    assert!(!a.authorize(ALICE, HOST, Read, ResourceType::Unknown, "t"));
    assert_eq!(
        a.authorized_operations(ALICE, HOST, ResourceType::Any, "t"),
        0
    );
    assert!(!a.authorize_any(ALICE, HOST, Any, Topic));
    assert!(!a.authorize_any(ALICE, HOST, Read, ResourceType::Any));
    assert!(!a.authorize_any("User:admin", HOST, Read, ResourceType::Unknown));
}

#[test]
fn super_users_are_always_allowed() {
    let a = with_settings(
        " User:admin ;; User:ops;",
        false,
        vec![topic(Literal, "*", "User:*", All, Deny)],
    );
    assert!(a.is_super_user("User:admin"));
    assert!(a.is_super_user("User:ops"));
    assert!(!a.is_super_user("User:Admin"));
    assert!(!a.is_super_user(" User:admin"));
    assert!(a.authorize("User:admin", HOST, Write, Topic, "t"));
    assert!(a.authorize("User:ops", HOST, ClusterAction, Cluster, "kafka-cluster"));
    assert!(!a.authorize(ALICE, HOST, Write, Topic, "t"));
    assert_eq!(
        a.authorized_operations("User:admin", HOST, Topic, "t"),
        bits(Topic.supported_operations())
    );
    assert!(a.authorize_any("User:admin", HOST, Write, Topic));
}

#[test]
fn parse_super_users() {
    assert_eq!(
        AuthorizerSettings::parse_super_users(" User:a ; User:b;;  ;User:c"),
        vec!["User:a", "User:b", "User:c"]
    );
    assert!(AuthorizerSettings::parse_super_users("").is_empty());
    assert!(AuthorizerSettings::parse_super_users(" ; ").is_empty());
}

#[test]
fn allow_everyone_if_no_acl_found() {
    let acls = vec![topic(Literal, "guarded", BOB, Read, Allow)];
    let open = with_settings("", true, acls.clone());
    let closed = with_settings("", false, acls);
    // No binding applies to `free`: the setting decides.
    assert!(open.authorize(ALICE, HOST, Write, Topic, "free"));
    assert!(!closed.authorize(ALICE, HOST, Write, Topic, "free"));
    assert!(open.authorize(ALICE, HOST, Read, Group, "guarded"));
    // A binding for another principal makes ACLs "found": denied.
    assert!(!open.authorize(ALICE, HOST, Read, Topic, "guarded"));
    assert!(open.authorize(BOB, HOST, Read, Topic, "guarded"));
    // ... and for another operation too.
    assert!(!open.authorize(BOB, HOST, Write, Topic, "guarded"));
    // A binding from another host counts as well.
    let open = with_settings(
        "",
        true,
        vec![acl(Topic, Prefixed, "g", BOB, "10.9.9.9", Read, Deny)],
    );
    assert!(!open.authorize(ALICE, HOST, Read, Topic, "guarded"));
    assert!(open.authorize(ALICE, HOST, Read, Topic, "other"));
    // No ACLs at all.
    assert!(with_settings("", true, vec![]).authorize(ALICE, HOST, Read, Topic, "t"));
    assert!(!authorizer(vec![]).authorize(ALICE, HOST, Read, Topic, "t"));
}

#[test]
fn authorizer_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Authorizer>();
}
