//! `rill dev cluster --secure`: every port of the throwaway cluster secured. A CA and one
//! certificate per node (127.0.0.1 and localhost, server and client use) are generated into
//! the data directory; clients reach the brokers on a SASL_SSL listener with SCRAM-SHA-512 as
//! the user `admin` with a random password (bootstrapped by `rill format --add-scram`), the
//! brokers replicate on the same listener as that user, and the controller quorum runs on an
//! SSL listener with client certificates required. The client settings are written to
//! `client.properties` and printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rill_client::security::ClientSecurity;

/// The SCRAM mechanism of the secure playground.
const MECHANISM: &str = "SCRAM-SHA-512";

/// The SCRAM user clients and brokers log in as.
const USER: &str = "admin";

/// What `--secure` made: the CA, one keystore per node, the password, the client settings.
#[derive(Debug)]
pub struct SecureSetup {
    /// The CA certificate (PEM) every node and client trusts.
    pub ca: PathBuf,
    /// Each node's keystore (its key and certificate in one PEM file), by node id - 1.
    keystores: Vec<PathBuf>,
    /// The `admin` user's password.
    password: String,
    /// `client.properties` for `--command-config`, kcat `-F` and the Kafka clients.
    pub client_properties: PathBuf,
}

/// Writes `text` to `path` readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    Ok(())
}

impl SecureSetup {
    /// Generates the certificates of `nodes` nodes and the password under `root`.
    ///
    /// # Errors
    /// Certificate generation or file errors.
    pub fn make(root: &Path, nodes: usize) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "rill dev CA");
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = root.join("ca.pem");
        std::fs::write(&ca, ca_cert.pem())?;
        let mut keystores = Vec::new();
        for id in 1..=nodes {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
            params
                .subject_alt_names
                .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
            params
                .distinguished_name
                .push(DnType::CommonName, format!("rill-dev-node-{id}"));
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let cert = params.signed_by(&key, &ca_cert, &ca_key)?;
            let path = root.join(format!("node{id}-keystore.pem"));
            write_private(&path, &format!("{}{}", key.serialize_pem(), cert.pem()))?;
            keystores.push(path);
        }
        let password = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let client_properties = root.join("client.properties");
        let setup = SecureSetup {
            ca,
            keystores,
            password,
            client_properties,
        };
        let text: String = setup
            .client_settings()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        write_private(&setup.client_properties, &text)?;
        Ok(setup)
    }

    /// The Kafka client settings for the cluster.
    pub fn client_settings(&self) -> BTreeMap<String, String> {
        [
            ("security.protocol", "SASL_SSL".to_string()),
            ("ssl.ca.location", self.ca.display().to_string()),
            ("sasl.mechanism", MECHANISM.to_string()),
            ("sasl.username", USER.to_string()),
            ("sasl.password", self.password.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The client security of [`SecureSetup::client_settings`].
    ///
    /// # Errors
    /// The CA file does not load.
    pub fn client_security(&self) -> anyhow::Result<ClientSecurity> {
        ClientSecurity::from_properties(&self.client_settings())
            .map_err(|e| anyhow::anyhow!("client settings: {e}"))
    }

    /// `rill format --add-scram` for the `admin` user.
    pub fn add_scram(&self) -> [String; 2] {
        [
            "--add-scram".into(),
            format!("{MECHANISM}=[name={USER},password={}]", self.password),
        ]
    }

    /// The security overrides of node `id` (1-based).
    pub fn overrides(&self, id: u32) -> Vec<(String, String)> {
        let keystore = self
            .keystores
            .get(id as usize - 1)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        vec![
            (
                "listener.security.protocol.map".into(),
                "SASL_SSL:SASL_SSL,CONTROLLER:SSL".into(),
            ),
            ("ssl.keystore.location".into(), keystore),
            (
                "ssl.truststore.location".into(),
                self.ca.display().to_string(),
            ),
            (
                "listener.name.controller.ssl.client.auth".into(),
                "required".into(),
            ),
            ("sasl.enabled.mechanisms".into(), MECHANISM.into()),
            (
                "sasl.mechanism.inter.broker.protocol".into(),
                MECHANISM.into(),
            ),
            (
                format!(
                    "listener.name.sasl_ssl.{}.sasl.jaas.config",
                    MECHANISM.to_ascii_lowercase()
                ),
                format!(
                    "org.apache.kafka.common.security.scram.ScramLoginModule required \
                     username=\"{USER}\" password=\"{}\";",
                    self.password
                ),
            ),
        ]
    }
}
