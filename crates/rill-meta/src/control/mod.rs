//! Controller decisions as pure functions of the image: where replicas go, who leads after a
//! broker is fenced or unfenced, and what the active controller does about brokers'
//! heartbeats ([`tick`]). They return the records to append; they never change the image
//! themselves.

mod election;
mod liveness;
mod placement;
mod reassign;
#[cfg(test)]
mod testkit;

pub use election::{
    elect_preferred, elect_unclean, on_broker_fenced, on_broker_unfenced, preferred_rebalance,
    repair, unclean_recovery, ElectionRefusal,
};
pub use liveness::{tick, BrokerHeartbeat, Liveness};
pub use placement::place_replicas;
pub use reassign::{cancel_reassignment, complete_reassignments, start_reassignment};
