//! Loading: the checks on the directory, the fallback, and use through the vectors crate's trait from tokio.

use std::path::Path;
use std::sync::Arc;

use switchboard_embedding::{Embedder, EmbeddingError, MODEL_SHA256, SentenceEmbedder, embedder_or_fallback};

use crate::support::{cosine, embed_one, model_dir};

fn copy_model(to: &Path) {
    for name in ["model.safetensors", "tokenizer.json", "config.json", "sentence_bert_config.json"] {
        std::fs::copy(model_dir().join(name), to.join(name)).expect("copy model file");
    }
    std::fs::create_dir_all(to.join("1_Pooling")).expect("mkdir");
    std::fs::copy(model_dir().join("1_Pooling/config.json"), to.join("1_Pooling/config.json")).expect("copy pooling");
}

#[test]
fn a_directory_without_the_model_is_refused_with_the_fix() {
    let empty = tempfile::tempdir().expect("tempdir");
    let error = SentenceEmbedder::load(empty.path()).expect_err("nothing to load");
    assert!(matches!(&error, EmbeddingError::MissingFile { path } if path.ends_with("model.safetensors")), "{error}");
    assert!(error.to_string().contains("fetch-embedding-model.sh"), "{error}");
}

#[test]
fn weights_other_than_the_pinned_ones_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_model(dir.path());
    let weights = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&weights).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).expect("write");
    match SentenceEmbedder::load(dir.path()) {
        Err(EmbeddingError::HashMismatch { expected, actual, .. }) => {
            assert_eq!(expected, MODEL_SHA256);
            assert_ne!(actual, MODEL_SHA256);
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
}

#[test]
fn a_pooling_mode_other_than_mean_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_model(dir.path());
    std::fs::write(
        dir.path().join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
    )
    .expect("write");
    let error = SentenceEmbedder::load(dir.path()).expect_err("cls pooling");
    assert!(matches!(error, EmbeddingError::Config { .. }), "{error}");
}

#[test]
fn the_fallback_is_the_hashed_embedder_only_when_the_model_is_absent() {
    let empty = tempfile::tempdir().expect("tempdir");
    let fallback = embedder_or_fallback(Some(empty.path()));
    assert_eq!((fallback.model(), fallback.dimension()), ("hashed-ngram", 384));
    assert_eq!(embedder_or_fallback(None).model(), "hashed-ngram");

    let model = embedder_or_fallback(Some(model_dir()));
    assert_eq!((model.model(), model.dimension()), ("all-MiniLM-L6-v2", 384));
    let vectors = model.embed_batch(&["refund the order"]).expect("embed");
    assert!(cosine(&vectors[0], &embed_one("refund the order")) > 0.99999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_model_serves_concurrent_callers_from_the_blocking_pool() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<SentenceEmbedder>();

    let model: Arc<dyn Embedder> = Arc::new(SentenceEmbedder::load(model_dir()).expect("load"));
    let texts = ["refund the order", "which invoices are overdue?", "sync my Shopify store", "cancel the subscription"];
    let tasks: Vec<_> = texts
        .iter()
        .map(|text| {
            let model = Arc::clone(&model);
            let text = text.to_string();
            tokio::task::spawn_blocking(move || model.embed_batch(&[&text]).expect("embed").remove(0))
        })
        .collect();
    for (task, text) in tasks.into_iter().zip(texts) {
        let vector = task.await.expect("task");
        assert!(cosine(&vector, &embed_one(text)) > 0.99999, "{text}");
    }
}
