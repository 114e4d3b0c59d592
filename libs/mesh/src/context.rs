//! The request context that travels with every call through the mesh, in gRPC metadata:
//!
//! | metadata key   | meaning                                              | set by                          |
//! |----------------|------------------------------------------------------|---------------------------------|
//! | `x-tenant-id`  | the tenant the call acts for (UUID)                  | the gateway, from the JWT       |
//! | `x-user-id`    | the user the call acts for (UUID)                    | the gateway, from the JWT       |
//! | `x-user-role`  | that user's role (`owner`, `admin`, ...)             | the gateway, from the JWT       |
//! | `x-request-id` | correlation id, echoed in logs and audit entries     | the client, else the first hop  |
//! | `traceparent`  | W3C trace context, so spans share one trace id        | the client, else the first hop  |
//!
//! Tenant, user and role are believed only from mesh peers the method's access rule allows (see
//! [`crate::inbound`]); the public edge strips them from clients.

use std::fmt;

use switchboard_types::{RequestId, Role, TenantId, UserId};
use tonic::metadata::MetadataMap;

/// Metadata key of the tenant id.
pub const TENANT_ID: &str = "x-tenant-id";
/// Metadata key of the user id.
pub const USER_ID: &str = "x-user-id";
/// Metadata key of the user's role.
pub const ROLE: &str = "x-user-role";
/// Metadata key of the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// Metadata key of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The metadata only mesh peers may set; the public edge strips it from clients.
pub const INTERNAL_KEYS: [&str; 3] = [TENANT_ID, USER_ID, ROLE];

// The same keys as header names, built once: a `&str` key is parsed and validated again on every lookup.
/// Header name of the tenant id.
pub const TENANT_ID_HEADER: http::HeaderName = http::HeaderName::from_static(TENANT_ID);
/// Header name of the user id.
pub const USER_ID_HEADER: http::HeaderName = http::HeaderName::from_static(USER_ID);
/// Header name of the user's role.
pub const ROLE_HEADER: http::HeaderName = http::HeaderName::from_static(ROLE);
/// Header name of the request id.
pub const REQUEST_ID_HEADER: http::HeaderName = http::HeaderName::from_static(REQUEST_ID);
/// Header name of the W3C trace context.
pub const TRACEPARENT_HEADER: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);
/// [`INTERNAL_KEYS`] as header names.
pub const INTERNAL_HEADERS: [http::HeaderName; 3] = [TENANT_ID_HEADER, USER_ID_HEADER, ROLE_HEADER];

/// A W3C `traceparent` (version 00): trace id, parent span id and flags.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceParent {
    /// A new trace (random ids, sampled).
    pub fn new_root() -> Self {
        let mut trace_id = *uuid::Uuid::new_v4().as_bytes();
        trace_id[0] |= 1; // all-zero ids are invalid; this one can never be
        Self { trace_id, parent_id: random_span_id(), flags: 1 }
    }

    /// Builds one from raw ids; `None` if either is all zeros (invalid per W3C).
    pub fn from_parts(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(Self { trace_id, parent_id, flags })
    }

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; anything else is `None` (and the caller starts a new trace).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().split('-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        // Version 00 has exactly four fields; a future version may append more, which we ignore.
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let lower_hex = |p: &str| p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !(lower_hex(version) && lower_hex(trace) && lower_hex(parent) && lower_hex(flags)) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        let mut flag = [0u8; 1];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(parent, &mut parent_id).ok()?;
        hex::decode_to_slice(flags, &mut flag).ok()?;
        Self::from_parts(trace_id, parent_id, flag[0])
    }

    /// The same trace with a new parent span: what an outbound call carries when no live span is at hand.
    pub fn child(&self) -> Self {
        Self { parent_id: random_span_id(), ..*self }
    }

    /// The trace id, 16 bytes.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> TraceIdHex {
        let mut digits = [0u8; 32];
        // 32 bytes hold 16 bytes' digits exactly.
        let _ = hex::encode_to_slice(self.trace_id, &mut digits);
        TraceIdHex(digits)
    }

    /// The parent span id, 8 bytes.
    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The length of the text form, `00-<32 hex>-<16 hex>-<2 hex>`.
    pub const ENCODED_LEN: usize = 55;

    /// The text form written into `buf`, without an allocation (every outbound call carries one).
    pub fn encode<'a>(&self, buf: &'a mut [u8; Self::ENCODED_LEN]) -> &'a str {
        buf[..3].copy_from_slice(b"00-");
        // Each slice holds its bytes' digits exactly, so the encodings cannot fail.
        let _ = hex::encode_to_slice(self.trace_id, &mut buf[3..35]);
        buf[35] = b'-';
        let _ = hex::encode_to_slice(self.parent_id, &mut buf[36..52]);
        buf[52] = b'-';
        let _ = hex::encode_to_slice([self.flags], &mut buf[53..55]);
        std::str::from_utf8(buf).unwrap_or_default()
    }
}

/// A trace id's 32 lowercase hex digits, without an allocation (every request logs one).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceIdHex([u8; 32]);

impl TraceIdHex {
    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only hex digits are ever written here.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for TraceIdHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceIdHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

fn random_span_id() -> [u8; 8] {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    id[0] |= 1;
    id
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode(&mut [0; Self::ENCODED_LEN]))
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

/// Who a call acts for and how to correlate it: the typed form of the mesh metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    tenant: Option<TenantId>,
    user: Option<UserId>,
    role: Option<Role>,
    request_id: RequestId,
    trace: TraceParent,
}

/// Why inbound metadata could not become a context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// A tenant-scoped call arrived without `x-tenant-id`.
    #[error("this call needs a tenant: no x-tenant-id in the request metadata")]
    MissingTenant,
    /// A header is present but malformed.
    #[error("malformed {key} metadata: {reason}")]
    Malformed {
        /// The metadata key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl From<ContextError> for tonic::Status {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::MissingTenant => tonic::Status::unauthenticated(e.to_string()),
            ContextError::Malformed { .. } => tonic::Status::invalid_argument(e.to_string()),
        }
    }
}

impl RequestContext {
    /// A fresh context for work that starts here (a CLI command, a background job).
    pub fn new_root() -> Self {
        Self { tenant: None, user: None, role: None, request_id: RequestId::generate(), trace: TraceParent::new_root() }
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Sets the user.
    pub fn with_user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// Sets the user's role.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = request_id;
        self
    }

    /// Sets the trace context.
    pub fn with_trace(mut self, trace: TraceParent) -> Self {
        self.trace = trace;
        self
    }

    /// Reads the context from metadata a trusted peer sent. A missing or malformed request id or traceparent is
    /// replaced (a client's bad correlation header must not fail its call); a malformed tenant or user id is an
    /// error, because acting for the wrong tenant is worse than not acting.
    pub fn from_trusted_headers(metadata: &http::HeaderMap) -> Result<Self, ContextError> {
        let text = |key: &'static str, name: &http::HeaderName| -> Result<Option<&str>, ContextError> {
            match metadata.get(name) {
                None => Ok(None),
                Some(v) => {
                    v.to_str().map(Some).map_err(|_| ContextError::Malformed { key, reason: "not ASCII text".into() })
                }
            }
        };
        let tenant = text(TENANT_ID, &TENANT_ID_HEADER)?
            .map(|s| s.parse::<TenantId>())
            .transpose()
            .map_err(|e| ContextError::Malformed { key: TENANT_ID, reason: e.to_string() })?;
        let user = text(USER_ID, &USER_ID_HEADER)?
            .map(|s| s.parse::<UserId>())
            .transpose()
            .map_err(|e| ContextError::Malformed { key: USER_ID, reason: e.to_string() })?;
        let role = text(ROLE, &ROLE_HEADER)?
            .map(|s| s.parse::<Role>())
            .transpose()
            .map_err(|e| ContextError::Malformed { key: ROLE, reason: e.to_string() })?;
        Ok(Self { tenant, user, role, ..Self::from_untrusted_headers(metadata) })
    }

    /// Reads only what any client may set (request id, traceparent), ignoring tenant and user.
    pub fn from_untrusted_headers(metadata: &http::HeaderMap) -> Self {
        let get = |name: &http::HeaderName| metadata.get(name).and_then(|v| v.to_str().ok());
        Self {
            tenant: None,
            user: None,
            role: None,
            request_id: get(&REQUEST_ID_HEADER).and_then(RequestId::parse).unwrap_or_else(RequestId::generate),
            trace: get(&TRACEPARENT_HEADER).and_then(TraceParent::parse).unwrap_or_else(TraceParent::new_root),
        }
    }

    /// The tenant, or UNAUTHENTICATED for a tenant-scoped call without one.
    pub fn require_tenant(&self) -> Result<TenantId, ContextError> {
        self.tenant.ok_or(ContextError::MissingTenant)
    }

    /// The tenant, if any.
    pub fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    /// The user, if any.
    pub fn user(&self) -> Option<UserId> {
        self.user
    }

    /// The role of the user the call acts for, if any.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// The request id.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The inbound trace context.
    pub fn trace(&self) -> &TraceParent {
        &self.trace
    }

    /// The trace context to hand on (to an outbound call, or in an event): the current span as parent when a live
    /// OpenTelemetry span of this trace is at hand, else a fresh child of the inbound one; either way the trace id
    /// is kept.
    pub fn outbound_trace(&self) -> TraceParent {
        current_span_trace(&self.trace).unwrap_or_else(|| self.trace.child())
    }

    /// Writes this context into outbound metadata, with [`RequestContext::outbound_trace`] as its traceparent.
    pub fn inject(&self, metadata: &mut MetadataMap) {
        let mut headers = std::mem::take(metadata).into_headers();
        self.inject_headers(&mut headers);
        *metadata = MetadataMap::from_headers(headers);
    }

    /// [`RequestContext::inject`] on the headers of an HTTP request (the gateway forwards those as they are).
    pub fn inject_headers(&self, headers: &mut http::HeaderMap) {
        let outbound = self.outbound_trace();
        for name in INTERNAL_HEADERS {
            headers.remove(name);
        }
        let mut uuid = [0u8; uuid::fmt::Hyphenated::LENGTH];
        if let Some(tenant) = self.tenant {
            insert(headers, TENANT_ID_HEADER, tenant.as_uuid().hyphenated().encode_lower(&mut uuid));
        }
        if let Some(user) = self.user {
            insert(headers, USER_ID_HEADER, user.as_uuid().hyphenated().encode_lower(&mut uuid));
        }
        if let Some(role) = self.role {
            headers.insert(ROLE_HEADER, http::HeaderValue::from_static(role.as_str()));
        }
        insert(headers, REQUEST_ID_HEADER, self.request_id.as_str());
        insert(headers, TRACEPARENT_HEADER, outbound.encode(&mut [0; TraceParent::ENCODED_LEN]));
    }

    /// The context the mesh's inbound layer attached to `request`.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Self, tonic::Status> {
        request.extensions().get::<Self>().ok_or_else(|| {
            tracing::error!("request reached a handler without a RequestContext: inbound layer missing");
            tonic::Status::internal("internal error: request context missing")
        })
    }

    /// Wraps `message` in a request carrying this context.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.inject(request.metadata_mut());
        request
    }
}

/// Makes `span` a child of the inbound W3C trace context, so every service's spans share its trace id.
pub fn continue_trace(span: &tracing::Span, context: &RequestContext) {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let trace = context.trace();
    let remote = SpanContext::new(
        TraceId::from_bytes(trace.trace_id()),
        SpanId::from_bytes(trace.parent_id()),
        TraceFlags::new(trace.flags()),
        true,
        TraceState::default(),
    );
    // Fails only when the span is disabled (no subscriber); the context is still carried in metadata.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

fn insert(headers: &mut http::HeaderMap, name: http::HeaderName, value: &str) {
    // Every value written here was validated (UUIDs, request ids, hex), so it is always valid ASCII.
    if let Ok(value) = http::HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// The current tracing span's OTel ids, when that span belongs to `inbound`'s trace.
fn current_span_trace(inbound: &TraceParent) -> Option<TraceParent> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    if !sc.is_valid() || sc.trace_id().to_bytes() != inbound.trace_id() {
        return None;
    }
    TraceParent::from_parts(sc.trace_id().to_bytes(), sc.span_id().to_bytes(), sc.trace_flags().to_u8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_the_w3c_examples_and_rejects_bad_ones() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(s).unwrap();
        assert_eq!(tp.to_string(), s);
        assert_eq!(tp.trace_id_hex().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        assert_eq!(TraceParent::parse(unsampled).unwrap().to_string(), unsampled);
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?} must be rejected");
        }
        assert!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future").is_some());
    }

    #[test]
    fn child_keeps_the_trace_and_changes_the_parent() {
        let root = TraceParent::new_root();
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.parent_id(), root.parent_id());
    }

    #[test]
    fn untrusted_metadata_never_yields_a_tenant() {
        let mut md = http::HeaderMap::new();
        md.insert(TENANT_ID, TenantId::generate().to_string().parse().unwrap());
        md.insert(REQUEST_ID, "bad id with spaces".parse().unwrap());
        let ctx = RequestContext::from_untrusted_headers(&md);
        assert_eq!(ctx.tenant(), None);
        assert_ne!(ctx.request_id().as_str(), "bad id with spaces");
        assert!(RequestContext::from_trusted_headers(&md).unwrap().require_tenant().is_ok());
    }

    #[test]
    fn malformed_tenant_is_refused_and_missing_tenant_is_unauthenticated() {
        let mut md = http::HeaderMap::new();
        md.insert(TENANT_ID, "acme".parse().unwrap());
        let err = RequestContext::from_trusted_headers(&md).unwrap_err();
        assert_eq!(tonic::Status::from(err).code(), tonic::Code::InvalidArgument);
        let ctx = RequestContext::from_trusted_headers(&http::HeaderMap::new()).unwrap();
        assert_eq!(tonic::Status::from(ctx.require_tenant().unwrap_err()).code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn inject_round_trips_through_metadata() {
        let ctx = RequestContext::new_root()
            .with_tenant(TenantId::generate())
            .with_user(UserId::generate())
            .with_role(Role::Admin);
        let request = ctx.request(());
        let back = RequestContext::from_trusted_headers(&request.metadata().clone().into_headers()).unwrap();
        assert_eq!(back.role(), Some(Role::Admin));
        assert_eq!(back.tenant(), ctx.tenant());
        assert_eq!(back.user(), ctx.user());
        assert_eq!(back.request_id(), ctx.request_id());
        assert_eq!(back.trace().trace_id(), ctx.trace().trace_id());
    }
}
