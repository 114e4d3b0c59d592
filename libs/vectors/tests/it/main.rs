//! One conformance suite for every [`VectorStore`], run against the embedded index always and against Qdrant when
//! `QDRANT_URL` names a server (e.g. `http://127.0.0.1:6334`; each test then uses collections of its own and drops
//! them). The cases: tenant isolation (also for equal point ids), filters and deletes, what scores mean,
//! validation, and the offline embedder end to end. Embedded only: persistence across reopen (and a crash-truncated
//! log) and recall against an independent brute-force search. Qdrant only: connection and reserved-key errors.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use serde_json::{Map, Value, json};
use switchboard_vectors::{
    Distance, EmbeddedIndex, Filter, HashedEmbedder, Hit, Point, QdrantStore, TenantId, VectorError, VectorStore,
};

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

/// A store under test and the collection name its test owns (other collections it makes start with that name).
struct Subject {
    store: Box<dyn VectorStore>,
    collection: String,
    /// A plain client for dropping the test's collections afterwards (Qdrant only; the embedded index is in memory).
    admin: Option<qdrant_client::Qdrant>,
}

impl Subject {
    fn embedded() -> Option<Self> {
        Some(Self { store: Box::new(EmbeddedIndex::in_memory()), collection: "docs".into(), admin: None })
    }

    /// A fresh collection name on the server at `QDRANT_URL`; `None`, after saying so, when it is unset.
    async fn qdrant() -> Option<Self> {
        let Ok(url) = std::env::var("QDRANT_URL") else {
            let line = "SKIPPED: QDRANT_URL is not set; the Qdrant conformance run needs a Qdrant server";
            eprintln!("{line}");
            println!("{line}");
            return None;
        };
        let api_key = std::env::var("QDRANT_API_KEY").ok();
        let store = QdrantStore::connect(&url, api_key.as_deref(), Duration::from_secs(5)).await.unwrap();
        let admin = qdrant_client::Qdrant::from_url(&url).api_key(api_key).skip_compatibility_check().build().unwrap();
        let collection = format!("it-{}", uuid::Uuid::new_v4().simple());
        Some(Self { store: Box::new(store), collection, admin: Some(admin) })
    }

    /// Drops the test's collections (a test that panicked leaves its own behind).
    async fn finish(self) {
        let Some(admin) = self.admin else { return };
        let Ok(listed) = admin.list_collections().await else { return };
        for description in listed.collections.into_iter().filter(|c| c.name.starts_with(&self.collection)) {
            let _ = admin.delete_collection(description.name).await;
        }
    }
}

// === the conformance cases ===

async fn one_tenants_search_never_returns_anothers_points(store: &dyn VectorStore, docs: &str) {
    store.ensure_collection(docs, 3, Distance::Cosine).await.unwrap();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let same = vec![1.0, 0.0, 0.0];
    store.upsert(docs, vec![point("a1", a, same.clone(), "invoice"), point("b1", b, same, "invoice")]).await.unwrap();
    let hits = store.search(docs, a, &[1.0, 0.0, 0.0], 10, &Filter::default()).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["a1"]);
    assert_eq!(hits[0].payload, point("a1", a, vec![], "invoice").payload, "no reserved fields leak out");
    let none = store.search(docs, TenantId::generate(), &[1.0, 0.0, 0.0], 10, &Filter::default()).await.unwrap();
    assert!(none.is_empty());
    // Deleting for A leaves B's identical point alone.
    assert_eq!(store.delete(docs, a, &Filter::default()).await.unwrap(), 1);
    assert_eq!(store.search(docs, b, &[1.0, 0.0, 0.0], 10, &Filter::default()).await.unwrap().len(), 1);
}

async fn the_same_id_in_two_tenants_is_two_points(store: &dyn VectorStore, docs: &str) {
    store.ensure_collection(docs, 2, Distance::Dot).await.unwrap();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    store.upsert(docs, vec![point("p", a, vec![1.0, 0.0], "a's"), point("p", b, vec![1.0, 0.0], "b's")]).await.unwrap();
    let kind_of = |hits: Vec<Hit>| hits.into_iter().map(|h| h.payload["kind"].clone()).collect::<Vec<_>>();
    let hits = store.search(docs, a, &[1.0, 0.0], 10, &Filter::default()).await.unwrap();
    assert_eq!(kind_of(hits), vec![json!("a's")]);
    // Upserting the same id again replaces the point; B's stays as it was.
    store.upsert(docs, vec![point("p", a, vec![0.0, 1.0], "a's again")]).await.unwrap();
    let hits = store.search(docs, a, &[1.0, 0.0], 10, &Filter::default()).await.unwrap();
    assert_eq!(kind_of(hits), vec![json!("a's again")]);
    let hits = store.search(docs, b, &[1.0, 0.0], 10, &Filter::default()).await.unwrap();
    assert_eq!(kind_of(hits), vec![json!("b's")]);
}

async fn filters_select_by_payload(store: &dyn VectorStore, docs: &str) {
    store.ensure_collection(docs, 2, Distance::Dot).await.unwrap();
    let t = TenantId::generate();
    store
        .upsert(docs, vec![point("i", t, vec![1.0, 0.0], "invoice"), point("o", t, vec![0.9, 0.1], "order")])
        .await
        .unwrap();
    let orders = Filter { equals: vec![("kind".into(), json!("order"))] };
    let hits = store.search(docs, t, &[1.0, 0.0], 5, &orders).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, "o");
    assert_eq!(store.delete(docs, t, &orders).await.unwrap(), 1);
    assert_eq!(store.delete(docs, t, &orders).await.unwrap(), 0, "nothing left to delete");
    assert_eq!(store.search(docs, t, &[1.0, 0.0], 5, &Filter::default()).await.unwrap()[0].id, "i");
}

/// Higher is closer everywhere: cosine similarity, the dot product, and the negative Euclidean distance.
async fn scores_mean_the_same_in_every_store(store: &dyn VectorStore, docs: &str) {
    let t = TenantId::generate();
    let cases = [
        (Distance::Cosine, [1.0f32, 1.0], std::f32::consts::FRAC_1_SQRT_2),
        (Distance::Dot, [3.0, 4.0], 3.0),
        (Distance::Euclid, [3.0, 4.0], -(4.0f32 + 16.0).sqrt()),
    ];
    for (distance, far, expected) in cases {
        let collection = format!("{docs}-{distance:?}").to_lowercase();
        store.ensure_collection(&collection, 2, distance).await.unwrap();
        let points = vec![point("near", t, vec![1.0, 0.0], "x"), point("far", t, far.to_vec(), "x")];
        store.upsert(&collection, points).await.unwrap();
        let hits = store.search(&collection, t, &[1.0, 0.0], 5, &Filter::default()).await.unwrap();
        let scores: Vec<(&str, f32)> = hits.iter().map(|h| (h.id.as_str(), h.score)).collect();
        let (closest, other) = if distance == Distance::Dot { ("far", "near") } else { ("near", "far") };
        assert_eq!(scores.iter().map(|s| s.0).collect::<Vec<_>>(), vec![closest, other], "{distance:?}: {scores:?}");
        assert!(scores[0].1 >= scores[1].1, "{distance:?}: closest first, {scores:?}");
        assert!((scores.iter().find(|s| s.0 == "far").unwrap().1 - expected).abs() < 1e-4, "{distance:?}: {scores:?}");
    }
}

async fn bad_input_is_refused_with_a_reason(store: &dyn VectorStore, docs: &str) {
    assert!(matches!(store.ensure_collection("../etc", 3, Distance::Cosine).await, Err(VectorError::Invalid(_))));
    assert!(matches!(store.ensure_collection(docs, 0, Distance::Cosine).await, Err(VectorError::Invalid(_))));
    store.ensure_collection(docs, 3, Distance::Cosine).await.unwrap();
    store.ensure_collection(docs, 3, Distance::Cosine).await.unwrap();
    for (dimension, distance) in [(4, Distance::Cosine), (3, Distance::Dot)] {
        let err = store.ensure_collection(docs, dimension, distance).await.unwrap_err();
        assert!(matches!(err, VectorError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("exists with dimension 3 and Cosine"), "{err}");
    }
    let t = TenantId::generate();
    for bad in [vec![1.0, 2.0], vec![f32::NAN, 0.0, 0.0]] {
        let err = store.upsert(docs, vec![point("p", t, bad, "x")]).await.unwrap_err();
        assert!(err.to_string().contains("3 finite numbers"), "{err}");
    }
    let wrong_query = store.search(docs, t, &[1.0], 5, &Filter::default()).await;
    assert!(matches!(wrong_query, Err(VectorError::Invalid(_))), "{wrong_query:?}");
    let missing = format!("{docs}-missing");
    let unknown = store.search(&missing, t, &[1.0, 0.0, 0.0], 5, &Filter::default()).await;
    assert!(matches!(unknown, Err(VectorError::Invalid(_))), "{unknown:?}");
}

async fn search_over_embedded_text_finds_the_right_document(store: &dyn VectorStore, kb: &str) {
    let embedder = HashedEmbedder::new(384);
    store.ensure_collection(kb, embedder.dimension(), Distance::Cosine).await.unwrap();
    let t = TenantId::generate();
    let docs = [
        ("inv", "Invoice 2024-118 for Acme is 30 days overdue"),
        ("ref", "Refund policy: orders can be refunded within 14 days"),
        ("lead", "New HubSpot lead: Jane from Globex asked for a demo"),
    ];
    let points = docs.iter().map(|(id, text)| point(id, t, embedder.embed(text), "doc")).collect();
    store.upsert(kb, points).await.unwrap();
    let hits =
        store.search(kb, t, &embedder.embed("which invoices are overdue?"), 1, &Filter::default()).await.unwrap();
    assert_eq!(hits[0].id, "inv");
    let hits = store.search(kb, t, &embedder.embed("refund an order"), 1, &Filter::default()).await.unwrap();
    assert_eq!(hits[0].id, "ref");
}

async fn embedded(case: impl AsyncFnOnce(&dyn VectorStore, &str)) {
    let Some(subject) = Subject::embedded() else { return };
    case(&*subject.store, &subject.collection).await;
    subject.finish().await;
}

/// The Qdrant run: ignored, with its reason in the test output, unless `QDRANT_URL` was set when the tests were
/// built.
async fn qdrant(case: impl AsyncFnOnce(&dyn VectorStore, &str)) {
    let Some(subject) = Subject::qdrant().await else { return };
    case(&*subject.store, &subject.collection).await;
    subject.finish().await;
}

switchboard_test_support::conformance! {
    cases: [
        one_tenants_search_never_returns_anothers_points,
        the_same_id_in_two_tenants_is_two_points,
        filters_select_by_payload,
        scores_mean_the_same_in_every_store,
        bad_input_is_refused_with_a_reason,
        search_over_embedded_text_finds_the_right_document,
    ],
    backends: {
        embedded => embedded,
        #[cfg_attr(not(qdrant), ignore = "skipped: QDRANT_URL is not set (the Qdrant run needs a Qdrant server)")]
        qdrant => qdrant,
    },
}

// === embedded only ===

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

// === Qdrant only ===

#[tokio::test]
async fn unreachable_qdrant_is_a_clear_error() {
    let started = std::time::Instant::now();
    let err = QdrantStore::connect("http://127.0.0.1:1", None, Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, VectorError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("http://127.0.0.1:1"), "the message names the server: {err}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // TLS, with a key: a server that does not answer is the same clear error.
    let err = QdrantStore::connect("https://127.0.0.1:1", Some("key"), Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, VectorError::Unavailable(_)), "{err}");
    assert!(!err.to_string().contains("key\""), "the key is not in the message: {err}");
    let err = QdrantStore::connect("ftp://qdrant.example:6334", None, Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, VectorError::Invalid(_)), "only http:// and https:// are accepted: {err}");
}

#[tokio::test]
#[cfg_attr(not(qdrant), ignore = "skipped: QDRANT_URL is not set (the Qdrant run needs a Qdrant server)")]
async fn qdrant_refuses_the_reserved_payload_keys() {
    let Some(subject) = Subject::qdrant().await else { return };
    let (store, docs) = (&*subject.store, subject.collection.as_str());
    store.ensure_collection(docs, 2, Distance::Dot).await.unwrap();
    let t = TenantId::generate();
    for key in ["tenant_id", "_point_id"] {
        let mut forged = point("p", t, vec![1.0, 0.0], "x");
        forged.payload.insert(key.into(), json!(TenantId::generate().to_string()));
        let err = store.upsert(docs, vec![forged]).await.unwrap_err();
        assert!(matches!(err, VectorError::Invalid(_)) && err.to_string().contains("reserved"), "{key}: {err}");
        let filter = Filter { equals: vec![(key.into(), json!("x"))] };
        assert!(matches!(store.search(docs, t, &[1.0, 0.0], 5, &filter).await, Err(VectorError::Invalid(_))), "{key}");
    }
    subject.finish().await;
}
