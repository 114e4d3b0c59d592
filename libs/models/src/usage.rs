//! Token usage per call, handed to the caller so it can charge the tenant: the chain reports every attempt that
//! produced tokens (a stream cut mid-way included) to a [`UsageSink`]. This crate stores nothing.

use switchboard_types::TenantId;

use crate::chat::Usage;

/// Who a call is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The tenant whose request this is.
    pub tenant: TenantId,
}

/// One attempt's consumption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRecord {
    /// The tenant charged.
    pub tenant: TenantId,
    /// The configured provider's name.
    pub provider: String,
    /// The model called.
    pub model: String,
    /// Tokens in and out.
    pub usage: Usage,
    /// Whether the attempt produced a complete answer (a stream that failed mid-way still consumed tokens).
    pub completed: bool,
}

/// Where the chain reports usage (the orchestrator records it per tenant, e.g. against a monthly budget). Called
/// on the calling task, after the attempt: keep it quick and non-blocking.
pub trait UsageSink: Send + Sync {
    /// One attempt's usage.
    fn record(&self, record: UsageRecord);
}
