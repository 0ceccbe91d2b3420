//! The network edge: length-prefixed frames in, responses out, one connection per task.

pub mod connection;
pub mod frame;
