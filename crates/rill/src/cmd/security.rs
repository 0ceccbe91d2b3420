//! The client security flags every Kafka-speaking command takes: `--command-config FILE`
//! (a Kafka client properties file: `security.protocol`, `ssl.*`, `sasl.*`) and flags for
//! the common settings, which win over the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use rill_client::{ClientError, ClientSecurity};

/// TLS and SASL settings for the connections to the brokers.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// Kafka client properties file (security.protocol, ssl.ca.location, sasl.mechanism,
    /// sasl.jaas.config, ...); the flags below override its values.
    #[arg(long = "command-config", value_name = "FILE", global = true)]
    pub command_config: Option<PathBuf>,
    /// security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long = "security-protocol", value_name = "PROTOCOL", global = true)]
    pub security_protocol: Option<String>,
    /// sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.
    #[arg(long = "sasl-mechanism", value_name = "MECHANISM", global = true)]
    pub sasl_mechanism: Option<String>,
    /// sasl.username.
    #[arg(long = "sasl-username", value_name = "USER", global = true)]
    pub sasl_username: Option<String>,
    /// sasl.password (prefer --command-config or RILL_SASL_PASSWORD: flags show in `ps`).
    #[arg(
        long = "sasl-password",
        value_name = "PASSWORD",
        env = "RILL_SASL_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub sasl_password: Option<String>,
    /// ssl.ca.location: PEM file of the CA certificates that sign the brokers' certificates.
    #[arg(long = "ssl-ca-location", value_name = "FILE", global = true)]
    pub ssl_ca_location: Option<String>,
    /// ssl.certificate.location: PEM file of the client certificate (mutual TLS).
    #[arg(long = "ssl-certificate-location", value_name = "FILE", global = true)]
    pub ssl_certificate_location: Option<String>,
    /// ssl.key.location: PEM file of the client certificate's private key (mutual TLS).
    #[arg(long = "ssl-key-location", value_name = "FILE", global = true)]
    pub ssl_key_location: Option<String>,
}

impl SecurityArgs {
    /// The properties: the file's, then the flags over them.
    ///
    /// # Errors
    /// [`ClientError::Config`] when the file cannot be read or parsed.
    pub fn properties(&self) -> Result<BTreeMap<String, String>, ClientError> {
        let mut props = match &self.command_config {
            Some(path) => rill_client::properties::read_file(path)?,
            None => BTreeMap::new(),
        };
        let flags = [
            ("security.protocol", &self.security_protocol),
            ("sasl.mechanism", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ];
        for (key, value) in flags {
            if let Some(v) = value {
                props.insert(key.to_string(), v.clone());
            }
        }
        Ok(props)
    }

    /// The client security these settings describe.
    ///
    /// # Errors
    /// [`ClientError::Config`] for an unreadable file or a bad setting.
    pub fn security(&self) -> Result<ClientSecurity, ClientError> {
        ClientSecurity::from_properties(&self.properties()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.properties");
        std::fs::write(
            &path,
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=file-user\nsasl.password=file-secret\n",
        )
        .unwrap();
        let args = SecurityArgs {
            command_config: Some(path),
            sasl_username: Some("flag-user".into()),
            ..SecurityArgs::default()
        };
        let props = args.properties().unwrap();
        assert_eq!(props["sasl.username"], "flag-user");
        assert_eq!(props["sasl.password"], "file-secret");
        let s = args.security().unwrap();
        assert_eq!(s.sasl().unwrap().username, "flag-user");
    }

    #[test]
    fn no_flags_is_plaintext() {
        let s = SecurityArgs::default().security().unwrap();
        assert_eq!(s.protocol(), rill_client::SecurityProtocol::Plaintext);
    }

    #[test]
    fn a_missing_file_is_named() {
        let args = SecurityArgs {
            command_config: Some("/nonexistent/client.properties".into()),
            ..SecurityArgs::default()
        };
        let e = args.security().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/client.properties"), "{e}");
    }
}
