//! Serving a service's gRPC routes: the accept loop (plain TCP, server TLS, or mTLS with the peer's identity
//! recorded), gRPC health and reflection, HTTP/2 limits set explicitly, and graceful shutdown.
//!
//! Shutdown: when the token is cancelled the health status turns NOT_SERVING, the listener stops accepting,
//! in-flight RPCs run to completion and `serve` returns.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::Connected;
use tonic_health::ServingStatus;

use crate::access::AccessTable;
use crate::inbound::{CallerPolicy, ConnectionInfo, InboundLayer};
use crate::pki::MeshCredentials;
use crate::{Identity, MeshError};

/// Largest gRPC message a service accepts or sends by default.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How a listener's connections are secured.
pub enum Transport {
    /// Mutual TLS with the mesh CA: internal listeners.
    Mesh(MeshCredentials),
    /// Server-authenticated TLS: the public edge with a configured certificate.
    Tls(Arc<rustls::ServerConfig>),
    /// No TLS: the public edge on loopback in development.
    Plaintext,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Mesh(_) => "Transport::Mesh",
            Transport::Tls(_) => "Transport::Tls",
            Transport::Plaintext => "Transport::Plaintext",
        })
    }
}

/// Connection and stream limits. The defaults are the ones a public port needs without tuning.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Streams a client may reset before they are accepted; caps HTTP/2 rapid-reset floods.
    pub max_pending_accept_reset_streams: usize,
    /// Largest header block (bytes, decoded); also the CONTINUATION flood bound.
    pub max_header_list_bytes: u32,
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// Most TLS handshakes in progress at once; further connections wait (a half-open handshake flood costs
    /// a bounded amount of memory).
    pub max_concurrent_handshakes: usize,
    /// After shutdown starts, in-flight calls get this long to finish; then the server stops regardless (a
    /// long-lived stream such as a health Watch must not keep the process alive).
    pub drain_deadline: Duration,
    /// HTTP/2 PING interval to find dead peers.
    pub keepalive_interval: Duration,
    /// A PING must be answered within this.
    pub keepalive_timeout: Duration,
    /// The public port closes (gracefully: HTTP/2 GOAWAY, or after the current HTTP/1 response) a connection that
    /// has had no request in flight for this long, so idle connections cannot pile up.
    pub idle_timeout: Duration,
    /// Most connections open at once on the listener; past it a new connection is closed as soon as it is accepted,
    /// before any TLS work.
    pub max_connections: usize,
    /// Most connections open at once from one client ([`crate::net::client_key`]: an IPv4 address or an IPv6 /64).
    pub max_connections_per_client: usize,
    /// Clients the per-client cap does not apply to: trusted proxies, behind which every client shares one address.
    pub unlimited_clients: Vec<crate::net::Cidr>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 200,
            max_pending_accept_reset_streams: 20,
            max_header_list_bytes: 60 * 1024,
            handshake_timeout: Duration::from_secs(10),
            max_concurrent_handshakes: 1024,
            drain_deadline: Duration::from_secs(20),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(120),
            max_connections: 10_000,
            max_connections_per_client: 256,
            unlimited_clients: Vec::new(),
        }
    }
}

/// Everything [`serve`] needs besides the routes and the socket.
#[derive(Debug)]
pub struct ServeOptions {
    /// How connections are secured.
    pub transport: Transport,
    /// Who may call.
    pub policy: CallerPolicy,
    /// Fully qualified names of the services in the routes, reported by the health service.
    pub services: Vec<&'static str>,
    /// Connection limits.
    pub limits: Limits,
    /// Where calls and connections are counted, under which service name.
    pub metrics: Option<(switchboard_telemetry::Metrics, &'static str)>,
}

impl ServeOptions {
    /// An internal listener: mTLS with `credentials`, each method callable as the contracts' access rules say.
    pub fn mesh(credentials: MeshCredentials) -> Result<Self, MeshError> {
        Ok(Self::mesh_with_access(credentials, Arc::new(AccessTable::contracts()?.clone())))
    }

    /// An internal listener following `access` instead of the contracts' rules (tests of the mesh itself).
    pub fn mesh_with_access(credentials: MeshCredentials, access: Arc<AccessTable>) -> Self {
        Self {
            transport: Transport::Mesh(credentials),
            policy: CallerPolicy::Mesh(access),
            services: Vec::new(),
            limits: Limits::default(),
            metrics: None,
        }
    }

    /// Counts and times every call, and counts open connections, in `metrics` as `service`'s.
    pub fn with_metrics(mut self, metrics: switchboard_telemetry::Metrics, service: &'static str) -> Self {
        self.metrics = Some((metrics, service));
        self
    }

    /// Names the services the health endpoint reports.
    pub fn reporting(mut self, services: impl IntoIterator<Item = &'static str>) -> Self {
        self.services.extend(services);
        self
    }
}

/// Serves `routes` (plus health and reflection) on `listener` until `shutdown` is cancelled.
pub async fn serve(
    routes: Routes,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Result<(), MeshError> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let serve_error = |message: String| MeshError::Serve { addr: addr.clone(), message };

    let (routes, health) = with_health_and_reflection(routes, &options.services).await.map_err(serve_error)?;

    let limits = &options.limits;
    let connections = options.metrics.as_ref().map(|(metrics, service)| metrics.connections(service));
    let incoming = incoming(listener, &options.transport, limits, connections, shutdown.clone())?;

    let services = options.services.clone();
    let deadline = limits.drain_deadline;
    let stop = shutdown.clone();
    let drained = async move {
        stop.cancelled().await;
        for name in services {
            health.set_service_status(name, ServingStatus::NotServing).await;
        }
        health.set_service_status("", ServingStatus::NotServing).await;
    };
    tracing::info!(%addr, transport = ?options.transport, "listening");
    let server = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_max_pending_accept_reset_streams(Some(limits.max_pending_accept_reset_streams))
        .http2_max_header_list_size(limits.max_header_list_bytes)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .tcp_nodelay(true)
        .layer({
            let layer = match &options.transport {
                Transport::Mesh(credentials) => InboundLayer::new(options.policy).serving_as(credentials.identity()),
                _ => InboundLayer::new(options.policy),
            };
            match options.metrics {
                Some((metrics, service)) => layer.with_metrics(metrics, service),
                None => layer,
            }
        })
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, drained);
    let overdue = async {
        shutdown.cancelled().await;
        tokio::time::sleep(deadline).await;
    };
    tokio::select! {
        served = server => served.map_err(|e| serve_error(e.to_string())),
        () = overdue => {
            tracing::warn!(%addr, ?deadline, "calls still open after the drain deadline; stopping anyway");
            Ok(())
        }
    }
}

/// Adds `grpc.health.v1` (reporting `services` and the server as SERVING) and reflection v1 and v1alpha over
/// every Switchboard contract to `routes`.
pub async fn with_health_and_reflection(
    routes: Routes,
    services: &[&'static str],
) -> Result<(Routes, tonic_health::server::HealthReporter), String> {
    let (routes, health) = with_health(routes, services).await;
    Ok((with_reflection(routes, switchboard_proto::FILE_DESCRIPTOR_SET)?, health))
}

/// Adds `grpc.health.v1` to `routes`, reporting `services` and the server as SERVING.
pub async fn with_health(routes: Routes, services: &[&'static str]) -> (Routes, tonic_health::server::HealthReporter) {
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in services {
        health.set_service_status(*name, ServingStatus::Serving).await;
    }
    (routes.add_service(health_service), health)
}

/// Adds reflection v1 and v1alpha (what grpcurl speaks) describing `descriptor_set` (an encoded
/// `FileDescriptorSet`) and the health service. The gateway passes only what its public port serves.
pub fn with_reflection(routes: Routes, descriptor_set: &[u8]) -> Result<Routes, String> {
    use prost::Message;
    let contracts = prost_types::FileDescriptorSet::decode(descriptor_set).map_err(|e| e.to_string())?;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_file_descriptor_set(contracts.clone())
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().map_err(|e| e.to_string())?;
    let reflection_v1alpha = reflection().build_v1alpha().map_err(|e| e.to_string())?;
    Ok(routes.add_service(reflection_v1).add_service(reflection_v1alpha))
}

/// Accepts connections on `listener` secured by `transport`, until `shutdown`. TLS handshakes finish off the
/// accept path (bounded in number and time), so a slow handshake holds up no one. For servers that drive
/// connections themselves (the gateway's HTTP front); [`serve`] uses it too.
pub fn incoming(
    listener: TcpListener,
    transport: &Transport,
    limits: &Limits,
    connections: Option<prometheus_client::metrics::gauge::Gauge>,
    shutdown: CancellationToken,
) -> Result<ReceiverStream<io::Result<ServerStream>>, MeshError> {
    let acceptor = match transport {
        Transport::Mesh(credentials) => Some(TlsAcceptor::from(crate::tls::mesh_server_config(credentials)?)),
        Transport::Tls(config) => Some(TlsAcceptor::from(config.clone())),
        Transport::Plaintext => None,
    };
    Ok(accept_loop(listener, acceptor, limits, connections, shutdown))
}

/// Open connections, in all and per client, so that the caps can refuse new ones (and the gauge shows them).
#[derive(Debug)]
pub struct ConnectionCounter {
    gauge: Option<prometheus_client::metrics::gauge::Gauge>,
    total: std::sync::atomic::AtomicUsize,
    per_client: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    max_total: usize,
    max_per_client: usize,
    unlimited: Vec<crate::net::Cidr>,
}

impl ConnectionCounter {
    /// A counter enforcing `limits`' connection caps, mirrored in `gauge`.
    pub fn new(limits: &Limits, gauge: Option<prometheus_client::metrics::gauge::Gauge>) -> Arc<Self> {
        Arc::new(Self {
            gauge,
            total: std::sync::atomic::AtomicUsize::new(0),
            per_client: std::sync::Mutex::new(std::collections::HashMap::new()),
            max_total: limits.max_connections,
            max_per_client: limits.max_connections_per_client,
            unlimited: limits.unlimited_clients.clone(),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a new connection from `remote`, or says which cap refuses it.
    pub fn admit(self: &Arc<Self>, remote: std::net::IpAddr) -> Result<ConnectionPermit, &'static str> {
        use std::sync::atomic::Ordering;
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err("the listener's connection cap");
        }
        let key = (!self.unlimited.iter().any(|c| c.contains(remote))).then(|| crate::net::client_key(remote));
        if let Some(key) = key {
            let mut per_client = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
            let count = per_client.entry(key).or_insert(0);
            if *count >= self.max_per_client {
                drop(per_client);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err("the per-client connection cap");
            }
            *count += 1;
        }
        if let Some(gauge) = &self.gauge {
            gauge.inc();
        }
        Ok(ConnectionPermit { counter: self.clone(), key })
    }
}

/// One counted connection; uncounted when dropped (with the connection).
#[derive(Debug)]
pub struct ConnectionPermit {
    counter: Arc<ConnectionCounter>,
    key: Option<std::net::IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.counter.total.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        if let Some(gauge) = &self.counter.gauge {
            gauge.dec();
        }
        if let Some(key) = self.key {
            let mut per_client = self.counter.per_client.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = per_client.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    per_client.remove(&key);
                }
            }
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    limits: &Limits,
    connections: Option<prometheus_client::metrics::gauge::Gauge>,
    shutdown: CancellationToken,
) -> ReceiverStream<io::Result<ServerStream>> {
    let (tx, rx) = tokio::sync::mpsc::channel(128);
    let handshake_timeout = limits.handshake_timeout;
    let handshakes = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_handshakes));
    let counter = ConnectionCounter::new(limits, connections);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let permit = match counter.admit(remote.ip()) {
                Ok(permit) => permit,
                Err(cap) => {
                    // Closed at once, before TLS or HTTP work: refusing must cost less than serving.
                    tracing::debug!(%remote, cap, "connection refused");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let Some(acceptor) = acceptor.clone() else {
                let info = ConnectionInfo { remote_addr: Some(remote), peer: None };
                if tx.send(Ok(ServerStream { io: Io::Plain(tcp), info, _permit: permit })).await.is_err() {
                    break;
                }
                continue;
            };
            let tx = tx.clone();
            // Never block the accept loop on slow handshakes: past the cap, new connections are dropped at once.
            let Ok(handshake) = handshakes.clone().try_acquire_owned() else {
                tracing::warn!(%remote, "too many TLS handshakes in progress; dropping the connection");
                continue;
            };
            tokio::spawn(async move {
                let _handshake = handshake;
                match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let peer = peer_identity(tls.get_ref().1.peer_certificates());
                        let info = ConnectionInfo { remote_addr: Some(remote), peer };
                        let _ = tx.send(Ok(ServerStream { io: Io::Tls(Box::new(tls)), info, _permit: permit })).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// The SPIFFE identity of a peer: the leaf certificate must carry exactly one URI SAN (the X.509-SVID rule),
/// and it must be one of ours.
pub(crate) fn peer_identity(certs: Option<&[rustls_pki_types::CertificateDer<'_>]>) -> Option<Identity> {
    spiffe_identity(certs?.first()?.as_ref())
}

/// The single SPIFFE identity in a DER certificate, if it has exactly one URI SAN and that URI is ours.
pub(crate) fn spiffe_identity(der: &[u8]) -> Option<Identity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let mut uris = san.value.general_names.iter().filter_map(|name| match name {
        x509_parser::extensions::GeneralName::URI(uri) => Some(*uri),
        _ => None,
    });
    let (Some(uri), None) = (uris.next(), uris.next()) else { return None };
    Identity::from_spiffe_uri(uri)
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An accepted connection, with what is known about its peer. It counts against the listener's connection caps
/// until dropped.
pub struct ServerStream {
    io: Io,
    info: ConnectionInfo,
    _permit: ConnectionPermit,
}

impl ServerStream {
    /// What is known about the peer.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }
}

impl Connected for ServerStream {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    /// Deliberately `false`, though both streams can write vectors. Over a vectored stream h2 chains every DATA
    /// payload of 256 bytes or more into the write instead of copying it, and cannot buffer another frame until
    /// that write is flushed: a unary gRPC answer (HEADERS, DATA, trailers) then leaves in two writes (two TLS
    /// records, two system calls) and answers on other streams never share one. Unvectored, h2 copies payloads up
    /// to 1 KiB and sends the frames queued together in one write; hyper's HTTP/1.1 likewise writes the head and
    /// body from one buffer.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// Binds `addr` (`host:port`), naming the address in the error (a port already in use is the usual cause).
pub async fn bind(addr: &str) -> Result<TcpListener, MeshError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| MeshError::Serve { addr: addr.to_owned(), message: format!("cannot bind: {e}") })
}
