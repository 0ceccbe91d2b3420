//! Integration tests of the `rill` binary, one test binary: the CLI's subcommands against live
//! `rill serve` children (`cli_*`, with librdkafka as the independent witness), the CLI over
//! SSL and SASL_SSL listeners (`cli_security`), compatibility with the `rdkafka` crate
//! (`compat_rdkafka`), kill -9 during log cleaning (`cleaner_crash`). Brokers come from
//! rill-testkit (`cli_support`).

mod cleaner_crash;
mod cli_dev_cluster;
mod cli_groups;
mod cli_perf_dev;
mod cli_produce_consume;
mod cli_security;
#[allow(dead_code)] // each test module uses a part of it
mod cli_support;
mod cli_topics;
mod compat_rdkafka;
