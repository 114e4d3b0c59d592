//! Channels to other services over mTLS. The server is verified by its identity: its certificate must chain to
//! the mesh CA and carry the expected workload name (e.g. `audit`), whatever address it was dialled on.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use crate::pki::MeshCredentials;
use crate::{Identity, MeshError};

/// A lazily connecting channel to the service `server` at `addr` (`host:port`), presenting `credentials`.
/// Connection errors surface on the first call as UNAVAILABLE, so services can start in any order.
pub fn channel(addr: &str, server: &Identity, credentials: &MeshCredentials) -> Result<Channel, MeshError> {
    channel_with_config(addr, server, crate::tls::mesh_client_config(credentials, server)?)
}

/// Like [`channel`], with a hand-built TLS configuration (tests use it to play misbehaving clients).
pub fn channel_with_config(
    addr: &str,
    server: &Identity,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> Result<Channel, MeshError> {
    let connector = TlsConnector::from(config);
    let server_name = ServerName::try_from(server.name().to_owned())
        .map_err(|_| MeshError::InvalidIdentity(server.name().to_owned()))?;
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|_| MeshError::Endpoint(addr.to_owned()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    let connect = tower::service_fn(move |uri: http::Uri| {
        let connector = connector.clone();
        let server_name = server_name.clone();
        async move {
            let host = uri.host().unwrap_or("127.0.0.1");
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect(format!("{host}:{port}")).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connect))
}

/// A lazily connecting channel to a public URL outside the mesh: `https://host[:port]` verified against the public
/// roots ([`crate::tls::public_client_config`]), or plain `http://` (loopback and development).
pub fn public_channel(url: &str) -> Result<Channel, MeshError> {
    let uri: http::Uri = url.parse().map_err(|_| MeshError::Endpoint(url.to_owned()))?;
    let host = uri.host().ok_or_else(|| MeshError::Endpoint(url.to_owned()))?.to_owned();
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|_| MeshError::Endpoint(url.to_owned()))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    match uri.scheme_str() {
        Some("http") => Ok(endpoint.connect_lazy()),
        Some("https") => {
            let connector = TlsConnector::from(crate::tls::public_client_config()?);
            let server_name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|_| MeshError::Endpoint(url.to_owned()))?;
            let connect = tower::service_fn(move |uri: http::Uri| {
                let (connector, server_name) = (connector.clone(), server_name.clone());
                async move {
                    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_owned();
                    let tcp = TcpStream::connect((host, uri.port_u16().unwrap_or(443))).await?;
                    tcp.set_nodelay(true)?;
                    let tls = connector.connect(server_name, tcp).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            });
            Ok(endpoint.connect_with_connector_lazy(connect))
        }
        _ => Err(MeshError::Endpoint(format!("{url}: expected an http:// or https:// URL"))),
    }
}
