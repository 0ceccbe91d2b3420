//! TLS principals end to end: a certificate made by openssl (tests/data, see its README),
//! its subject in Java's RFC 2253 form, then Kafka's mapping rules.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rill_auth::{subject_dn, PrincipalMapper};

const ALICE: &[u8] = include_bytes!("data/alice.der");
const SPECIAL: &[u8] = include_bytes!("data/special.der");

#[test]
fn subject_in_rfc2253_order() {
    assert_eq!(subject_dn(ALICE).unwrap(), "CN=alice,OU=eng,O=acme,C=US");
}

#[test]
fn subject_escapes_multi_values_and_oid_attributes_like_java() {
    // X500Principal.getName(): reverse RDN order, '+' inside a multi-valued RDN in DER order,
    // `,=+<>#;"\` escaped, emailAddress (no RFC 2253 keyword) as its OID and hex DER.
    assert_eq!(
        subject_dn(SPECIAL).unwrap(),
        "ST=Zürich,1.2.840.113549.1.9.1=#16056140622e63,CN=x\\=y \\#1+UID=42,O=a\\, b\\+c,DC=example,DC=com"
    );
}

#[test]
fn subject_of_garbage_is_an_error() {
    assert!(subject_dn(b"").is_err());
    assert!(subject_dn(&ALICE[..ALICE.len() - 1]).is_err());
    let mut trailing = ALICE.to_vec();
    trailing.push(0);
    assert!(subject_dn(&trailing).is_err());
    for len in (0..ALICE.len()).step_by(7) {
        assert!(subject_dn(&ALICE[..len]).is_err());
    }
}

#[test]
fn certificate_to_principal() {
    let dn = subject_dn(ALICE).unwrap();
    let rules = PrincipalMapper::parse(
        "RULE:^CN=([^,]+),OU=eng,.*$/$1/L, RULE:^CN=(.*?),.*$/ext-$1/U, DEFAULT",
    )
    .unwrap();
    assert_eq!(rules.map(&dn).unwrap(), "alice");
    assert_eq!(rules.map("CN=bob,OU=ops,O=acme").unwrap(), "EXT-BOB");
    assert_eq!(rules.map("O=acme").unwrap(), "O=acme");
}
