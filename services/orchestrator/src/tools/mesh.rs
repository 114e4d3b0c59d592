//! [`ConnectorsApi`] over the mesh: `ConnectorService` at the connectors service's address, called over mTLS with
//! the run's request context injected into each call's metadata, and a deadline on each call.

use std::time::Duration;

use switchboard_mesh::context::RequestContext;
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::{Identity, MeshError};
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use tonic::transport::Channel;

use super::{ApiFuture, ConnectorsApi};

/// The connectors service over the mesh.
#[derive(Debug, Clone)]
pub struct MeshConnectors {
    client: ConnectorServiceClient<Channel>,
    timeout: Duration,
}

impl MeshConnectors {
    /// A lazily connecting client of the connectors service at `addr` (`host:port`), presenting `credentials`;
    /// each call gives up after `timeout`.
    pub fn new(addr: &str, credentials: &MeshCredentials, timeout: Duration) -> Result<Self, MeshError> {
        let channel = switchboard_mesh::client::channel(addr, &Identity::connectors(), credentials)?;
        Ok(Self { client: ConnectorServiceClient::new(channel), timeout })
    }

    fn request<T>(&self, context: &RequestContext, message: T) -> tonic::Request<T> {
        let mut request = context.request(message);
        request.set_timeout(self.timeout);
        request
    }
}

impl ConnectorsApi for MeshConnectors {
    fn query_records<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::QueryRecordsRequest,
    ) -> ApiFuture<'a, pb::QueryRecordsResponse> {
        let request = self.request(context, request);
        let mut client = self.client.clone();
        Box::pin(async move { Ok(client.query_records(request).await?.into_inner()) })
    }

    fn list_actions<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::ListActionsRequest,
    ) -> ApiFuture<'a, pb::ListActionsResponse> {
        let request = self.request(context, request);
        let mut client = self.client.clone();
        Box::pin(async move { Ok(client.list_actions(request).await?.into_inner()) })
    }

    fn list_connections<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::ListConnectionsRequest,
    ) -> ApiFuture<'a, pb::ListConnectionsResponse> {
        let request = self.request(context, request);
        let mut client = self.client.clone();
        Box::pin(async move { Ok(client.list_connections(request).await?.into_inner()) })
    }

    fn invoke_action<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::InvokeActionRequest,
    ) -> ApiFuture<'a, pb::InvokeActionResponse> {
        let request = self.request(context, request);
        let mut client = self.client.clone();
        Box::pin(async move { Ok(client.invoke_action(request).await?.into_inner()) })
    }
}
