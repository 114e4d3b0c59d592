//! Fixtures: a model sandbox per test (stopped when its [`Env`] drops), provider configs pointing at it, a chain
//! policy with millisecond backoffs and cooldowns, and a usage sink that remembers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use switchboard_model_sandbox::{ANTHROPIC_KEY, Api, ModelSandbox, ModelSandboxHandle, OPENAI_KEY};
use switchboard_models::{
    ApiKey, BreakerPolicy, CallContext, ChainPolicy, ChatModel, ChatRequest, Message, ProviderConfig, RetryPolicy,
    Timeouts, ToolSpec, UsageRecord, UsageSink, connect,
};
use switchboard_types::TenantId;
use tokio_util::sync::{CancellationToken, DropGuard};

pub const APIS: [Api; 2] = [Api::OpenAi, Api::Anthropic];

pub struct Env {
    pub sandbox: ModelSandboxHandle,
    _stop: DropGuard,
}

pub async fn start() -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let shutdown = CancellationToken::new();
    let sandbox = ModelSandbox::start(listener, shutdown.clone()).await.expect("model sandbox starts");
    Env { sandbox, _stop: shutdown.drop_guard() }
}

pub fn timeouts() -> Timeouts {
    Timeouts { connect: Duration::from_secs(2), first_byte: Duration::from_millis(400), total: Duration::from_secs(5) }
}

impl Env {
    /// A provider of `api` on this sandbox, named after the API.
    pub fn config(&self, api: Api) -> ProviderConfig {
        let mut config = match api {
            Api::OpenAi => {
                let mut c = ProviderConfig::openai(ApiKey::new(OPENAI_KEY), "gpt-4o-mini");
                c.base_url = format!("{}/v1", self.sandbox.openai_base());
                c
            }
            Api::Anthropic => {
                let mut c = ProviderConfig::anthropic(ApiKey::new(ANTHROPIC_KEY), "claude-sonnet-4-5");
                c.base_url = self.sandbox.anthropic_base();
                c
            }
        };
        config.timeouts = timeouts();
        config
    }

    pub fn client(&self, api: Api) -> Arc<dyn ChatModel> {
        connect(self.config(api)).expect("client")
    }
}

/// Millisecond backoffs; a breaker that opens at the first failed call and cools down for `cooldown`.
pub fn policy(cooldown: Duration) -> ChainPolicy {
    ChainPolicy {
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_retry_after: Duration::from_secs(2),
        },
        breaker: BreakerPolicy { failure_threshold: 1, cooldown },
    }
}

pub fn call() -> CallContext {
    CallContext { tenant: TenantId::generate() }
}

pub fn orders_tool() -> ToolSpec {
    ToolSpec {
        name: "list_shopify_orders".into(),
        description: "List orders from the tenant's Shopify store".into(),
        parameters: json!({
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["open", "closed", "any"]},
                           "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
            "required": ["status"]
        }),
    }
}

pub fn charges_tool() -> ToolSpec {
    ToolSpec {
        name: "list_stripe_charges".into(),
        description: "List the tenant's Stripe charges".into(),
        parameters: json!({"type": "object", "properties": {"customer": {"type": "string"}}}),
    }
}

pub fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        system: Some("You are the ops assistant for tenant acme.".into()),
        messages: vec![Message::user(text)],
        tools: vec![orders_tool(), charges_tool()],
        ..ChatRequest::default()
    }
}

#[derive(Default)]
pub struct Recorded(pub Mutex<Vec<UsageRecord>>);

impl UsageSink for Recorded {
    fn record(&self, record: UsageRecord) {
        self.0.lock().expect("usage records").push(record);
    }
}

impl Recorded {
    pub fn all(&self) -> Vec<UsageRecord> {
        self.0.lock().expect("usage records").clone()
    }
}
