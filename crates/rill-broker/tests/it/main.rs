//! rill-broker's integration tests, one test binary: the broker over real sockets with
//! hand-encoded requests (`broker`, `versions`, `data_path`, `transactions`: the read side of
//! transactions), the admin HTTP listener
//! (`admin_http`), the log cleaner service (`compaction`), topic configs (`topic_configs`) and the produce rules they switch on (`produce_rules`), the
//! group coordinator over a real data directory (`groups`), transactional offset commits
//! over a socket and across restarts (`txn_offsets`), and the
//! deterministic replication simulation (`replication_sim`). Brokers and connections come
//! from rill-testkit (`support` adds the broker tests' request helpers).

mod admin_http;
mod broker;
mod compaction;
mod data_path;
mod groups;
mod produce_rules;
mod replication_sim;
#[allow(dead_code)] // each test module uses a part of it
mod support;
mod topic_configs;
mod transactions;
mod txn_offsets;
mod versions;
