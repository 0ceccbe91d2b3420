//! Integration tests of the metadata quorum, one binary: a seeded deterministic simulation over
//! an in-process network (`sim_*`) and real TCP on 127.0.0.1 (`tcp`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod checker;
mod harness;
mod sim;
mod sim_net;
mod tcp;
