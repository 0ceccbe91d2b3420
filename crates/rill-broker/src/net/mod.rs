//! The network edge: length-prefixed frames in, responses out, one connection per task,
//! answered through a [`handler::RequestHandler`] (the broker's `api::ApiHandler`); nothing
//! here knows the broker.

pub mod budget;
pub mod connection;
pub mod frame;
pub mod handler;
pub mod listeners;
pub mod page_cache;
pub mod response;
pub mod send;
pub mod transport;
