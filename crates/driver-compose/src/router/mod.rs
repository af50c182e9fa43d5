//! Traffic routing in front of the revisions' containers. A [`Router`] takes the desired
//! table (per revision: its share of traffic and its endpoints) and makes the proxy match
//! it without dropping connections; it can drain endpoints before their containers stop.
//! [`HaproxyRouter`] does this through HAProxy's runtime API, with no reload.

mod haproxy;
mod haproxy_process;
mod weights;

pub use haproxy::{is_haproxy_name, HaproxyRouter, ServerState, MAX_NAME_LEN};
pub use haproxy_process::{
    HaproxyProcess, HaproxySpec, HaproxySpecError, MAX_SLOTS, MAX_SOCKET_PATH,
};
pub use weights::endpoint_weights;

/// Parses `show servers state` and `show stat` answers for `backend` exactly as
/// [`HaproxyRouter`] does. An entry point for the fuzz targets in `fuzz/`, not part of the API.
#[doc(hidden)]
pub fn fuzz_parse_servers_state(
    state: &str,
    stat: &str,
    backend: &str,
) -> Result<Vec<impl std::fmt::Debug>, RouterError> {
    haproxy::parse_slots(state, stat, backend)
}

use async_trait::async_trait;
use shipcore::driver::{DriverError, ErrorKind};
use shipcore::model::RevisionId;
use std::net::SocketAddr;
use std::time::Duration;

/// One instance of a revision, as the router should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where it listens (a published port on the host).
    pub addr: SocketAddr,
    /// True when the driver found it ready; routers still health-check every endpoint.
    pub ready: bool,
}

/// What one revision should get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRoute {
    /// Which revision.
    pub revision: RevisionId,
    /// Share of traffic, percent (0 keeps its endpoints registered but idle).
    pub share: u8,
    /// Its running instances.
    pub endpoints: Vec<Endpoint>,
}

/// The state of one registered endpoint in the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    /// The proxy's name for it (a server slot).
    pub name: String,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Relative weight in the proxy.
    pub weight: u32,
    /// Administrative and health state.
    pub state: ServerState,
    /// Connections open now.
    pub sessions: u64,
}

/// A router failure, classified like driver errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} router error: {message}")]
pub struct RouterError {
    /// Retry or give up.
    pub kind: ErrorKind,
    /// What happened, with the proxy's own answer.
    pub message: String,
}

impl RouterError {
    /// A failure a retry may fix (socket busy or unreachable).
    pub fn transient(message: impl Into<String>) -> Self {
        RouterError {
            kind: ErrorKind::Transient,
            message: message.into(),
        }
    }
    /// A failure a retry will not fix (unknown backend, no free slot).
    pub fn permanent(message: impl Into<String>) -> Self {
        RouterError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }
    /// As a driver error of `operation`.
    pub fn into_driver(self, operation: &str) -> DriverError {
        DriverError {
            kind: self.kind,
            operation: operation.to_string(),
            message: self.message,
        }
    }
}

/// A proxy the driver steers.
#[async_trait]
pub trait Router: Send + Sync {
    /// Makes the proxy match `table`: every endpoint listed is registered and weighted by
    /// its revision's share (a new one takes traffic only after passing the proxy's health
    /// check; a drained one listed again is made ready); endpoints not listed are taken out
    /// of service. Idempotent.
    async fn apply(&self, table: &[RevisionRoute]) -> Result<(), RouterError>;
    /// Stops sending new requests to `endpoints` and waits until their open connections
    /// finish, at most `timeout`. Unknown endpoints are ignored.
    async fn drain(&self, endpoints: &[SocketAddr], timeout: Duration) -> Result<(), RouterError>;
    /// The registered endpoints and their state.
    async fn status(&self) -> Result<Vec<EndpointStatus>, RouterError>;
}
