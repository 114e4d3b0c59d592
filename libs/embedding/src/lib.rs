//! The local sentence-embedding model: all-MiniLM-L6-v2 (384 dimensions) run in process, with no network at run
//! time, for the orchestrator's intent router and for retrieval.
//!
//! - `model_dir` finds the model's files and checks them: the weights must have the pinned SHA-256
//!   ([`MODEL_SHA256`]), so the vectors this crate produces are the ones its tests were checked against.
//! - `bert` is the encoder: BERT on candle's CPU backend and candle-nn's layers.
//! - `sentence` is the model around it: the `tokenizers` crate for word pieces (truncated at the model's 256), the
//!   encoder, then mean pooling over the attention mask and L2 normalisation, as sentence-transformers does.
//! - `fallback` gives callers one `Arc<dyn Embedder>`: the model when it loads, otherwise the hashed n-gram embedder
//!   of switchboard-vectors, with an error in the logs saying how to fetch the model.
//!
//! The model is not downloaded here: `scripts/fetch-embedding-model.sh` puts it in the cache directory once (this
//! crate's tests run it when the model is absent). This crate does not store vectors either; that is switchboard-vectors' job, whose
//! [`Embedder`] trait the model implements.

mod bert;
mod fallback;
mod model_dir;
mod sentence;

use std::path::PathBuf;

pub use switchboard_vectors::Embedder;

pub use crate::fallback::embedder_or_fallback;
pub use crate::model_dir::{MODEL_SHA256, default_model_dir};
pub use crate::sentence::SentenceEmbedder;

/// The environment variable naming the model directory; without it, `~/.cache/switchboard/models/all-minilm-l6-v2`.
pub const MODEL_DIR_ENV: &str = "SWITCHBOARD_EMBEDDING_MODEL_DIR";

/// What can go wrong loading or running the model.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddingError {
    /// A file the model needs is not in the directory.
    #[error("{path} is missing: run scripts/fetch-embedding-model.sh (or set {MODEL_DIR_ENV} to the model directory)")]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
    },
    /// A model file exists but could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The weights are not the pinned all-MiniLM-L6-v2 ones (a partial download, or another model).
    #[error(
        "{path} has SHA-256 {actual}, expected {expected}: delete the directory and run scripts/fetch-embedding-model.sh"
    )]
    HashMismatch {
        /// The weights file.
        path: PathBuf,
        /// The pinned digest.
        expected: &'static str,
        /// The file's digest.
        actual: String,
    },
    /// A configuration file is malformed or asks for something this crate does not do.
    #[error("{path}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The tokenizer could not be loaded or configured, or failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed (weights of the wrong shape, or a failure while running the model).
    #[error("model: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl From<EmbeddingError> for switchboard_vectors::VectorError {
    fn from(error: EmbeddingError) -> Self {
        Self::Embedding(error.to_string())
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = EmbeddingError> = std::result::Result<T, E>;
