//! [`ModelSandboxHandle`]: the queues of scripted replies and the record of requests, shared by the handlers and
//! the test that drives them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::HeaderMap;
use serde_json::Value;

use crate::script::Reply;

/// Which fake API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// A request as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// Which API.
    pub api: Api,
    /// Its headers, names lower-cased (the keys are the sandbox's own fake keys).
    pub headers: BTreeMap<String, String>,
    /// Its JSON body (`Null` if it was not JSON).
    pub body: Value,
}

#[derive(Debug, Default)]
struct Queues {
    openai: VecDeque<Reply>,
    anthropic: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
}

impl Queues {
    fn queue(&mut self, api: Api) -> &mut VecDeque<Reply> {
        match api {
            Api::OpenAi => &mut self.openai,
            Api::Anthropic => &mut self.anthropic,
        }
    }
}

/// What handlers and handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    base_url: String,
    queues: Mutex<Queues>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A test that panicked mid-assertion leaves consistent queues behind.
        self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn record(&self, api: Api, headers: &HeaderMap, body: &Value) {
        let headers = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        self.lock().requests.push(RecordedRequest { api, headers, body: body.clone() });
    }

    /// Requests to `api` so far: distinct, deterministic request ids.
    pub(crate) fn request_count(&self, api: Api) -> usize {
        self.lock().requests.iter().filter(|r| r.api == api).count()
    }

    pub(crate) fn next_reply(&self, api: Api) -> Option<Reply> {
        self.lock().queue(api).pop_front()
    }
}

/// A running model sandbox. Cheap to clone; the server stops when the start's shutdown token is cancelled.
#[derive(Clone, Debug)]
pub struct ModelSandboxHandle {
    shared: Arc<Shared>,
}

impl ModelSandboxHandle {
    pub(crate) fn new(base_url: String) -> Self {
        Self { shared: Arc::new(Shared { base_url, queues: Mutex::default() }) }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The OpenAI base for a client (real: `https://api.openai.com`); `/v1/chat/completions` goes under it.
    pub fn openai_base(&self) -> String {
        format!("{}/openai", self.shared.base_url)
    }

    /// The Anthropic base for a client (real: `https://api.anthropic.com`); `/v1/messages` goes under it.
    pub fn anthropic_base(&self) -> String {
        format!("{}/anthropic", self.shared.base_url)
    }

    /// Queues `reply` for the next request to `api` that carries the right key.
    pub fn script(&self, api: Api, reply: Reply) {
        self.shared.lock().queue(api).push_back(reply);
    }

    /// Queues several replies in order.
    pub fn script_all(&self, api: Api, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().queue(api).extend(replies);
    }

    /// Scripted replies not used yet.
    pub fn pending(&self, api: Api) -> usize {
        self.shared.lock().queue(api).len()
    }

    /// Every request to `api` so far, in arrival order.
    pub fn requests(&self, api: Api) -> Vec<RecordedRequest> {
        self.shared.lock().requests.iter().filter(|r| r.api == api).cloned().collect()
    }
}
