//! One embedder for callers whatever is on disk: the local model when it loads, else the hashed n-gram embedder,
//! so a machine without the model still routes and retrieves (worse), and says so loudly in its logs.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use switchboard_vectors::{Embedder, HashedEmbedder};

use crate::{EmbeddingError, MODEL_DIR_ENV, SentenceEmbedder};

/// The fallback's vector length: the model's, so collection sizes do not change with what was loaded (the
/// embedder's [`Embedder::model`] still tells the two apart; their vectors must not be mixed).
const FALLBACK_DIMENSIONS: usize = 384;

/// Loads the model from `dir` (usually [`crate::default_model_dir`]); if there is none, or it does not load, logs
/// an error saying why and how to fix it and returns the hashed n-gram embedder instead. Takes about a second with
/// the model: call it once at startup, on the blocking pool.
pub fn embedder_or_fallback(dir: Option<&Path>) -> Arc<dyn Embedder> {
    let Some(dir) = dir else {
        tracing::error!(
            "no embedding model directory ({MODEL_DIR_ENV} and HOME are unset): using the hashed n-gram embedder, \
             which matches words rather than meaning; set {MODEL_DIR_ENV} and run scripts/fetch-embedding-model.sh"
        );
        return Arc::new(HashedEmbedder::new(FALLBACK_DIMENSIONS));
    };
    let started = Instant::now();
    match SentenceEmbedder::load(dir) {
        Ok(model) => {
            tracing::info!(
                dir = %dir.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                dimensions = model.dimensions(),
                "loaded the all-MiniLM-L6-v2 embedding model"
            );
            Arc::new(model)
        }
        Err(error) => {
            let why = match &error {
                EmbeddingError::MissingFile { .. } => "the embedding model is not installed",
                _ => "the embedding model failed to load",
            };
            tracing::error!(
                dir = %dir.display(),
                %error,
                "{why}: using the hashed n-gram embedder, which matches words rather than meaning (it cannot tell \
                 \"refund the order\" from \"how many orders were refunded\"); run scripts/fetch-embedding-model.sh"
            );
            Arc::new(HashedEmbedder::new(FALLBACK_DIMENSIONS))
        }
    }
}
