//! Fixtures: a sandbox on `127.0.0.1:0` per test (stopped when the test's [`Env`] drops), an HTTP client that does
//! not follow redirects (OAuth tests read the `Location`), a webhook receiver, and `eventually`.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use switchboard_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use tokio_util::sync::{CancellationToken, DropGuard};

/// A running sandbox and a client for it.
pub struct Env {
    pub sandbox: SandboxHandle,
    pub http: reqwest::Client,
    _stop: DropGuard,
}

pub async fn start() -> Env {
    start_with(SandboxConfig::default()).await
}

pub async fn start_with(config: SandboxConfig) -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let shutdown = CancellationToken::new();
    let sandbox = Sandbox::start(listener, config, shutdown.clone()).await.expect("sandbox starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    Env { sandbox, http, _stop: shutdown.drop_guard() }
}

/// An answer: status, headers, JSON body (`Null` if not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

impl Env {
    /// `GET {stripe}{path}` with a key.
    pub async fn stripe_get(&self, key: &str, path: &str) -> Answer {
        let url = format!("{}{path}", self.sandbox.stripe_api_base());
        answer(self.http.get(url).bearer_auth(key).send().await.expect("request")).await
    }

    /// `POST {stripe}{path}` with a form body and extra headers.
    pub async fn stripe_post(&self, key: &str, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let url = format!("{}{path}", self.sandbox.stripe_api_base());
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request =
            self.http.post(url).bearer_auth(key).header("content-type", "application/x-www-form-urlencoded").body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.expect("request")).await
    }

    /// The base of `shop`.
    pub fn shop_base(&self, shop: &str) -> String {
        self.sandbox.shopify_base_template().replace("{shop}", shop)
    }

    /// A GraphQL Admin API call.
    pub async fn graphql(&self, shop: &str, token: &str, query: &str, variables: Value) -> Answer {
        let url = format!("{}/admin/api/2026-10/graphql.json", self.shop_base(shop));
        let body = serde_json::json!({"query": query, "variables": variables});
        answer(self.http.post(url).header("x-shopify-access-token", token).json(&body).send().await.expect("request"))
            .await
    }
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).expect("url").query_pairs().into_owned().collect()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Waits for `check` to hold, polling, for at most ten seconds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a webhook receiver got: headers and body of each post.
pub type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on `127.0.0.1:0` answering 200; returns its URL and what it receives.
pub async fn receiver(shutdown: &CancellationToken) -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().expect("lock").push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await.expect("receiver");
    });
    (url, received)
}
