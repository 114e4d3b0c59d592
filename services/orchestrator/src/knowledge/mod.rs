//! The knowledge base: a tenant's documents, split into chunks ([`chunk`]), embedded with the configured
//! [`Embedder`] and indexed in the [`VectorStore`] under the tenant's id; questions retrieve the chunks closest to
//! them ([`Knowledge::search`]).
//!
//! The database is the source of truth: a document and its chunks' text are rows in the orchestrator's tables
//! (tenant-scoped), and the vector store only maps vectors to `(document, position)`. A search keeps only hits
//! whose chunk row it can read in the tenant's scope, so vectors left behind by a failed ingest or delete are
//! never quoted, and a hit can never come from another tenant's rows (the vector store filters on the tenant as
//! well: two walls).
//!
//! Vectors of different embedders are not comparable, so each embedder has its own collection
//! (`knowledge-<model>-<dimension>`). Documents indexed with another embedder than the current one are not
//! searched until they are ingested again.

pub(crate) mod chunk;

use std::sync::Arc;

use serde_json::{Map, Value, json};
use switchboard_store::Store;
use switchboard_types::TenantId;
use switchboard_vectors::{Distance, Embedder, Filter, Point, VectorError, VectorStore};
use tokio::sync::OnceCell;

use crate::error::OrchestratorError;
use crate::storage::{ChunkRow, DocumentRow, Repo};

pub(crate) use self::chunk::Chunk;

/// Texts embedded per call of the embedder (bounds the model's working memory).
const EMBED_BATCH: usize = 32;
/// Hits scoring below this are not relevant enough to quote (cosine similarity).
const MIN_SCORE: f32 = 0.1;

/// A retrieved chunk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Passage {
    pub(crate) document: DocumentRow,
    pub(crate) chunk: ChunkRow,
    pub(crate) score: f32,
}

impl Passage {
    /// `documents/{id}/chunks/{position}`: the chunk's name, as citations carry it.
    pub(crate) fn name(&self) -> String {
        format!("documents/{}/chunks/{}", self.document.id, self.chunk.position)
    }

    /// The passage as the `knowledge.search` tool outputs it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "chunk": self.name(),
            "document": format!("documents/{}", self.document.id),
            "title": self.document.title,
            "heading": self.chunk.heading,
            "text": self.chunk.text,
            "score": (f64::from(self.score) * 1000.0).round() / 1000.0,
        })
    }
}

/// The knowledge base over the orchestrator's store, a vector store and an embedder; cheap to share.
pub struct Knowledge {
    store: Store,
    vectors: Arc<dyn VectorStore>,
    embedder: Arc<dyn Embedder>,
    collection: String,
    /// Set once the collection is known to exist.
    ready: OnceCell<()>,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("vectors", &self.vectors.name())
            .field("embedder", &self.embedder.model())
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

/// The collection of `embedder`'s vectors: `knowledge-<model>-<dimension>`, within the 64 characters allowed.
fn collection_name(embedder: &dyn Embedder) -> String {
    let mut slug: String = embedder
        .model()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    slug.truncate(40);
    format!("knowledge-{slug}-{}", embedder.dimension())
}

impl Knowledge {
    pub(crate) fn new(store: Store, vectors: Arc<dyn VectorStore>, embedder: Arc<dyn Embedder>) -> Self {
        let collection = collection_name(embedder.as_ref());
        Self { store, vectors, embedder, collection, ready: OnceCell::new() }
    }

    /// Which embedder indexes the chunks.
    pub(crate) fn model(&self) -> &str {
        self.embedder.model()
    }

    async fn ensure_collection(&self) -> Result<(), OrchestratorError> {
        self.ready
            .get_or_try_init(|| async {
                self.vectors.ensure_collection(&self.collection, self.embedder.dimension(), Distance::Cosine).await
            })
            .await?;
        Ok(())
    }

    /// Embeds `texts` on the blocking pool (the model is CPU work).
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, OrchestratorError> {
        let embedder = self.embedder.clone();
        let vectors = tokio::task::spawn_blocking(move || {
            let mut vectors = Vec::with_capacity(texts.len());
            for batch in texts.chunks(EMBED_BATCH) {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                vectors.extend(embedder.embed_batch(&refs)?);
            }
            Ok::<_, VectorError>(vectors)
        })
        .await
        .map_err(|e| OrchestratorError::Internal(format!("embedding task: {e}")))??;
        Ok(vectors)
    }

    /// Embeds `chunks` of document `document` (titled `title`) and indexes them for `tenant` (replacing any earlier
    /// vectors of the same chunk positions).
    pub(crate) async fn index(
        &self,
        tenant: TenantId,
        document: &str,
        title: &str,
        chunks: &[Chunk],
    ) -> Result<(), OrchestratorError> {
        self.ensure_collection().await?;
        // The title and heading are embedded with the text: a chunk under "Returns" of the "Customer policy" is
        // about returning goods even if it never says so, and every chunk of a document shares its title, so what
        // tells them apart is their own text.
        let texts = chunks
            .iter()
            .map(|c| {
                if c.heading.is_empty() {
                    format!("{title}\n\n{}", c.text)
                } else {
                    format!("{title} > {}\n\n{}", c.heading, c.text)
                }
            })
            .collect();
        let vectors = self.embed(texts).await?;
        let points = vectors
            .into_iter()
            .enumerate()
            .map(|(position, vector)| {
                let mut payload = Map::new();
                payload.insert("document_id".into(), json!(document));
                payload.insert("position".into(), json!(position));
                Point { id: format!("{document}:{position}"), tenant, vector, payload }
            })
            .collect();
        self.vectors.upsert(&self.collection, points).await?;
        Ok(())
    }

    /// Removes document `document`'s vectors of `tenant`.
    pub(crate) async fn unindex(&self, tenant: TenantId, document: &str) -> Result<u64, OrchestratorError> {
        self.ensure_collection().await?;
        let filter = Filter { equals: vec![("document_id".into(), json!(document))] };
        Ok(self.vectors.delete(&self.collection, tenant, &filter).await?)
    }

    /// The (at most) `limit` chunks of `tenant`'s documents closest to `query`, closest first.
    pub(crate) async fn search(
        &self,
        tenant: TenantId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Passage>, OrchestratorError> {
        self.ensure_collection().await?;
        let vector = self.embed(vec![query.to_owned()]).await?.pop().unwrap_or_default();
        // A few more than asked: hits whose rows are gone are dropped below.
        let hits = self.vectors.search(&self.collection, tenant, &vector, limit + 4, &Filter::default()).await?;
        let wanted: Vec<(String, i32, f32)> = hits
            .into_iter()
            .filter(|hit| hit.score >= MIN_SCORE)
            .filter_map(|hit| {
                let document = hit.payload.get("document_id")?.as_str()?.to_owned();
                let position = i32::try_from(hit.payload.get("position")?.as_i64()?).ok()?;
                Some((document, position, hit.score))
            })
            .collect();
        let names: Vec<(String, i32)> = wanted.iter().map(|(d, p, _)| (d.clone(), *p)).collect();
        let scope = self.store.tenant(tenant).await?;
        let rows = Repo::new(&scope).chunks(&names).await?;
        scope.commit().await?;
        let mut passages: Vec<Passage> = wanted
            .into_iter()
            .filter_map(|(document, position, score)| {
                let (document, chunk) = rows.iter().find(|(d, c)| d.id == document && c.position == position)?.clone();
                Some(Passage { document, chunk, score })
            })
            .collect();
        passages.truncate(limit);
        Ok(passages)
    }
}

#[cfg(test)]
mod tests {
    use switchboard_vectors::HashedEmbedder;

    use super::*;

    #[test]
    fn each_embedder_has_its_own_valid_collection() {
        let name = collection_name(&HashedEmbedder::new(384));
        assert_eq!(name, "knowledge-hashed-ngram-384");
        assert!(name.len() <= 64);
        assert_ne!(name, collection_name(&HashedEmbedder::new(64)));
    }
}
