//! Rill's authentication as pure code, with no sockets, tasks or clocks: the SASL
//! mechanisms a broker serves, the SCRAM credentials it stores, and how principals are named.
//! The broker's connection layer drives these state machines with the bytes clients send.

pub mod scram_credential;

pub use scram_credential::{ScramCredential, ScramMechanism};
