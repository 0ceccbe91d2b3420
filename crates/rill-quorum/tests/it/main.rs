//! Integration tests of the metadata quorum, one binary: a seeded deterministic simulation over
//! an in-process network (`sim_*`: the quorum alone, and with the controller logic, brokers
//! that heartbeat and brokers that follow the log by fetching) and real TCP on 127.0.0.1
//! (`tcp`), also over mutual TLS (`tcp_tls`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod checker;
mod harness;
mod sim;
mod sim_brokers;
mod sim_control;
mod sim_net;
mod tcp;
mod tcp_tls;
