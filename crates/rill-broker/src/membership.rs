//! A broker's membership in a cluster, as Kafka's: it heartbeats to the active controller
//! every `broker.heartbeat.interval.ms`; the first heartbeat of this process (a new
//! incarnation) registers it, fenced; once its own metadata image holds that registration it
//! reports itself caught up and the controller unfences it. Start-up waits for that before the
//! client listener opens. Controlled shutdown: heartbeats then ask to be fenced, and the broker
//! waits until its image shows it fenced (its leaderships moved) before it stops.
//!
//! The decisions are the controller's ([`rill_meta::control::tick`]); this module only
//! reports. While the broker is not yet unfenced, or is leaving, it heartbeats every
//! [`FAST_INTERVAL`] so start and stop take a fraction of a second.
//! Thread-safety: shared as `Arc`; the heartbeat task and blocking waits use it concurrently.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_meta::control::BrokerHeartbeat;
use rill_meta::Uuid;
use rill_quorum::{ControllerClient, HeartbeatReply};
use tokio::sync::{watch, Notify};

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::metadata::MetadataBackend;

/// Heartbeat interval while registering, catching up or leaving.
pub const FAST_INTERVAL: Duration = Duration::from_millis(200);

/// One broker's membership: identity, the line to the controllers, its own image.
pub struct Membership {
    /// `node.id`.
    broker_id: i32,
    /// New at every start.
    incarnation_id: Uuid,
    /// Advertised host and port, rack.
    host: String,
    /// Advertised port.
    port: u16,
    /// `broker.rack`.
    rack: Option<String>,
    /// Every client listener's advertised endpoint.
    endpoints: Vec<rill_meta::BrokerEndpoint>,
    /// `broker.heartbeat.interval.ms`.
    interval: Duration,
    /// The line to the controllers.
    client: Arc<ControllerClient>,
    /// This node's metadata (its image says whether it is registered and fenced).
    metadata: Arc<MetadataBackend>,
    /// Set by controlled shutdown.
    leaving: AtomicBool,
    /// Wakes the heartbeat task early (shutdown began).
    nudge: Notify,
    /// Stops the heartbeat task.
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("broker_id", &self.broker_id)
            .field("incarnation_id", &self.incarnation_id)
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// A membership for this process (a new incarnation) of the broker in `config`.
    pub fn new(
        config: &BrokerConfig,
        client: Arc<ControllerClient>,
        metadata: Arc<MetadataBackend>,
    ) -> Self {
        let adv = &config.advertised_listener;
        Membership {
            broker_id: config.node_id,
            incarnation_id: Uuid::new_v4(),
            host: adv.host.clone(),
            port: adv.port,
            rack: config.cluster.rack.clone(),
            endpoints: config
                .listeners
                .clients()
                .map(|l| rill_meta::BrokerEndpoint {
                    name: l.name.clone(),
                    host: l.advertised.host.clone(),
                    port: l.advertised.port,
                    security_protocol: l.protocol.id(),
                })
                .collect(),
            interval: Duration::from_millis(config.cluster.heartbeat_interval_ms),
            client,
            metadata,
            leaving: AtomicBool::new(false),
            nudge: Notify::new(),
            stop: watch::channel(false).0,
        }
    }

    /// This process's incarnation id.
    pub fn incarnation_id(&self) -> Uuid {
        self.incarnation_id
    }

    /// This incarnation's state in the local image: `None` unregistered, else fenced or not.
    fn own_state(&self) -> Option<bool> {
        self.metadata
            .image()
            .broker(self.broker_id)
            .filter(|b| b.incarnation_id == self.incarnation_id)
            .map(|b| b.fenced)
    }

    fn heartbeat(&self) -> BrokerHeartbeat {
        BrokerHeartbeat {
            broker_id: self.broker_id,
            incarnation_id: self.incarnation_id,
            host: self.host.clone(),
            port: self.port,
            rack: self.rack.clone(),
            endpoints: self.endpoints.clone(),
            metadata_offset: self.metadata.quorum_status().and_then(|s| s.high_watermark),
            caught_up: self.own_state().is_some(),
            want_shutdown: self.leaving.load(Ordering::SeqCst),
        }
    }

    /// Sends heartbeats until [`Membership::stop`].
    pub async fn run(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut last_reply: Option<HeartbeatReply> = None;
        loop {
            let hb = self.heartbeat();
            let settled = hb.caught_up && self.own_state() == Some(false) && !hb.want_shutdown;
            let sent = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                r = self.client.heartbeat(&hb, self.interval.max(FAST_INTERVAL)) => r,
            };
            match sent {
                Ok(reply) => {
                    if last_reply.as_ref() != Some(&reply) {
                        tracing::debug!(?reply, leader = ?self.client.leader(), "heartbeat answered");
                    }
                    last_reply = Some(reply);
                }
                Err(e) => {
                    if last_reply.take().is_some() {
                        tracing::warn!(error = %e, "heartbeat: no active controller answered");
                    }
                }
            }
            let wait = if settled {
                self.interval
            } else {
                FAST_INTERVAL
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = self.nudge.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Stops the heartbeat task.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until this incarnation is registered and unfenced in the local image. Blocking.
    ///
    /// # Errors
    /// Not unfenced within `timeout` (no active controller, or this node never caught up).
    pub fn wait_unfenced(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut logged = false;
        loop {
            match self.own_state() {
                Some(false) => {
                    tracing::info!(broker = self.broker_id, incarnation = %self.incarnation_id,
                        "registered and unfenced");
                    return Ok(());
                }
                state if Instant::now() >= deadline => {
                    let what = if state.is_some() {
                        "registered but not unfenced"
                    } else {
                        "not registered"
                    };
                    return Err(BrokerError::Internal(format!(
                        "broker {} {what} by an active controller within {timeout:?} \
                         (controller last known: {:?}); are a majority of \
                         controller.quorum.voters up?",
                        self.broker_id,
                        self.metadata.controller_id(self.broker_id),
                    )));
                }
                state => {
                    if !logged && state.is_some() {
                        tracing::info!(
                            broker = self.broker_id,
                            "registered; waiting to be unfenced"
                        );
                        logged = true;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// Controlled shutdown: asks the active controller to fence this broker (moving its
    /// leaderships away) and waits until the local image shows it, up to `timeout`.
    /// Blocking, best effort.
    pub fn controlled_shutdown(&self, timeout: Duration) {
        self.leaving.store(true, Ordering::SeqCst);
        self.nudge.notify_one();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.own_state() != Some(false) {
                tracing::info!(
                    broker = self.broker_id,
                    "controlled shutdown: fenced, leaderships moved"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            broker = self.broker_id,
            "controlled shutdown: not fenced within {timeout:?}; stopping anyway"
        );
    }
}
