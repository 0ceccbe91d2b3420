//! Brokers in the simulation: each heartbeats to the active controller through the real
//! [`ControllerClient`] (as `rill_broker::membership` does: fast until unfenced, then every
//! interval, reporting itself caught up once its image holds its own registration). A
//! broker-only node follows the log with a real [`QuorumObserver`] over the simulated network;
//! a broker on a controller node reads its controller's image. A crash stops both; a restart
//! is a new incarnation.

use std::sync::Arc;
use std::time::Duration;

use rill_meta::control::BrokerHeartbeat;
use rill_meta::{MetadataImage, MetadataRecord, Uuid};
use rill_quorum::{
    ControllerClient, MetadataQuorum, NodeId, ObserverConfig, QuorumError, QuorumObserver,
    RaftQuorum,
};
use tokio::task::JoinHandle;

use crate::harness::Cluster;

/// Heartbeat interval while registering or catching up.
const FAST: Duration = Duration::from_millis(200);

/// Where a broker's image comes from.
#[derive(Clone)]
pub enum Source {
    /// A broker-only node's observer.
    Observer(Arc<QuorumObserver>),
    /// The controller on the same node.
    Controller(Arc<RaftQuorum>),
}

impl Source {
    pub fn image(&self) -> Arc<MetadataImage> {
        match self {
            Source::Observer(o) => o.image(),
            Source::Controller(q) => q.image(),
        }
    }

    pub fn offset(&self) -> Option<u64> {
        match self {
            Source::Observer(o) => o.status().high_watermark,
            Source::Controller(q) => q.status().high_watermark,
        }
    }
}

/// One running broker.
pub struct SimBroker {
    pub id: NodeId,
    pub incarnation: Uuid,
    pub source: Source,
    client: Arc<ControllerClient>,
    heartbeats: JoinHandle<()>,
}

impl SimBroker {
    /// A broker-only node: an observer over the cluster's network, and heartbeats.
    pub fn start_observer(c: &mut Cluster, id: NodeId, interval: Duration) -> SimBroker {
        let voters = c
            .ids
            .iter()
            .map(|i| (*i, format!("sim-{i}:9093")))
            .collect();
        let mut cfg = ObserverConfig::new(id, voters, String::new());
        cfg.observer = Some(c.event_sink());
        let observer = Arc::new(QuorumObserver::start(cfg, c.net.clone()).unwrap());
        let client = observer.client().clone();
        Self::start(id, Source::Observer(observer), client, interval)
    }

    /// The broker role of controller node `id` (which must be running).
    pub fn start_on_controller(c: &Cluster, id: NodeId, interval: Duration) -> SimBroker {
        let q = c.nodes[&id].clone();
        let client = Arc::new(ControllerClient::new(id, c.ids.clone(), c.net.clone()));
        Self::start(id, Source::Controller(q), client, interval)
    }

    fn start(
        id: NodeId,
        source: Source,
        client: Arc<ControllerClient>,
        interval: Duration,
    ) -> SimBroker {
        let incarnation = Uuid::new_v4();
        let heartbeats = tokio::spawn(heartbeat_loop(
            id,
            incarnation,
            source.clone(),
            client.clone(),
            interval,
        ));
        SimBroker {
            id,
            incarnation,
            source,
            client,
            heartbeats,
        }
    }

    /// Proposes through the active controller, as an admin request on this broker would.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        match &self.source {
            Source::Observer(o) => o.propose(records).await,
            Source::Controller(q) => q.propose(records).await,
        }
    }

    /// Sends one heartbeat asking to be fenced (controlled shutdown).
    pub async fn ask_to_leave(&self) {
        let mut hb = heartbeat(self.id, self.incarnation, &self.source.image());
        hb.want_shutdown = true;
        self.heartbeats.abort();
        let _ = self.client.heartbeat(&hb, Duration::from_millis(500)).await;
    }

    /// Stops heartbeats and the observer (a crash: nothing is announced).
    pub async fn crash(self) {
        self.heartbeats.abort();
        let _ = self.heartbeats.await;
        if let Source::Observer(o) = self.source {
            let o = Arc::into_inner(o).expect("observer still shared");
            o.shutdown().await.unwrap();
        }
    }
}

fn own_state(image: &MetadataImage, id: NodeId, incarnation: Uuid) -> Option<bool> {
    image
        .broker(id as i32)
        .filter(|b| b.incarnation_id == incarnation)
        .map(|b| b.fenced)
}

fn heartbeat(id: NodeId, incarnation: Uuid, image: &MetadataImage) -> BrokerHeartbeat {
    BrokerHeartbeat {
        broker_id: id as i32,
        incarnation_id: incarnation,
        host: format!("sim-{id}"),
        port: 9092,
        rack: None,
        endpoints: vec![],
        metadata_offset: None,
        caught_up: own_state(image, id, incarnation).is_some(),
        want_shutdown: false,
    }
}

async fn heartbeat_loop(
    id: NodeId,
    incarnation: Uuid,
    source: Source,
    client: Arc<ControllerClient>,
    interval: Duration,
) {
    loop {
        let image = source.image();
        let mut hb = heartbeat(id, incarnation, &image);
        hb.metadata_offset = source.offset();
        let _ = client.heartbeat(&hb, Duration::from_millis(500)).await;
        let settled = own_state(&image, id, incarnation) == Some(false);
        tokio::time::sleep(if settled { interval } else { FAST }).await;
    }
}
