//! The network edge: length-prefixed frames in, responses out, one connection per task.

pub mod budget;
pub mod connection;
pub mod frame;
pub mod page_cache;
pub mod response;
pub mod send;
