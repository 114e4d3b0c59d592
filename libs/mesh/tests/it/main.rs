//! The mesh over real sockets: who gets through the mTLS handshake and the allowlist, and what context arrives.

#![allow(clippy::unwrap_used)] // tests and benchmarks fail loudly by design

mod access;
mod context;
mod mtls;
mod reload;
mod stream;

use std::sync::{Arc, Mutex};

use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::pki::{DevCa, MeshCredentials};
use switchboard_mesh::server::{ServeOptions, serve};
use switchboard_proto::audit::v1 as pb;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_proto::audit::v1::audit_service_server::{AuditService, AuditServiceServer};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// A dev CA in a temp dir, and credentials from it.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: DevCa,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::open_or_create(&dir.path().join("certs")).unwrap();
        Self { dir, ca }
    }

    pub fn creds(&self, identity: Identity) -> MeshCredentials {
        MeshCredentials::dev(self.dir.path(), identity).unwrap()
    }
}

/// Serves `routes` on a random port; returns its address. Stops when `shutdown` is cancelled.
pub async fn spawn(routes: Routes, options: ServeOptions, shutdown: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let token = shutdown.clone();
    tokio::spawn(async move { serve(routes, listener, options, token).await.unwrap() });
    addr
}

/// A stand-in for a service: records the request context of every ListEvents it answers and, when it has a
/// next hop, forwards the call there with that context, the way a real handler calls the next service.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<RequestContext>>>,
    /// Raw inbound metadata of each call, to check what reached the handler.
    pub metadata: Arc<Mutex<Vec<tonic::metadata::MetadataMap>>>,
    pub next_hop: Option<tonic::transport::Channel>,
}

type Result<T> = std::result::Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl AuditService for Recorder {
    async fn list_events(&self, request: tonic::Request<pb::ListEventsRequest>) -> Result<pb::ListEventsResponse> {
        let context = RequestContext::of(&request)?.clone();
        self.seen.lock().unwrap().push(context.clone());
        self.metadata.lock().unwrap().push(request.metadata().clone());
        if let Some(channel) = &self.next_hop {
            let mut client = AuditServiceClient::new(channel.clone());
            return client.list_events(context.request(request.into_inner())).await;
        }
        Ok(tonic::Response::new(pb::ListEventsResponse::default()))
    }

    async fn append_events(&self, _: tonic::Request<pb::AppendEventsRequest>) -> Result<pb::AppendEventsResponse> {
        Err(tonic::Status::unimplemented("test double"))
    }

    async fn verify_chain(&self, _: tonic::Request<pb::VerifyChainRequest>) -> Result<pb::VerifyChainResponse> {
        Err(tonic::Status::unimplemented("test double"))
    }

    async fn get_checkpoint(&self, _: tonic::Request<pb::GetCheckpointRequest>) -> Result<pb::GetCheckpointResponse> {
        Err(tonic::Status::unimplemented("test double"))
    }
}

/// Routes serving `recorder` as the audit contract.
pub fn recorder_routes(recorder: Recorder) -> Routes {
    Routes::new(AuditServiceServer::new(recorder))
}

/// An mTLS listener where the recorder's ListEvents may be called by `callers` (no role needed): the tests of the
/// handshake and of the context use it; `access.rs` tests the contracts' own rules.
pub fn allowing(creds: MeshCredentials, callers: impl IntoIterator<Item = Identity>) -> ServeOptions {
    let mut table = switchboard_mesh::access::AccessTable::default();
    table.insert(
        "/switchboard.audit.v1.AuditService/ListEvents",
        switchboard_mesh::access::MethodAccess {
            min_role: None,
            anonymous: false,
            mesh_callers: callers.into_iter().collect(),
            max_request_bytes: 1024,
            client_streaming: false,
        },
    );
    ServeOptions::mesh_with_access(creds, Arc::new(table))
}

/// A client of the recorder at `addr`, presenting `creds`.
pub fn client(addr: &str, server: Identity, creds: &MeshCredentials) -> AuditServiceClient<tonic::transport::Channel> {
    AuditServiceClient::new(switchboard_mesh::client::channel(addr, &server, creds).unwrap())
}
