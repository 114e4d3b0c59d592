//! Contracts whose handlers have not been built yet. A pending service is routed like a real one (so reflection,
//! health and routing are final) and answers every method with UNIMPLEMENTED and a message naming the missing
//! piece, instead of the bare "unknown service" a caller would otherwise get.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tonic::server::NamedService;

/// A contract that is routed but not yet implemented.
pub trait PendingContract: Send + Sync + 'static {
    /// Fully qualified service name, e.g. `switchboard.connectors.v1.ConnectorService`.
    const NAME: &'static str;
    /// What is missing, for a person: which piece of work brings it.
    const MISSING: &'static str;
}

/// The service answering for a [`PendingContract`].
pub struct Pending<C>(PhantomData<fn() -> C>);

impl<C> Pending<C> {
    /// The service.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<C> Default for Pending<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> Clone for Pending<C> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<C: PendingContract> NamedService for Pending<C> {
    const NAME: &'static str = C::NAME;
}

impl<C: PendingContract, B> tower_service::Service<http::Request<B>> for Pending<C> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        let status =
            tonic::Status::unimplemented(format!("{}/{method} is not implemented yet: {}", C::NAME, C::MISSING));
        ready(Ok(status.into_http()))
    }
}
