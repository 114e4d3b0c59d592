//! Reading request bodies at the edge. Every body a handler needs whole (a REST body, the one message of a unary or
//! server-streaming gRPC call) is read here, before it takes any scarcer resource (a transcoding slot, a password
//! check, a backend stream), against three limits:
//!
//! - **size**: the method's own limit from its access rule (a login needs a few KiB, not 4 MiB); a declared
//!   `content-length` over it is refused before a byte is read.
//! - **time**: the body gets [`GRACE`] plus one second per [`MIN_RATE`] bytes received; a client trickling a byte
//!   a second is cut off after the grace with 408 / DEADLINE_EXCEEDED, whatever it sends.
//! - **memory**: every body being read or held counts against one [`Budget`] of bytes for the whole edge; when it
//!   is spent, a new body waits briefly for room, then gets 503 / UNAVAILABLE. Bodies are reserved at their
//!   declared length (or the method's limit when undeclared), so the budget bounds what they can grow to. A
//!   body that is copied on its way to the backend is reserved once per copy ([`Copies`]): a REST body is held as
//!   read, as the message transcoded from it, and as that message's gRPC frame, all until the backend answers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::respond::EdgeError;

/// Time every body gets, whatever its size.
pub(crate) const GRACE: Duration = Duration::from_secs(10);
/// After the grace, the body must keep arriving at this many bytes per second on average.
pub(crate) const MIN_RATE: u64 = 64 * 1024;
/// Bytes of request bodies the edge holds at once, across all requests.
pub(crate) const BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// How long a body waits for room in the budget.
const BUDGET_WAIT: Duration = Duration::from_secs(1);

/// The edge's allowance of buffered request bytes.
#[derive(Clone, Debug)]
pub(crate) struct Budget(Arc<Semaphore>);

impl Budget {
    pub(crate) fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))))
    }

    /// Bytes free now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.0.available_permits()
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(BUDGET_BYTES)
    }
}

/// How many copies of a body the edge holds while its call is in flight: what its reservation is multiplied by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Copies(pub(crate) u32);

impl Copies {
    /// A gRPC message, forwarded as read.
    pub(crate) const FORWARDED: Self = Self(1);
    /// A REST body: the bytes, the transcoded message and its frame.
    pub(crate) const TRANSCODED: Self = Self(3);
}

/// A body read whole, holding its share of the budget until dropped.
#[derive(Debug)]
pub(crate) struct ReadBody {
    pub(crate) bytes: Bytes,
    _reserved: Option<OwnedSemaphorePermit>,
}

/// Reads `body` whole: at most `limit` bytes, within the time rule, with its size reserved in `budget`.
pub(crate) async fn read(
    body: Body,
    declared_len: Option<u64>,
    limit: usize,
    budget: &Budget,
    copies: Copies,
) -> Result<ReadBody, EdgeError> {
    if declared_len.is_some_and(|len| len > limit as u64) {
        return Err(EdgeError::BodyTooLarge { limit });
    }
    let reserve = declared_len.map_or(limit, |len| len as usize);
    let reserved = if reserve == 0 {
        None
    } else {
        let wanted = u32::try_from(reserve).unwrap_or(u32::MAX).saturating_mul(copies.0.max(1));
        match tokio::time::timeout(BUDGET_WAIT, budget.0.clone().acquire_many_owned(wanted)).await {
            Ok(Ok(permit)) => Some(permit),
            _ => return Err(EdgeError::Busy("the gateway is receiving too much at once: retry shortly")),
        }
    };
    let started = tokio::time::Instant::now();
    let mut body = body;
    let mut bytes = BytesMut::with_capacity(reserve.min(limit));
    loop {
        let allowed = GRACE + Duration::from_secs_f64(bytes.len() as f64 / MIN_RATE as f64);
        let frame = match tokio::time::timeout_at(started + allowed, body.frame()).await {
            Err(_) => return Err(EdgeError::BodyTooSlow),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "request body failed");
                return Err(EdgeError::BadRequest("the request body broke off".into()));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(EdgeError::BodyTooLarge { limit });
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(ReadBody { bytes: bytes.freeze(), _reserved: reserved })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    fn chunked(parts: Vec<&'static [u8]>) -> Body {
        let frames: Vec<Result<Bytes, std::convert::Infallible>> =
            parts.into_iter().map(|p| Ok(Bytes::from(p))).collect();
        Body::from_stream(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn limits_are_checked_before_and_while_reading() {
        let budget = Budget::new(1024);
        let read_all = read(chunked(vec![b"ab", b"cd"]), None, 10, &budget, Copies::FORWARDED).await.unwrap();
        assert_eq!(read_all.bytes, "abcd");
        assert_eq!(budget.available(), 1024 - 10, "an undeclared body reserves the method's limit");
        drop(read_all);
        assert_eq!(budget.available(), 1024);

        let err = read(Body::from("x"), Some(11), 10, &budget, Copies::FORWARDED).await.unwrap_err();
        assert!(matches!(err, EdgeError::BodyTooLarge { limit: 10 }), "refused on its declared length");
        let err = read(chunked(vec![b"123456", b"789012"]), None, 10, &budget, Copies::FORWARDED).await.unwrap_err();
        assert!(matches!(err, EdgeError::BodyTooLarge { .. }), "refused while growing past the limit");
    }

    #[tokio::test]
    async fn copies_multiply_the_reservation() {
        let budget = Budget::new(100);
        let held = read(Body::from("x".repeat(30)), Some(30), 100, &budget, Copies::TRANSCODED).await.unwrap();
        assert_eq!(budget.available(), 10, "a REST body is reserved for its three copies");
        let err = read(Body::from("y".repeat(4)), Some(4), 100, &budget, Copies::TRANSCODED).await.unwrap_err();
        assert!(matches!(err, EdgeError::Busy(_)), "{err:?}");
        drop(held);
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_instead_of_growing() {
        let budget = Budget::new(100);
        let held = read(Body::from("x".repeat(80)), Some(80), 100, &budget, Copies::FORWARDED).await.unwrap();
        let err = read(Body::from("y".repeat(50)), Some(50), 100, &budget, Copies::FORWARDED).await.unwrap_err();
        assert!(matches!(err, EdgeError::Busy(_)));
        drop(held);
        assert!(read(Body::from("y".repeat(50)), Some(50), 100, &budget, Copies::FORWARDED).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_is_cut_off_after_the_grace() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(1);
        let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        let sender = tokio::spawn(async move {
            // One byte a second, forever.
            while tx.send(Ok(Bytes::from_static(b"x"))).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let started = tokio::time::Instant::now();
        let err = read(body, None, 8192, &Budget::default(), Copies::FORWARDED).await.unwrap_err();
        assert!(matches!(err, EdgeError::BodyTooSlow));
        assert!(started.elapsed() < GRACE + Duration::from_secs(1));
        sender.abort();
    }
}
