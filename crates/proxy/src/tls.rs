//! The proxy's TLS: its listeners' certificates (`tls`), its client to `https://` replicas
//! (`upstreamTls`), and the check of replicas behind a passthrough listener, which the proxy
//! cannot ask anything over HTTP (they want a client's certificate) and so asks for a TLS
//! handshake instead.

use std::sync::Arc;
use std::time::SystemTime;

use cloister_addr::Endpoint;
use cloister_net::health::Probe;
use cloister_net::TlsListener;
use cloister_tls::material::Origin;
use cloister_tls::upstream::{self, ClientIdentity, Roots};
use cloister_tls::Presenting;
use tokio_rustls::TlsConnector;

use crate::error::ConfigError;
use crate::metrics::Metrics;
use crate::settings::{upstream_tls_member, ListenerSettings, Mode, ProxySettings};

/// The TLS clients one proxy needs, each built once (one session cache per client, so
/// reconnecting to a replica resumes its session).
pub(crate) struct Clients {
    /// To `https://` replicas behind HTTP listeners; `None` when there are none.
    relay: Option<TlsConnector>,
    /// The handshake check of `https://` replicas behind passthrough listeners.
    liveness: TlsConnector,
}

impl Clients {
    /// The clients `settings` need; `upstreamTls`'s files are read only when some listener
    /// relays requests to an `https://` replica.
    pub(crate) fn of(settings: &ProxySettings) -> Result<Self, ConfigError> {
        let relays_https = settings.listeners.iter().any(|listener| {
            listener.mode == Mode::Http && listener.upstreams.iter().any(Endpoint::is_tls)
        });
        let relay = if relays_https {
            Some(TlsConnector::from(relay_config(settings)?))
        } else {
            None
        };
        Ok(Self {
            relay,
            liveness: TlsConnector::from(upstream::liveness_config()),
        })
    }

    /// How an upstream at `address` behind a `mode` listener is reached (`None`: plain) and
    /// checked.
    pub(crate) fn for_upstream(
        &self,
        address: &Endpoint,
        mode: Mode,
    ) -> (Option<TlsConnector>, Probe) {
        match mode {
            Mode::Http => {
                let tls = self.relay.clone().filter(|_| address.is_tls());
                (tls.clone(), Probe::with_tls(address.clone(), tls))
            }
            // The proxy never speaks TLS on a relayed connection: the client does.
            Mode::Passthrough if address.is_tls() => (
                None,
                Probe::handshake(address.clone(), self.liveness.clone()),
            ),
            Mode::Passthrough => (None, Probe::new(address.clone())),
        }
    }
}

/// The client config of `upstreamTls`.
fn relay_config(settings: &ProxySettings) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let tls = &settings.upstream_tls;
    let roots = tls.ca_file.as_ref().map_or(Roots::Platform, |path| {
        Roots::CaFile(Origin::new(upstream_tls_member::CA_FILE, path))
    });
    let identity = match (&tls.certificate_file, &tls.key_file) {
        (Some(certificate), Some(key)) => Some(ClientIdentity {
            certificate: Origin::new(upstream_tls_member::CERTIFICATE_FILE, certificate),
            key: Origin::new(upstream_tls_member::KEY_FILE, key),
        }),
        _ => None,
    };
    upstream::client_config(&roots, identity.as_ref())
        .map_err(|error| ConfigError::UpstreamTls(Box::new(error)))
}

/// The server config of `listener`'s certificate, if it has one, read from its files now, with
/// when that certificate expires.
fn server_config(
    listener: &ListenerSettings,
) -> Result<Option<Presenting<rustls::ServerConfig>>, ConfigError> {
    let Some(tls) = &listener.tls else {
        return Ok(None);
    };
    tls.server_config()
        .map(Some)
        .map_err(|source| ConfigError::ListenerTls {
            listen: listener.listen.to_string(),
            source: Box::new(source),
        })
}

/// A listener with a certificate: its settings, its label in metrics, its TLS side.
struct Rotating {
    settings: ListenerSettings,
    label: Arc<str>,
    tls: TlsListener,
}

/// The listeners with a certificate, each with its TLS side, so that SIGHUP can give them new
/// certificates for their next handshakes; and the metrics that say when those expire.
pub(crate) struct Rotation {
    listeners: Vec<Rotating>,
    metrics: Arc<Metrics>,
}

impl Rotation {
    /// No listeners yet; their certificates' expiry goes to `metrics`.
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            listeners: Vec::new(),
            metrics,
        }
    }

    /// The TLS side of `listener` (called `label` in metrics), if it has a certificate (its
    /// handshakes bounded by `header_timeout`), kept for [`Rotation::reload`].
    pub(crate) fn listener(
        &mut self,
        listener: &ListenerSettings,
        label: &Arc<str>,
        header_timeout: Option<std::time::Duration>,
    ) -> Result<Option<TlsListener>, ConfigError> {
        let Some(presenting) = server_config(listener)? else {
            return Ok(None);
        };
        let tls = TlsListener::new(presenting.config, header_timeout);
        self.observe(label, presenting.not_after);
        self.listeners.push(Rotating {
            settings: listener.clone(),
            label: label.clone(),
            tls: tls.clone(),
        });
        Ok(Some(tls))
    }

    /// Reads every listener's certificate files again and uses them for the next handshakes;
    /// connections already established keep their session. All or nothing: if one listener's
    /// files do not load, none changes. How many listeners were given new certificates.
    pub(crate) fn reload(&self) -> Result<usize, ConfigError> {
        let configs = self
            .listeners
            .iter()
            .map(|listener| server_config(&listener.settings))
            .collect::<Result<Vec<_>, _>>()?;
        for (listener, presenting) in self.listeners.iter().zip(configs) {
            if let Some(presenting) = presenting {
                listener.tls.replace(presenting.config);
                self.observe(&listener.label, presenting.not_after);
            }
        }
        Ok(self.listeners.len())
    }

    fn observe(&self, label: &Arc<str>, not_after: Option<SystemTime>) {
        if let Some(not_after) = not_after {
            self.metrics.observe_certificate(label, not_after);
        }
    }
}
