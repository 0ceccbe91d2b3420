//! Rill's test kit, for tests and benchmarks only (never a dependency of a shipped crate).
//!
//! One way to do each thing the tests of every crate need:
//! - [`ports`]: ports on 127.0.0.1 reserved across processes without bind-then-drop races;
//! - [`process`]: a `rill serve` child process on reserved ports with its own data directory;
//! - [`node`]: a broker inside the test process, and a raw Kafka connection to it;
//! - [`batch`]: RecordBatch v2 bytes with real records (kafka-protocol's encoder);
//! - [`faults`]: freeze and thaw a process, and (feature `faults`) rill-log's storage faults.

pub mod batch;
pub mod faults;
pub mod node;
pub mod ports;
pub mod process;

pub use batch::BatchBuilder;
pub use node::{KafkaConn, Node};
pub use ports::{listens, reserve_port, reserve_ports, PortReservation};
pub use process::{RillProcess, RillProcessBuilder};
