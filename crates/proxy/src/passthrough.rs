//! Passthrough listeners (`mode: passthrough`): each client connection is relayed, its bytes
//! unread, to one replica, so replicas that share one certificate and key terminate mutual TLS
//! themselves and see the client's certificate (Tessera's P2P trust modes and Cloister's
//! discovery identity rule need it).
//!
//! Failover is per connection: a replica that refuses the connection, or does not accept it
//! within the connect timeout, is passed over for the next in the plan and counted as a passive
//! failure; a replica that accepts but has stopped answering is found by its handshake check
//! ([`cloister_net::health::Probe::handshake`]) and ejected, so new connections go to the
//! others. A connection already relayed to a replica that dies ends with it, as the client's
//! own connection to that replica would.

use std::sync::Arc;
use std::time::Duration;

use cloister_net::Stream;

use crate::upstream::Group;

/// What a passthrough listener relays to.
pub(crate) struct Relay {
    /// Its replicas and their health.
    pub(crate) group: Arc<Group>,
    /// How long a replica may take to accept a connection.
    pub(crate) connect_timeout: Duration,
}

impl Relay {
    /// Relays `client` to the first replica of the plan that accepts it, until either side
    /// closes. With none reachable the client's connection is closed.
    pub(crate) async fn relay(&self, mut client: Stream) {
        for upstream in self.group.plan() {
            match upstream.open_unread(self.connect_timeout).await {
                Ok(mut replica) => {
                    upstream.record_request(false);
                    if let Err(error) =
                        tokio::io::copy_bidirectional(&mut client, &mut replica).await
                    {
                        tracing::debug!(upstream = %upstream.label(), %error, "relayed connection ended");
                    }
                    return;
                }
                Err(error) => {
                    tracing::debug!(upstream = %upstream.label(), %error, "replica refused a relayed connection");
                    upstream.record_request(true);
                }
            }
        }
        tracing::warn!("no replica accepted a relayed connection; closing it");
    }
}
