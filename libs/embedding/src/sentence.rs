//! The sentence embedder: word pieces → BERT → mean of the token vectors over the attention mask → unit length,
//! the pipeline sentence-transformers runs for all-MiniLM-L6-v2 (its `modules.json`: Transformer, Pooling,
//! Normalize).
//!
//! Texts are embedded in batches of [`BATCH_SIZE`], sorted by length first so a batch pads to about its own length
//! rather than to the longest text of the call; results come back in the caller's order. Padding is masked out of
//! both the attention and the mean, so a text's vector does not depend on its batch.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use switchboard_vectors::{Embedder, VectorError};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use crate::bert::Bert;
use crate::model_dir::ModelFiles;
use crate::{EmbeddingError, Result};

/// Texts per forward pass: large enough to keep the matrix kernels busy, small enough that a batch of 256-piece
/// texts stays near 100 MB of attention scores (batch × 12 heads × 256² floats).
const BATCH_SIZE: usize = 32;

/// all-MiniLM-L6-v2, loaded and ready. `Send + Sync`: share one behind an `Arc` and call [`SentenceEmbedder::embed`]
/// from `tokio::task::spawn_blocking`; concurrent calls are safe (the model is read-only) and each uses the CPU's
/// cores through candle's thread pool.
pub struct SentenceEmbedder {
    /// BERT with the checked weights.
    model: Bert,
    /// The model's tokenizer, set to truncate at `max_tokens` and not to pad (batches are padded here).
    tokenizer: Tokenizer,
    /// The token id that fills a batch's shorter texts (masked out).
    pad_id: u32,
    /// The vector length (the model's hidden size).
    dimensions: usize,
    /// Word pieces per text, [CLS] and [SEP] included, beyond which a text is truncated.
    max_tokens: usize,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("dimensions", &self.dimensions)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl SentenceEmbedder {
    /// Loads the model from `dir` (as `scripts/fetch-embedding-model.sh` leaves it), checking the weights' SHA-256.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let files = ModelFiles::read(dir.as_ref())?;
        let device = Device::Cpu;
        let vars = VarBuilder::from_buffered_safetensors(files.weights, DType::F32, &device)?;
        let model = Bert::load(vars, &files.config)?;

        let mut tokenizer =
            Tokenizer::from_bytes(&files.tokenizer).map_err(|e| EmbeddingError::Tokenizer(e.to_string()))?;
        // The shipped tokenizer.json pads every text to 128 and truncates there; the model was published with 256.
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: files.max_tokens, ..TruncationParams::default() }))
            .map_err(|e| EmbeddingError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let pad_id = u32::try_from(files.config.pad_token_id).map_err(|_| EmbeddingError::Config {
            path: dir.as_ref().join("config.json"),
            reason: format!("pad_token_id {} is not a token id", files.config.pad_token_id),
        })?;

        Ok(Self { model, tokenizer, pad_id, dimensions: files.config.hidden_size, max_tokens: files.max_tokens })
    }

    /// The vector length (384 for all-MiniLM-L6-v2).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Word pieces per text, special tokens included, beyond which a text is truncated (256).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// One unit-length vector per text, in order. Texts longer than [`SentenceEmbedder::max_tokens`] word pieces
    /// are embedded from their beginning. CPU-bound: run it on the blocking pool.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbeddingError::Tokenizer(e.to_string()))?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings.get(i).map_or(0, Encoding::len));

        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); encodings.len()];
        for chunk in order.chunks(BATCH_SIZE) {
            let batch: Vec<&Encoding> = chunk.iter().filter_map(|&i| encodings.get(i)).collect();
            for (&i, vector) in chunk.iter().zip(self.forward(&batch)?) {
                if let Some(slot) = vectors.get_mut(i) {
                    *slot = vector;
                }
            }
        }
        Ok(vectors)
    }

    /// Runs one padded batch through BERT and pools it.
    fn forward(&self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>> {
        let width = batch.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * width);
        let mut mask = Vec::with_capacity(batch.len() * width);
        for encoding in batch {
            let padding = width - encoding.len();
            ids.extend_from_slice(encoding.get_ids());
            ids.extend(std::iter::repeat_n(self.pad_id, padding));
            mask.extend_from_slice(encoding.get_attention_mask());
            mask.extend(std::iter::repeat_n(0u32, padding));
        }
        let device = Device::Cpu;
        let padded = mask.contains(&0);
        let ids = Tensor::from_vec(ids, (batch.len(), width), &device)?;
        let mask = Tensor::from_vec(mask, (batch.len(), width), &device)?;
        let hidden = self.model.forward(&ids, padded.then_some(&mask))?;

        // Mean over the real tokens only: padded positions are zeroed and not counted.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let sums = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let means = sums.broadcast_div(&counts)?;
        let norms = means.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        Ok(means.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

impl Embedder for SentenceEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, VectorError> {
        Ok(self.embed(texts)?)
    }

    fn dimension(&self) -> usize {
        self.dimensions
    }

    fn model(&self) -> &str {
        "all-MiniLM-L6-v2"
    }
}
