//! What the sandbox was asked, for tests to assert on: requests per route, token refreshes per account, rate-limit
//! answers and when they were sent, and a bounded log of request instants (to check that a client waited out a
//! `Retry-After`). [`SandboxHandle::counts`](crate::SandboxHandle::counts) returns a [`Counts`] snapshot.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::Provider;

/// How many requests the log keeps; older ones fall off (the counters keep counting).
pub const REQUEST_LOG_LIMIT: usize = 10_000;

/// A snapshot of what the sandbox has served since it started.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Requests, by route key: provider, method and path below the provider's base, e.g. `stripe GET /v1/charges`,
    /// `shopify POST /admin/api/2026-10/graphql.json`, `stripe-connect POST /oauth/token`.
    pub requests: BTreeMap<String, u64>,
    /// Shopify GraphQL root fields served, by name (`orders`, `orderCancel`), throttled ones excluded.
    pub graphql_fields: BTreeMap<String, u64>,
    /// Token refreshes granted, by `"{provider} {account}"`: `shopify demo-shop.myshopify.com`,
    /// `quickbooks 9341453050`, `hubspot 62515`, `stripe acct_sandboxdemo0001`.
    pub refreshes: BTreeMap<String, u64>,
    /// HTTP 429 answers sent, per provider (injected faults and the Shopify REST bucket).
    pub throttled: BTreeMap<Provider, u64>,
    /// Shopify GraphQL answers with a `THROTTLED` error (HTTP 200, the bucket was short).
    pub graphql_throttled: u64,
    /// The last 429 sent to each provider's clients, with the `Retry-After` it carried.
    pub last_throttle: BTreeMap<Provider, Throttle>,
    /// The latest requests (at most [`REQUEST_LOG_LIMIT`]), oldest first.
    pub log: Vec<RequestRecord>,
}

/// One 429 answer.
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    /// When the request it answered arrived.
    pub at: Instant,
    /// The `Retry-After` it carried, if any.
    pub retry_after: Option<Duration>,
}

/// One request in the log.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: Instant,
    /// Which provider it was for.
    pub provider: Provider,
    /// Its route key (see [`Counts::requests`]).
    pub route: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The `Retry-After` answered, if any.
    pub retry_after: Option<Duration>,
}

impl Counts {
    /// Requests served on one route key (0 if none).
    pub fn requests_to(&self, route: &str) -> u64 {
        self.requests.get(route).copied().unwrap_or(0)
    }

    /// Requests served for one provider, all routes.
    pub fn requests_for(&self, provider: Provider) -> u64 {
        let prefix = format!("{} ", provider.as_str());
        let connect = provider == Provider::Stripe;
        self.requests
            .iter()
            .filter(|(route, _)| route.starts_with(&prefix) || (connect && route.starts_with("stripe-connect ")))
            .map(|(_, n)| n)
            .sum()
    }

    /// Token refreshes granted for one provider, all accounts.
    pub fn refreshes_for(&self, provider: Provider) -> u64 {
        let prefix = format!("{} ", provider.as_str());
        self.refreshes.iter().filter(|(key, _)| key.starts_with(&prefix)).map(|(_, n)| n).sum()
    }

    /// 429s sent for one provider.
    pub fn throttled_for(&self, provider: Provider) -> u64 {
        self.throttled.get(&provider).copied().unwrap_or(0)
    }

    /// Requests to `provider` that arrived before the `Retry-After` of the 429 preceding them had elapsed: empty when
    /// every client waited as told.
    pub fn early_retries(&self, provider: Provider) -> Vec<RequestRecord> {
        // The log is in completion order; concurrent requests can complete out of arrival order.
        let mut arrivals: Vec<&RequestRecord> = self.log.iter().filter(|r| r.provider == provider).collect();
        arrivals.sort_by_key(|r| r.at);
        let mut not_before: Option<Instant> = None;
        let mut early = Vec::new();
        for record in arrivals {
            if let Some(deadline) = not_before
                && record.at < deadline
            {
                early.push(record.clone());
            }
            if record.status == 429
                && let Some(wait) = record.retry_after
            {
                let deadline = record.at + wait;
                not_before = Some(not_before.map_or(deadline, |d| d.max(deadline)));
            }
        }
        early
    }
}

/// The live counters behind [`Counts`].
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    counts: Counts,
    log: VecDeque<RequestRecord>,
}

impl Recorder {
    pub(crate) fn request(&mut self, record: RequestRecord) {
        *self.counts.requests.entry(record.route.clone()).or_default() += 1;
        if record.status == 429 {
            *self.counts.throttled.entry(record.provider).or_default() += 1;
            self.counts
                .last_throttle
                .insert(record.provider, Throttle { at: record.at, retry_after: record.retry_after });
        }
        if self.log.len() == REQUEST_LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back(record);
    }

    pub(crate) fn refresh(&mut self, provider: Provider, account: &str) {
        *self.counts.refreshes.entry(format!("{} {account}", provider.as_str())).or_default() += 1;
    }

    pub(crate) fn graphql_field(&mut self, field: &str) {
        *self.counts.graphql_fields.entry(field.to_owned()).or_default() += 1;
    }

    pub(crate) fn graphql_throttled(&mut self) {
        self.counts.graphql_throttled += 1;
    }

    pub(crate) fn snapshot(&self) -> Counts {
        let mut counts = self.counts.clone();
        counts.log = self.log.iter().cloned().collect();
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: Instant, status: u16, retry_after: Option<Duration>) -> RequestRecord {
        RequestRecord { at, provider: Provider::Stripe, route: "stripe GET /v1/charges".into(), status, retry_after }
    }

    #[test]
    fn early_retries_finds_requests_inside_the_retry_after_window() {
        let t0 = Instant::now();
        let mut recorder = Recorder::default();
        recorder.request(record(t0, 429, Some(Duration::from_secs(2))));
        recorder.request(record(t0 + Duration::from_secs(1), 200, None));
        recorder.request(record(t0 + Duration::from_secs(3), 200, None));
        let counts = recorder.snapshot();
        assert_eq!(counts.early_retries(Provider::Stripe).len(), 1);
        assert_eq!(counts.throttled_for(Provider::Stripe), 1);
        assert_eq!(counts.requests_to("stripe GET /v1/charges"), 3);
        assert_eq!(counts.requests_for(Provider::Stripe), 3);
        assert!(counts.early_retries(Provider::Shopify).is_empty());
    }

    #[test]
    fn refreshes_are_counted_per_account_and_per_provider() {
        let mut recorder = Recorder::default();
        recorder.refresh(Provider::Shopify, "a.myshopify.com");
        recorder.refresh(Provider::Shopify, "b.myshopify.com");
        let counts = recorder.snapshot();
        assert_eq!(counts.refreshes_for(Provider::Shopify), 2);
        assert_eq!(counts.refreshes["shopify a.myshopify.com"], 1);
        assert_eq!(counts.refreshes_for(Provider::QuickBooks), 0);
    }
}
