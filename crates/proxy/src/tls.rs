//! The proxy's TLS: its listeners' certificates (`tls`), its client to `https://` replicas
//! (`upstreamTls`), and the check of replicas behind a passthrough listener, which the proxy
//! cannot ask anything over HTTP (they want a client's certificate) and so asks for a TLS
//! handshake instead.

use std::sync::Arc;

use cloister_addr::Endpoint;
use cloister_net::health::Probe;
use cloister_net::TlsListener;
use cloister_tls::material::Origin;
use cloister_tls::upstream::{self, ClientIdentity, Roots};
use tokio_rustls::TlsConnector;

use crate::error::ConfigError;
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

/// The TLS side of `listener`, if it has a certificate; its handshakes are bounded by the
/// listener's header timeout.
pub(crate) fn listener(
    listener: &ListenerSettings,
    header_timeout: Option<std::time::Duration>,
) -> Result<Option<TlsListener>, ConfigError> {
    let Some(tls) = &listener.tls else {
        return Ok(None);
    };
    let config = tls
        .server_config()
        .map_err(|source| ConfigError::ListenerTls {
            listen: listener.listen.to_string(),
            source: Box::new(source),
        })?;
    Ok(Some(TlsListener::new(config, header_timeout)))
}
