//! The embedded index through the [`VectorStore`] trait: tenant isolation, filters and deletes, persistence across
//! reopen (and a crash-truncated log), validation, recall against an independent brute-force search, and the
//! offline embedder end to end.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use serde_json::{Map, Value, json};
use switchboard_vectors::{Distance, EmbeddedIndex, Filter, HashedEmbedder, Point, TenantId, VectorError, VectorStore};

fn point(id: &str, tenant: TenantId, vector: Vec<f32>, kind: &str) -> Point {
    let mut payload = Map::new();
    payload.insert("kind".into(), Value::String(kind.into()));
    Point { id: id.into(), tenant, vector, payload }
}

/// Deterministic pseudo-random vectors (xorshift), so the test needs no RNG crate.
fn vectors(n: usize, dim: usize, mut seed: u64) -> Vec<Vec<f32>> {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 11) as f64 / (1u64 << 53) as f64) as f32 * 2.0 - 1.0
    };
    (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect()
}

#[tokio::test]
async fn one_tenants_search_never_returns_anothers_points() {
    let index = EmbeddedIndex::in_memory();
    index.ensure_collection("docs", 3, Distance::Cosine).await.unwrap();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    index
        .upsert(
            "docs",
            vec![point("a1", a, vec![1.0, 0.0, 0.0], "invoice"), point("b1", b, vec![1.0, 0.0, 0.0], "invoice")],
        )
        .await
        .unwrap();
    let hits = index.search("docs", a, &[1.0, 0.0, 0.0], 10, &Filter::default()).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["a1"]);
    let none = index.search("docs", TenantId::generate(), &[1.0, 0.0, 0.0], 10, &Filter::default()).await.unwrap();
    assert!(none.is_empty());
    // Deleting for A leaves B's identical point alone.
    assert_eq!(index.delete("docs", a, &Filter::default()).await.unwrap(), 1);
    assert_eq!(index.search("docs", b, &[1.0, 0.0, 0.0], 10, &Filter::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn filters_select_by_payload() {
    let index = EmbeddedIndex::in_memory();
    index.ensure_collection("docs", 2, Distance::Dot).await.unwrap();
    let t = TenantId::generate();
    index
        .upsert("docs", vec![point("i", t, vec![1.0, 0.0], "invoice"), point("o", t, vec![0.9, 0.1], "order")])
        .await
        .unwrap();
    let orders = Filter { equals: vec![("kind".into(), json!("order"))] };
    let hits = index.search("docs", t, &[1.0, 0.0], 5, &orders).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, "o");
    assert_eq!(index.delete("docs", t, &orders).await.unwrap(), 1);
    assert_eq!(index.search("docs", t, &[1.0, 0.0], 5, &Filter::default()).await.unwrap()[0].id, "i");
}

#[tokio::test]
async fn the_index_survives_a_restart_and_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::generate();
    {
        let index = EmbeddedIndex::open(dir.path()).unwrap();
        index.ensure_collection("docs", 2, Distance::Euclid).await.unwrap();
        index
            .upsert("docs", vec![point("keep", t, vec![0.0, 1.0], "x"), point("drop", t, vec![1.0, 0.0], "y")])
            .await
            .unwrap();
        index.delete("docs", t, &Filter { equals: vec![("kind".into(), json!("y"))] }).await.unwrap();
    }
    // A crash mid-record leaves a partial record at the end of the log.
    let log = dir.path().join("docs.vlog");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[2, 1, 2, 3]);
    std::fs::write(&log, bytes).unwrap();

    let index = EmbeddedIndex::open(dir.path()).unwrap();
    let hits = index.search("docs", t, &[0.0, 1.0], 5, &Filter::default()).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["keep"]);
    assert_eq!(hits[0].payload["kind"], "x");
    assert!(matches!(index.ensure_collection("docs", 3, Distance::Euclid).await, Err(VectorError::Invalid(_))));
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason() {
    let index = EmbeddedIndex::in_memory();
    assert!(matches!(index.ensure_collection("../etc", 3, Distance::Cosine).await, Err(VectorError::Invalid(_))));
    assert!(matches!(index.ensure_collection("docs", 0, Distance::Cosine).await, Err(VectorError::Invalid(_))));
    index.ensure_collection("docs", 3, Distance::Cosine).await.unwrap();
    let t = TenantId::generate();
    for bad in [vec![1.0, 2.0], vec![f32::NAN, 0.0, 0.0]] {
        let err = index.upsert("docs", vec![point("p", t, bad, "x")]).await.unwrap_err();
        assert!(err.to_string().contains("3 finite numbers"), "{err}");
    }
    assert!(index.search("docs", t, &[1.0], 5, &Filter::default()).await.is_err());
    assert!(index.search("nope", t, &[1.0, 0.0, 0.0], 5, &Filter::default()).await.is_err());
}

#[tokio::test]
async fn recall_at_10_matches_an_independent_brute_force() {
    let dim = 384;
    let index = EmbeddedIndex::in_memory();
    index.ensure_collection("random", dim, Distance::Cosine).await.unwrap();
    let t = TenantId::generate();
    let data = vectors(10_000, dim, 42);
    let points = data.iter().enumerate().map(|(i, v)| point(&i.to_string(), t, v.clone(), "r")).collect();
    index.upsert("random", points).await.unwrap();
    let cosine = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
    };
    let mut found = 0;
    let queries = vectors(20, dim, 7);
    for q in &queries {
        let mut truth: Vec<(f32, usize)> = data.iter().enumerate().map(|(i, v)| (cosine(q, v), i)).collect();
        truth.sort_by(|a, b| b.0.total_cmp(&a.0));
        let expected: std::collections::HashSet<String> = truth[..10].iter().map(|(_, i)| i.to_string()).collect();
        let hits = index.search("random", t, q, 10, &Filter::default()).await.unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "closest first");
        found += hits.iter().filter(|h| expected.contains(&h.id)).count();
    }
    let recall = found as f64 / (queries.len() * 10) as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[tokio::test]
async fn embedded_search_over_embedded_text_finds_the_right_document() {
    let embedder = HashedEmbedder::new(384);
    let index = EmbeddedIndex::in_memory();
    index.ensure_collection("kb", embedder.dimension(), Distance::Cosine).await.unwrap();
    let t = TenantId::generate();
    let docs = [
        ("inv", "Invoice 2024-118 for Acme is 30 days overdue"),
        ("ref", "Refund policy: orders can be refunded within 14 days"),
        ("lead", "New HubSpot lead: Jane from Globex asked for a demo"),
    ];
    let points = docs.iter().map(|(id, text)| point(id, t, embedder.embed(text), "doc")).collect();
    index.upsert("kb", points).await.unwrap();
    let hits =
        index.search("kb", t, &embedder.embed("which invoices are overdue?"), 1, &Filter::default()).await.unwrap();
    assert_eq!(hits[0].id, "inv");
    let hits = index.search("kb", t, &embedder.embed("refund an order"), 1, &Filter::default()).await.unwrap();
    assert_eq!(hits[0].id, "ref");
}
