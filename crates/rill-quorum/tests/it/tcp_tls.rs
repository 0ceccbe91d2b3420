//! The TCP quorum over mutual TLS, with certificates made in the test (rcgen): a CA signs one
//! certificate per node (SAN IP:127.0.0.1). Contract checked: three controllers elect a leader
//! and commit over TLS, a broker-only observer follows the log over TLS, and a peer that
//! cannot prove itself gets nothing: a certificate from another CA is refused by the
//! controllers, a controller whose certificate the client does not trust is not talked to, and
//! a plain TCP client is dropped. Every such call fails with a transport error; nothing panics
//! and the quorum keeps committing.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rill_quorum::fetch::FetchRequest;
use rill_quorum::network::tcp::TcpTransport;
use rill_quorum::network::{RaftReply, RaftRpc, Transport};
use rill_quorum::{MetadataQuorum, NodeId, ObserverConfig, QuorumObserver, QuorumTls};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::harness::temp_dir;
use crate::tcp::{names, TcpCluster};

/// A certificate authority that signs node certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        Arc::new(roots)
    }

    /// A node certificate for `cn` valid for 127.0.0.1 and localhost: (chain, key).
    fn node(&self, cn: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], der)
    }
}

#[allow(deprecated)] // ring, as the broker uses (aws-lc-rs needs cmake)
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS for a node holding a certificate of `issuer` named `cn`, trusting `trusted` only.
fn node_tls(issuer: &Ca, cn: &str, trusted: &Ca) -> QuorumTls {
    let (chain, key) = issuer.node(cn);
    let verifier = WebPkiClientVerifier::builder_with_provider(trusted.roots(), provider())
        .build()
        .unwrap();
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .unwrap();
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(trusted.roots())
        .with_client_auth_cert(chain, key)
        .unwrap();
    QuorumTls::new(Arc::new(server), Arc::new(client))
}

/// Sends one metadata fetch to `target` through `transport`.
async fn fetch(
    transport: &TcpTransport,
    target: NodeId,
) -> Result<RaftReply, rill_quorum::network::TransportError> {
    let rpc = RaftRpc::FetchMetadata(FetchRequest {
        after: None,
        max_wait_ms: 0,
    });
    transport
        .send(99, target, rpc, Duration::from_secs(5))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_quorum_elects_commits_and_refuses_untrusted_peers() {
    let ca = Ca::new("rill test CA");
    let rogue_ca = Ca::new("rogue CA");
    let tls: BTreeMap<NodeId, QuorumTls> = (1..=3)
        .map(|id| (id, node_tls(&ca, &format!("controller-{id}"), &ca)))
        .collect();
    let dir = temp_dir();
    let c = TcpCluster::with_tls(3, dir.path().to_path_buf(), tls).await;
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    c.commit("a", 0..5).await;
    c.wait_all_have(&names("a", 0..5), Duration::from_secs(5))
        .await;

    // A broker-only node with a certificate of the cluster's CA follows the log over TLS.
    let mut cfg = ObserverConfig::new(7, c.voters.clone(), String::new());
    cfg.tls = Some(node_tls(&ca, "broker-7", &ca));
    let observer = QuorumObserver::start_tcp(cfg).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while names("a", 0..5)
        .iter()
        .any(|n| observer.image().topic(n).is_none())
    {
        assert!(Instant::now() < deadline, "the observer did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    observer.shutdown().await.unwrap();

    let good = TcpTransport::new(c.voters.clone()).with_tls(Some(&node_tls(&ca, "b-8", &ca)));
    assert!(matches!(
        fetch(&good, leader).await,
        Ok(RaftReply::FetchMetadata(_))
    ));
    // A certificate of another CA: the controllers refuse the handshake.
    let rogue = node_tls(&rogue_ca, "intruder", &ca);
    let intruder = TcpTransport::new(c.voters.clone()).with_tls(Some(&rogue));
    for id in 1..=3 {
        assert!(
            fetch(&intruder, id).await.is_err(),
            "node {id} took a rogue cert"
        );
    }
    // A client that trusts only another CA does not talk to the controllers.
    let distrust = node_tls(&ca, "b-9", &rogue_ca);
    let wary = TcpTransport::new(c.voters.clone()).with_tls(Some(&distrust));
    assert!(fetch(&wary, leader).await.is_err());
    // Plain TCP to a TLS controller listener: dropped.
    let plain = TcpTransport::new(c.voters.clone());
    assert!(fetch(&plain, leader).await.is_err());

    // The quorum did not notice.
    c.commit("b", 0..3).await;
    c.wait_all_have(&names("b", 0..3), Duration::from_secs(5))
        .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_with_an_untrusted_certificate_stays_out_until_its_certificate_is_rotated() {
    let ca = Ca::new("rill test CA");
    let rogue_ca = Ca::new("rogue CA");
    // Node 3 holds a certificate of another CA: 1 and 2 refuse it and it cannot verify them.
    let mut tls: BTreeMap<NodeId, QuorumTls> = (1..=2)
        .map(|id| (id, node_tls(&ca, &format!("controller-{id}"), &ca)))
        .collect();
    let node3 = node_tls(&rogue_ca, "controller-3", &rogue_ca);
    tls.insert(3, node3.clone());
    let dir = temp_dir();
    let c = TcpCluster::with_tls(3, dir.path().to_path_buf(), tls).await;
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    assert_ne!(leader, 3, "the untrusted node cannot win an election");
    c.commit("a", 0..3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let image = c.nodes[&3].image();
    assert!(
        names("a", 0..3).iter().all(|n| image.topic(n).is_none()),
        "the untrusted node got committed entries"
    );
    // Its certificate and truststore are replaced (as the broker does when the files
    // change): new handshakes use them, and it catches up.
    let rotated = node_tls(&ca, "controller-3", &ca);
    node3.replace(rotated.server(), rotated.client());
    c.wait_all_have(&names("a", 0..3), Duration::from_secs(10))
        .await;
    c.shutdown().await;
}
