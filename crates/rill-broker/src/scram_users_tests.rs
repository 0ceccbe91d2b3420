//! Kafka's error codes for SCRAM user requests, decided on an image (no broker).

use kafka_protocol::ResponseError;
use rill_auth::{ScramCredential, ScramMechanism};
use rill_meta::{MetadataImage, MetadataRecord};

use super::{describe, plan_alter, Deletion, Upsertion};

fn upsert(name: &str, mechanism: i8, iterations: i32) -> Upsertion {
    Upsertion {
        name: name.into(),
        mechanism,
        iterations,
        salt: b"salt".to_vec(),
        salted_password: vec![9; 32],
    }
}

fn delete(name: &str, mechanism: i8) -> Deletion {
    Deletion {
        name: name.into(),
        mechanism,
    }
}

/// The image after applying `plan_alter`'s records for `upsertions` to an empty one.
fn image_with(upsertions: Vec<Upsertion>) -> MetadataImage {
    let mut image = MetadataImage::new();
    let plan = plan_alter(&image, vec![], upsertions);
    for r in &plan.records {
        image.apply(r).unwrap();
    }
    image
}

/// (user, error code) of each result, in order.
fn codes(results: &[(String, Option<crate::admin::AdminError>)]) -> Vec<(String, i16)> {
    results
        .iter()
        .map(|(u, e)| (u.clone(), e.as_ref().map_or(0, |e| e.code())))
        .collect()
}

fn pair(user: &str, e: ResponseError) -> (String, i16) {
    (user.to_string(), e.code())
}

/// An accepted user's result.
fn ok(user: &str) -> (String, i16) {
    (user.to_string(), 0)
}

#[test]
fn upsertion_stores_the_keys_derived_from_the_salted_password() {
    let image = image_with(vec![upsert("alice", 2, 8192)]);
    let c = image.scram_credential("alice", 2).unwrap();
    let want = ScramCredential::from_salted_password(
        ScramMechanism::Sha512,
        &[9; 32],
        b"salt".to_vec(),
        8192,
    );
    assert_eq!(c.stored_key.0, want.stored_key);
    assert_eq!(c.server_key.0, want.server_key);
    assert_eq!(c.salt.0, b"salt");
    assert_eq!(c.iterations, 8192);
}

#[test]
fn describe_lists_mechanisms_and_iterations_of_every_user_or_those_asked() {
    let image = image_with(vec![
        upsert("bob", 1, 4096),
        upsert("alice", 2, 8192),
        upsert("carol", 1, 5000),
    ]);
    let image = {
        let mut image = image;
        for r in plan_alter(&image, vec![], vec![upsert("alice", 1, 4096)]).records {
            image.apply(&r).unwrap();
        }
        image
    };
    let all: Vec<_> = describe(&image, None)
        .into_iter()
        .map(|(u, r)| (u, r.unwrap()))
        .collect();
    assert_eq!(
        all,
        vec![
            ("alice".to_string(), vec![(1, 4096), (2, 8192)]),
            ("bob".to_string(), vec![(1, 4096)]),
            ("carol".to_string(), vec![(1, 5000)]),
        ]
    );
    assert_eq!(
        describe(&image, Some(&[])).len(),
        3,
        "empty list = everyone"
    );
    let asked = [
        "carol".to_string(),
        "nobody".into(),
        "bob".into(),
        "carol".into(),
    ];
    let got: Vec<_> = describe(&image, Some(&asked))
        .into_iter()
        .map(|(u, r)| (u, r.map_err(|e| e.code())))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "carol".to_string(),
                Err(ResponseError::DuplicateResource.code())
            ),
            (
                "nobody".to_string(),
                Err(ResponseError::ResourceNotFound.code())
            ),
            ("bob".to_string(), Ok(vec![(1, 4096)])),
        ]
    );
}

#[test]
fn alter_refuses_bad_names_mechanisms_and_iteration_counts() {
    let image = MetadataImage::new();
    let plan = plan_alter(
        &image,
        vec![],
        vec![
            upsert("", 1, 4096),
            upsert("m0", 0, 4096),
            upsert("m3", 3, 4096),
            upsert("low", 1, 4095),
            upsert("high", 2, 16385),
            upsert("neg", 1, -1),
            upsert("min", 1, 4096),
            upsert("max", 2, 16384),
        ],
    );
    assert_eq!(
        codes(&plan.results),
        vec![
            ok("min"),
            ok("max"),
            pair("", ResponseError::UnacceptableCredential),
            pair("m0", ResponseError::UnsupportedSaslMechanism),
            pair("m3", ResponseError::UnsupportedSaslMechanism),
            pair("low", ResponseError::UnacceptableCredential),
            pair("high", ResponseError::UnacceptableCredential),
            pair("neg", ResponseError::UnacceptableCredential),
        ]
    );
    assert_eq!(plan.records.len(), 2);
    let messages: Vec<String> = plan
        .results
        .iter()
        .filter_map(|(_, e)| e.as_ref().map(|e| e.to_string()))
        .collect();
    assert_eq!(messages[0], "Username must not be empty");
    assert_eq!(messages[1], "Unknown SCRAM mechanism");
    assert_eq!(messages[3], "Too few iterations");
    assert_eq!(messages[4], "Too many iterations");
}

#[test]
fn alter_deletes_only_stored_credentials() {
    let image = image_with(vec![upsert("alice", 1, 4096)]);
    let plan = plan_alter(
        &image,
        vec![
            delete("alice", 2),
            delete("bob", 1),
            delete("", 1),
            delete("x", 5),
        ],
        vec![],
    );
    assert_eq!(
        codes(&plan.results),
        vec![
            pair("alice", ResponseError::ResourceNotFound),
            pair("bob", ResponseError::ResourceNotFound),
            pair("", ResponseError::UnacceptableCredential),
            pair("x", ResponseError::UnsupportedSaslMechanism),
        ]
    );
    assert!(plan.records.is_empty());
    let plan = plan_alter(&image, vec![delete("alice", 1)], vec![]);
    assert_eq!(codes(&plan.results), vec![ok("alice")]);
    assert_eq!(
        plan.records,
        vec![MetadataRecord::UserScramCredentialRemoved {
            name: "alice".into(),
            mechanism: 1
        }]
    );
}

#[test]
fn a_user_altered_twice_in_one_request_is_refused_whole() {
    let image = image_with(vec![upsert("alice", 1, 4096), upsert("bob", 1, 4096)]);
    let plan = plan_alter(
        &image,
        vec![delete("alice", 1), delete("bob", 1), delete("bob", 1)],
        vec![
            upsert("alice", 1, 4096),
            upsert("carol", 1, 4096),
            upsert("carol", 2, 4096),
            upsert("dave", 1, 4096),
        ],
    );
    assert_eq!(
        codes(&plan.results),
        vec![
            ok("dave"),
            pair("bob", ResponseError::DuplicateResource),
            pair("alice", ResponseError::DuplicateResource),
            pair("carol", ResponseError::DuplicateResource),
        ]
    );
    assert_eq!(plan.records.len(), 1, "only dave's upsertion");
}
