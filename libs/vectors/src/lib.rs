//! Vector search for retrieval: the [`VectorStore`] trait, the embedded [`EmbeddedIndex`] (the default), the
//! [`QdrantStore`] adapter for a shared Qdrant server, and the [`Embedder`] trait with the offline [`HashedEmbedder`]
//! (the local model behind the same trait lives in switchboard-embedding, which keeps candle out of this crate).
//!
//! Tenancy is part of the API, not a convention: every point carries a [`TenantId`], and `search` and `delete`
//! take one, so one tenant's vectors can never answer another's query (the embedded index even keeps each
//! tenant's points apart; the Qdrant adapter filters every request on an indexed `tenant_id` payload field).
//! Both implementations pass one conformance suite (`tests/it`; the Qdrant run needs `QDRANT_URL`).
//!
//! Not here: the OpenAI embeddings client (it comes with the orchestrator).

mod embedded;
mod embedder;
mod qdrant;

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};
pub use switchboard_types::TenantId;

pub use crate::embedded::EmbeddedIndex;
pub use crate::embedder::{Embedder, HashedEmbedder};
pub use crate::qdrant::QdrantStore;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The request does not fit the collection (unknown collection, wrong dimension, bad value).
    #[error("{0}")]
    Invalid(String),
    /// The index's files could not be read or written, or the vector server failed or holds data this crate did
    /// not write.
    #[error("vector index storage: {0}")]
    Storage(String),
    /// The vector server did not answer; retry later.
    #[error("vector server unavailable: {0}")]
    Unavailable(String),
    /// The embedding model failed to turn text into vectors.
    #[error("embedding: {0}")]
    Embedding(String),
}

/// Refuses collection names that are not 1-64 of `a-z`, `A-Z`, `0-9`, `_` and `-` (they name files and Qdrant
/// collections).
pub(crate) fn check_collection_name(name: &str) -> Result<(), VectorError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(VectorError::Invalid(format!("collection name {name:?}: use 1-64 of a-z, 0-9, _ and -")))
    }
}

/// Refuses a dimension outside 1-65536.
pub(crate) fn check_dimension(dimension: usize) -> Result<(), VectorError> {
    if dimension == 0 || dimension > 65_536 {
        return Err(VectorError::Invalid(format!("dimension {dimension} is out of range (1-65536)")));
    }
    Ok(())
}

/// How similarity is measured; higher scores are closer for all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    /// Cosine similarity.
    Cosine,
    /// Dot product.
    Dot,
    /// Negative Euclidean distance.
    Euclid,
}

/// A vector with its id, owner and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Unique within the collection (and tenant).
    pub id: String,
    /// The owner.
    pub tenant: TenantId,
    /// The vector.
    pub vector: Vec<f32>,
    /// Metadata returned with hits and usable in filters.
    pub payload: Map<String, Value>,
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The point's id.
    pub id: String,
    /// Similarity (higher is closer).
    pub score: f32,
    /// The point's payload.
    pub payload: Map<String, Value>,
}

/// Payload conditions, all of which must hold (`key == value`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Required payload values.
    pub equals: Vec<(String, Value)>,
}

impl Filter {
    /// Whether `payload` satisfies every condition.
    pub fn matches(&self, payload: &Map<String, Value>) -> bool {
        self.equals.iter().all(|(k, v)| payload.get(k) == Some(v))
    }
}

/// A boxed future (keeps [`VectorStore`] object-safe).
pub type VectorFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, VectorError>> + Send + 'a>>;

/// Collections of tenant-owned vectors.
pub trait VectorStore: Send + Sync + 'static {
    /// Creates `collection` if missing; an existing one must have the same dimension and distance.
    fn ensure_collection<'a>(
        &'a self,
        collection: &'a str,
        dimension: usize,
        distance: Distance,
    ) -> VectorFuture<'a, ()>;
    /// Inserts or replaces points.
    fn upsert<'a>(&'a self, collection: &'a str, points: Vec<Point>) -> VectorFuture<'a, ()>;
    /// The `k` points of `tenant` closest to `vector` that match `filter`, closest first.
    fn search<'a>(
        &'a self,
        collection: &'a str,
        tenant: TenantId,
        vector: &'a [f32],
        k: usize,
        filter: &'a Filter,
    ) -> VectorFuture<'a, Vec<Hit>>;
    /// Deletes `tenant`'s points matching `filter`; returns how many.
    fn delete<'a>(&'a self, collection: &'a str, tenant: TenantId, filter: &'a Filter) -> VectorFuture<'a, u64>;
    /// `embedded` or `qdrant`, for logs.
    fn name(&self) -> &'static str;
}
