//! Rill's authentication as pure code, with no sockets, tasks or clocks: the SASL
//! mechanisms a broker serves (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) and their client side,
//! the SCRAM credentials it stores, the JAAS configuration values that configure them,
//! how TLS principals are named (Kafka's `ssl.principal.mapping.rules`), and the ACL authorizer
//! (Kafka's `StandardAuthorizer`).
//! The broker's connection layer drives these state machines with the bytes clients send.

pub mod acl;
pub mod client;
pub mod jaas;
pub mod oauth_validator;
mod oauthbearer;
mod plain;
pub mod principal;
pub mod sasl;
mod scram;
pub mod scram_credential;
pub mod scram_message;
pub mod subject_dn;

pub use client::SaslClient;
pub use jaas::{JaasConfig, JaasError};
pub use oauth_validator::{OAuthConfigError, OAuthValidator, TokenError, ValidatedToken};
pub use principal::{NoMatch, PrincipalMapper, PrincipalRuleError};
pub use sasl::{
    CredentialLookup, SaslError, SaslMechanism, SaslServer, SaslSettings, SaslStep, MAX_TOKEN_BYTES,
};
pub use scram_credential::{ScramCredential, ScramMechanism};
pub use subject_dn::{subject_dn, CertificateError};
