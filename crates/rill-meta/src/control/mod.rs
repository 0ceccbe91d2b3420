//! Controller decisions as pure functions of the image: where replicas go, who leads after a
//! broker is fenced or unfenced. They return the records to append; they never change the
//! image themselves.

mod election;
mod placement;

pub use election::{on_broker_fenced, on_broker_unfenced};
pub use placement::place_replicas;
