//! The server: binds the listener, accepts connections, runs background maintenance, and
//! shuts everything down in order (stop accepting, let connections finish their current
//! request, flush and checkpoint every partition).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::net::connection::serve_connection;

/// A running server's handle.
#[derive(Debug)]
pub struct Server {
    /// Shared broker state.
    pub broker: Arc<Broker>,
    /// The bound listener.
    listener: TcpListener,
}

impl Server {
    /// Opens the broker's data and binds its listener.
    ///
    /// # Errors
    /// Startup errors: config, data directory, bind.
    pub async fn bind(config: BrokerConfig) -> Result<Self> {
        let addr = config.listener.bind_addr()?;
        let broker = tokio::task::spawn_blocking(move || Broker::open(config))
            .await
            .map_err(|e| BrokerError::Internal(e.to_string()))??;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BrokerError::Bind { addr, source })?;
        Ok(Server { broker, listener })
    }

    /// The address actually bound (useful with port 0).
    ///
    /// # Errors
    /// The OS error.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` becomes true, then stops cleanly.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::maintenance::run(
            self.broker.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::coordinator::timer::run(
            self.broker.clone(),
            shutdown.clone(),
        ));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tasks.spawn(serve_connection(
                            self.broker.clone(), stream, peer, shutdown.clone(),
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                // Reap finished connection tasks so the set stays small.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(self.listener);
        tracing::info!(
            tasks = tasks.len(),
            "shutting down: waiting for connections"
        );
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tracing::warn!("connections did not finish in 10 s; aborting them");
        }
        let broker = self.broker.clone();
        let _ = tokio::task::spawn_blocking(move || broker.flush_all()).await;
        tracing::info!("shutdown complete");
    }
}
