//! Unit tests of the authorizer's queries beyond `authorize`: `authorized_operations`,
//! `authorize_any` (Kafka's `authorizeByResourceType`), `acls`, `acl_count`, and a large ACL
//! set going through every section of the index.

use super::authorizer_tests::{acl, authorizer, bits, topic, with_settings, ALICE, BOB, HOST};
use super::*;
use AclOperation::*;
use AclPermission::{Allow, Deny};
use PatternType::{Literal, Prefixed};
use ResourceType::{Cluster, Group, Topic, TransactionalId};

#[test]
fn authorized_operations_bits() {
    let a = authorizer(vec![
        topic(Literal, "t", ALICE, Read, Allow),
        topic(Literal, "t", ALICE, AlterConfigs, Allow),
        topic(Literal, "t", ALICE, DescribeConfigs, Deny),
        acl(Group, Literal, "g", ALICE, "*", All, Allow),
        acl(Group, Literal, "g", ALICE, "*", Delete, Deny),
        acl(
            Cluster,
            Literal,
            "kafka-cluster",
            ALICE,
            "*",
            IdempotentWrite,
            Allow,
        ),
    ]);
    assert_eq!(
        a.authorized_operations(ALICE, HOST, Topic, "t"),
        bits(&[Read, Describe, AlterConfigs])
    );
    assert_eq!(
        a.authorized_operations(ALICE, HOST, Group, "g"),
        bits(&[Read, Describe, DescribeConfigs, AlterConfigs])
    );
    assert_eq!(
        a.authorized_operations(ALICE, HOST, Cluster, "kafka-cluster"),
        bits(&[IdempotentWrite])
    );
    assert_eq!(a.authorized_operations(BOB, HOST, Topic, "t"), 0);
    assert_eq!(a.authorized_operations(ALICE, HOST, Topic, "u"), 0);
    // No binding applies and allow.everyone.if.no.acl.found: every supported operation.
    let open = with_settings("", true, vec![]);
    assert_eq!(
        open.authorized_operations(ALICE, HOST, Topic, "t"),
        bits(&[
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            DescribeConfigs,
            AlterConfigs
        ])
    );
    assert_eq!(
        open.authorized_operations(ALICE, HOST, Cluster, "kafka-cluster"),
        bits(&[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe
        ])
    );
    assert_eq!(
        open.authorized_operations(ALICE, HOST, TransactionalId, "x"),
        bits(&[Describe, Write])
    );
    assert_eq!(
        open.authorized_operations(ALICE, HOST, ResourceType::DelegationToken, "x"),
        bits(&[Describe])
    );
    assert_eq!(
        open.authorized_operations(ALICE, HOST, ResourceType::User, "x"),
        bits(&[CreateTokens, DescribeTokens])
    );
}

#[test]
fn authorize_any_follows_kafkas_authorize_by_resource_type() {
    let ok = |acls: Vec<AclBinding>, op| authorizer(acls).authorize_any(ALICE, HOST, op, Topic);
    assert!(!ok(vec![], Write));
    assert!(with_settings("", true, vec![]).authorize_any(ALICE, HOST, Write, Topic));
    assert!(ok(vec![topic(Literal, "t", ALICE, Write, Allow)], Write));
    assert!(ok(vec![topic(Prefixed, "t", "User:*", All, Allow)], Write));
    // No implications.
    assert!(!ok(
        vec![topic(Literal, "t", ALICE, Write, Allow)],
        Describe
    ));
    assert!(!ok(vec![topic(Literal, "t", ALICE, Write, Allow)], Read));
    // Other principal, host or type.
    assert!(!ok(vec![topic(Literal, "t", BOB, Write, Allow)], Write));
    assert!(!ok(
        vec![acl(Topic, Literal, "t", ALICE, "10.0.0.2", Write, Allow)],
        Write
    ));
    assert!(!ok(
        vec![acl(Group, Literal, "t", ALICE, "*", Write, Allow)],
        Write
    ));
    // A literal DENY on the same name, or a PREFIXED DENY of a prefix, dominates.
    let allow_t = topic(Literal, "tx", ALICE, Write, Allow);
    assert!(!ok(
        vec![allow_t.clone(), topic(Literal, "tx", ALICE, Write, Deny)],
        Write
    ));
    assert!(!ok(
        vec![allow_t.clone(), topic(Prefixed, "t", ALICE, Write, Deny)],
        Write
    ));
    assert!(!ok(
        vec![allow_t.clone(), topic(Prefixed, "tx", "User:*", All, Deny)],
        Write
    ));
    assert!(ok(
        vec![allow_t.clone(), topic(Prefixed, "txy", ALICE, Write, Deny)],
        Write
    ));
    assert!(ok(
        vec![allow_t.clone(), topic(Literal, "t", ALICE, Write, Deny)],
        Write
    ));
    assert!(ok(
        vec![allow_t.clone(), topic(Prefixed, "t", BOB, Write, Deny)],
        Write
    ));
    assert!(ok(
        vec![allow_t.clone(), topic(Prefixed, "t", ALICE, Read, Deny)],
        Write
    ));
    // A literal DENY does not dominate a PREFIXED ALLOW of the same name.
    let allow_p = topic(Prefixed, "tx", ALICE, Write, Allow);
    assert!(ok(
        vec![allow_p.clone(), topic(Literal, "tx", ALICE, Write, Deny)],
        Write
    ));
    assert!(!ok(
        vec![allow_p.clone(), topic(Prefixed, "tx", ALICE, Write, Deny)],
        Write
    ));
    // One undominated ALLOW is enough.
    assert!(ok(
        vec![
            allow_t.clone(),
            topic(Literal, "tx", ALICE, Write, Deny),
            topic(Literal, "u", ALICE, Write, Allow)
        ],
        Write
    ));
    // Wildcards: a DENY `*` denies, an ALLOW `*` allows.
    assert!(!ok(
        vec![allow_t.clone(), topic(Literal, "*", ALICE, Write, Deny)],
        Write
    ));
    assert!(ok(
        vec![
            topic(Literal, "*", ALICE, Write, Allow),
            topic(Prefixed, "a", ALICE, Write, Deny)
        ],
        Write
    ));
    // Prefix domination is by whole characters.
    assert!(!ok(
        vec![
            topic(Literal, "éa", ALICE, Write, Allow),
            topic(Prefixed, "é", ALICE, Write, Deny)
        ],
        Write
    ));
    // The `hardcode` probe: with allow.everyone.if.no.acl.found and no binding applying to
    // the name `hardcode`, Kafka allows whatever else the bindings say.
    let deny_x = vec![topic(Literal, "x", ALICE, Write, Deny)];
    assert!(with_settings("", true, deny_x.clone()).authorize_any(ALICE, HOST, Write, Topic));
    assert!(!with_settings("", false, deny_x).authorize_any(ALICE, HOST, Write, Topic));
    let deny_h = vec![topic(Prefixed, "h", ALICE, Write, Deny)];
    assert!(!with_settings("", true, deny_h).authorize_any(ALICE, HOST, Write, Topic));
    // IDEMPOTENT_WRITE on the cluster.
    let a = authorizer(vec![acl(
        Cluster,
        Literal,
        "kafka-cluster",
        ALICE,
        "*",
        IdempotentWrite,
        Allow,
    )]);
    assert!(a.authorize_any(ALICE, HOST, IdempotentWrite, Cluster));
    assert!(!a.authorize_any(BOB, HOST, IdempotentWrite, Cluster));
}

#[test]
fn acl_count_counts_distinct_valid_bindings() {
    let b = topic(Literal, "t", ALICE, Read, Allow);
    let invalid = AclBinding {
        operation: Any,
        ..b.clone()
    };
    let a = authorizer(vec![
        b.clone(),
        b.clone(),
        invalid,
        topic(Prefixed, "t", ALICE, Read, Allow),
    ]);
    assert_eq!(a.acl_count(), 2);
    assert_eq!(Authorizer::default().acl_count(), 0);
    assert!(!Authorizer::default().authorize(ALICE, HOST, Read, Topic, "t"));
}

#[test]
fn invalid_bindings_are_ignored() {
    let cluster = acl(Cluster, Literal, "other", ALICE, "*", All, Allow);
    let bad_principal = topic(Literal, "t", "alice", Read, Allow);
    let a = with_settings("", true, vec![cluster, bad_principal]);
    assert_eq!(a.acl_count(), 0);
    assert!(a.authorize(BOB, HOST, Alter, Cluster, "other"));
    assert!(a.authorize(BOB, HOST, Read, Topic, "t"));
}

#[test]
fn acls_lists_the_bindings_a_filter_matches() {
    let bindings = vec![
        topic(Literal, "t", ALICE, Read, Allow),
        topic(Prefixed, "t", BOB, Write, Deny),
        acl(Group, Literal, "*", ALICE, "*", Read, Allow),
        acl(Cluster, Literal, "kafka-cluster", BOB, "*", Alter, Allow),
    ];
    let a = authorizer(bindings.clone());
    assert_eq!(a.acls(&AclBindingFilter::any()).count(), 4);
    let by_type = AclBindingFilter {
        resource_type: Topic,
        ..AclBindingFilter::any()
    };
    assert_eq!(
        a.acls(&by_type).collect::<Vec<_>>(),
        vec![&bindings[0], &bindings[1]]
    );
    let matching = AclBindingFilter {
        resource_type: ResourceType::Any,
        resource_name: Some("tea".to_string()),
        pattern_type: PatternType::Match,
        ..AclBindingFilter::any()
    };
    assert_eq!(
        a.acls(&matching).collect::<Vec<_>>(),
        vec![&bindings[1], &bindings[2]]
    );
    let by_principal = AclBindingFilter {
        principal: Some(BOB.to_string()),
        ..AclBindingFilter::any()
    };
    assert_eq!(a.acls(&by_principal).count(), 2);
}

#[test]
fn many_bindings_decide_through_the_index() {
    // 3,000 bindings: the decisions stay right whichever section of the index holds them.
    let mut acls = Vec::new();
    for i in 0..1000 {
        acls.push(topic(
            Literal,
            &format!("topic-{i}"),
            &format!("User:u{i}"),
            Read,
            Allow,
        ));
        acls.push(topic(
            Prefixed,
            &format!("p{i}-"),
            &format!("User:u{i}"),
            Write,
            Allow,
        ));
        acls.push(acl(
            Group,
            Literal,
            &format!("g{i}"),
            "User:*",
            "*",
            Read,
            Allow,
        ));
    }
    acls.push(topic(Prefixed, "p7", "User:u7", Write, Deny));
    let a = authorizer(acls);
    assert_eq!(a.acl_count(), 3001);
    assert!(a.authorize("User:u5", HOST, Read, Topic, "topic-5"));
    assert!(!a.authorize("User:u5", HOST, Read, Topic, "topic-6"));
    assert!(a.authorize("User:u42", HOST, Write, Topic, "p42-x"));
    assert!(!a.authorize("User:u42", HOST, Write, Topic, "p4-x"));
    assert!(!a.authorize("User:u7", HOST, Write, Topic, "p7-x"));
    assert!(a.authorize("User:anyone", HOST, Describe, Group, "g999"));
}
