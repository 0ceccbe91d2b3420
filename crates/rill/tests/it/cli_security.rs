//! The CLI against a `rill serve` with SSL and SASL_SSL (PLAIN) listeners: `--command-config`
//! files as Kafka users write them (a multi-line `sasl.jaas.config`), flags over the file,
//! and the errors a wrong password and a plaintext client on a TLS port get.
//!
//! The broker's certificate is rill-client's test certificate for 127.0.0.1
//! (`crates/rill-client/tests/data`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use rill_testkit::ports::{listens, reserve_ports};

use crate::cli_support::rill_with;

/// A `rill serve` child with PLAINTEXT, SSL and SASL_SSL listeners, killed on drop.
struct SecureBroker {
    /// The process.
    child: Child,
    /// Ports: PLAINTEXT, SSL, SASL_SSL.
    ports: [u16; 3],
    /// Data directory, certificates and properties files.
    dir: tempfile::TempDir,
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rill-client/tests/data")
        .join(name)
}

impl SecureBroker {
    fn start() -> anyhow::Result<Self> {
        let reserved = reserve_ports(3)?;
        let ports = [reserved[0].port(), reserved[1].port(), reserved[2].port()];
        let dir = tempfile::tempdir()?;
        let keystore = dir.path().join("keystore.pem");
        std::fs::write(
            &keystore,
            std::fs::read_to_string(test_data("server.key"))?
                + &std::fs::read_to_string(test_data("server.pem"))?,
        )?;
        let log = std::fs::File::create(dir.path().join("rill.log"))?;
        let overrides = [
            format!(
                "listeners=PLAINTEXT://127.0.0.1:{},SSL://127.0.0.1:{},SASL_SSL://127.0.0.1:{}",
                ports[0], ports[1], ports[2]
            ),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL".into(),
            format!("log.dirs={}", dir.path().join("data").display()),
            format!("ssl.keystore.location={}", keystore.display()),
            "ssl.keystore.type=PEM".into(),
            "sasl.enabled.mechanisms=PLAIN".into(),
            "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";".into(),
        ];
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
        cmd.args(["serve", "--admin-listen", "127.0.0.1:0"]);
        for o in &overrides {
            cmd.arg("--override").arg(o);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let broker = SecureBroker { child, ports, dir };
        drop(reserved);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ports.iter().all(|p| listens(*p)) {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(broker.dir.path().join("rill.log"))?;
                bail!("rill serve did not listen on {ports:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }

    /// Writes a properties file; returns its path.
    fn properties(&self, name: &str, text: &str) -> anyhow::Result<String> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    }

    fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.ports[i])
    }
}

fn run(bootstrap: &str, args: &[&str], stdin: &[u8]) -> anyhow::Result<(bool, String, String)> {
    let out = rill_with(bootstrap, args, stdin)?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn commands_speak_ssl_and_sasl_ssl_with_a_command_config() -> anyhow::Result<()> {
    let b = SecureBroker::start()?;
    let ca = test_data("ca.pem").display().to_string();
    let ssl = b.properties(
        "ssl.properties",
        &format!("security.protocol=SSL\nssl.ca.location={ca}\n"),
    )?;
    let sasl = b.properties(
        "sasl.properties",
        &format!(
            "security.protocol=SASL_SSL\nssl.ca.location={ca}\nsasl.mechanism=PLAIN\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n  \
             username=\"alice\" \\\n  password=\"alice-secret\";\n"
        ),
    )?;

    let (ok, _, err) = run(
        &b.addr(1),
        &["topics", "create", "secure", "--command-config", &ssl],
        b"",
    )?;
    ensure!(ok, "create over SSL: {err}");
    let (ok, out, err) = run(
        &b.addr(2),
        &["topics", "list", "--command-config", &sasl],
        b"",
    )?;
    ensure!(
        ok && out.contains("secure"),
        "list over SASL_SSL: {out} {err}"
    );

    let (ok, _, err) = run(
        &b.addr(2),
        &["produce", "secure", "--command-config", &sasl],
        b"v1\nv2\n",
    )?;
    ensure!(ok, "produce over SASL_SSL: {err}");
    let (ok, out, err) = run(
        &b.addr(1),
        &[
            "consume",
            "secure",
            "--from-beginning",
            "-e",
            "--command-config",
            &ssl,
        ],
        b"",
    )?;
    ensure!(
        ok && out.lines().collect::<Vec<_>>() == ["v1", "v2"],
        "consume over SSL: {out} {err}"
    );

    // Flags win over the file: a wrong password is refused with Kafka's code.
    let (ok, _, err) = run(
        &b.addr(2),
        &[
            "topics",
            "list",
            "--command-config",
            &sasl,
            "--sasl-password",
            "wrong",
        ],
        b"",
    )?;
    ensure!(!ok && err.contains("SASL_AUTHENTICATION_FAILED"), "{err}");

    // The same with flags only.
    let (ok, out, err) = run(
        &b.addr(2),
        &[
            "topics",
            "list",
            "--security-protocol",
            "SASL_SSL",
            "--ssl-ca-location",
            &ca,
            "--sasl-mechanism",
            "PLAIN",
            "--sasl-username",
            "alice",
            "--sasl-password",
            "alice-secret",
        ],
        b"",
    )?;
    ensure!(ok && out.contains("secure"), "flags only: {out} {err}");

    // A plaintext client on the TLS port is told what to set.
    let (ok, _, err) = run(
        &b.addr(1),
        &["topics", "list", "--request-timeout-ms", "5000"],
        b"",
    )?;
    ensure!(!ok && err.contains("security.protocol"), "{err}");
    Ok(())
}
