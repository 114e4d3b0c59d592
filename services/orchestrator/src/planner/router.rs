//! The intent router: which kind of request a question is (`data`, `action`, `knowledge`, `help`, `unsupported`),
//! by embedding similarity to labelled example utterances.
//!
//! The examples are the tuning part of the crate's labelled set (`eval/intents.jsonl`, rows with `"split":
//! "tune"`); the test part is never learnt from, so `make eval` measures the router on requests it has not seen.
//! They are embedded once, in batches, when the router is built (and kept on disk for the next process:
//! [`example_cache`]); each question is then one embedding and a scan.
//!
//! How a question is scored and decided ([`Calibration`], chosen by cross-validation on the tuning part, `make
//! eval-calibrate`): every intent, `unsupported` included (weather, jokes, code, other software), has examples; by
//! default the intents' scores come from kernel ridge regression over all examples ([`Scoring::Ridge`]: a weighted
//! sum of the question's similarities to them, in meaning and in words), which beat the nearest example and the
//! intents' centroids. The best intent wins when its score clears the threshold; below it the question is
//! `unsupported`, unless a [`Fallback`] (a real model provider) is configured, which is then asked. The runner-up
//! is reported too, so a decision can be judged from outside (the `Route` RPC).
//!
//! The embedder is any [`Embedder`]: all-MiniLM-L6-v2 from switchboard-embedding normally, the hashed n-gram
//! embedder when the model is absent. Their similarities are not comparable, so each has its own calibration.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use serde::Deserialize;
use switchboard_types::TenantId;
use switchboard_vectors::{Embedder, HashedEmbedder, VectorError};

use super::{PlannerError, example_cache};

/// What a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intent {
    /// Read the tenant's synced data.
    Data,
    /// Change something through a connector.
    Action,
    /// Answer from the tenant's documents.
    Knowledge,
    /// How to use the product.
    Help,
    /// Anything else.
    Unsupported,
}

impl Intent {
    /// Every intent.
    pub const ALL: [Intent; 5] = [Intent::Data, Intent::Action, Intent::Knowledge, Intent::Help, Intent::Unsupported];

    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Data => "data",
            Intent::Action => "action",
            Intent::Knowledge => "knowledge",
            Intent::Help => "help",
            Intent::Unsupported => "unsupported",
        }
    }

    /// The intent named `name` (as [`Intent::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == name)
    }
}

/// A routing decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Routed {
    /// The chosen intent.
    pub intent: Intent,
    /// Its score, 0 to 1 (see [`Scoring`]), or for a question below the threshold, 1 minus the best one.
    pub confidence: f32,
    /// The next best intent (for a question below the threshold, the best one other than `unsupported`).
    pub runner_up: Intent,
    /// Its score.
    pub runner_up_confidence: f32,
    /// Whether a [`Fallback`] (a model provider) chose the intent, the embeddings being below the threshold.
    pub by_model: bool,
}

/// Every intent's similarity to a question, best first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Every intent with its score, best first.
    pub ranked: [(Intent, f32); 5],
    /// The question's meaning's cosine similarity to the nearest example of an intent other than `unsupported`.
    pub nearest_in_scope: f32,
}

impl Scores {
    /// The best intent and its score.
    pub fn best(&self) -> (Intent, f32) {
        self.ranked[0]
    }

    /// The second best intent and its score.
    pub fn second(&self) -> (Intent, f32) {
        self.ranked[1]
    }

    /// The score of `intent`.
    pub fn of(&self, intent: Intent) -> f32 {
        self.ranked.iter().find(|(i, _)| *i == intent).map_or(0.0, |(_, s)| *s)
    }

    /// The decision under `calibration`, and whether the best intent cleared it (when not, the decision is
    /// `unsupported` and a [`Fallback`] may be asked instead).
    pub fn decide(&self, calibration: &Calibration) -> (Routed, bool) {
        let (best, best_score) = self.best();
        let (second, second_score) = self.second();
        let out_of_scope = self.nearest_in_scope < calibration.gate
            || best_score < calibration.threshold
            || best_score - second_score < calibration.margin;
        if out_of_scope {
            // The runner-up is the intent it came closest to being: the best one other than `unsupported`.
            let (near, near_score) =
                self.ranked.iter().copied().find(|(i, _)| *i != Intent::Unsupported).unwrap_or((Intent::Data, 0.0));
            let routed = Routed {
                intent: Intent::Unsupported,
                confidence: (1.0 - best_score).clamp(0.0, 1.0),
                runner_up: near,
                runner_up_confidence: near_score.clamp(0.0, 1.0),
                by_model: false,
            };
            return (routed, false);
        }
        let routed = Routed {
            intent: best,
            confidence: best_score.clamp(0.0, 1.0),
            runner_up: second,
            runner_up_confidence: second_score.clamp(0.0, 1.0),
            by_model: false,
        };
        (routed, true)
    }

    /// The decision with `intent` chosen (by a [`Fallback`]), the best other intent as the runner-up.
    fn chosen(&self, intent: Intent) -> Routed {
        let (runner_up, runner_up_confidence) =
            self.ranked.iter().copied().find(|(i, _)| *i != intent).unwrap_or((Intent::Unsupported, 0.0));
        Routed { intent, confidence: self.of(intent), runner_up, runner_up_confidence, by_model: true }
    }
}

/// How an intent's score is computed from its examples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scoring {
    /// The mean similarity of the intent's `k` nearest examples (1: the nearest one).
    Nearest(usize),
    /// The similarity to the normalised mean of the intent's examples.
    Centroid,
    /// Kernel ridge regression over the examples: an intent scores `Σ αᵢ·k(q, xᵢ)` over every example `xᵢ`, with
    /// `k(q, x) = exp(gamma·(q·x − 1)) + words·(q'·x')` (the embeddings' similarity, 1 for the same direction, plus
    /// that of the hashed word n-grams `q'`, `x'`), and the weights `α` fitted when the router is built so that each
    /// example scores about 1 for its own intent and 0 for the others (`lambda` keeps them small). Unlike nearest examples it learns which similarities matter: "refund the order" and "how many
    /// orders were refunded" share words, but the action examples pull one way and the data examples the other.
    Ridge {
        /// Sharpness of the similarity kernel (near 0: plain cosine similarity).
        gamma: f32,
        /// Regularisation.
        lambda: f32,
        /// Weight of the word n-grams' similarity (0: meaning only).
        words: f32,
    },
}

/// The router's knobs, measured for one embedder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// How intents are scored.
    pub scoring: Scoring,
    /// Below this best score, the question is `unsupported` (or goes to the fallback).
    pub threshold: f32,
    /// Below this lead of the best intent over the runner-up, likewise.
    pub margin: f32,
    /// Below this similarity of the question's meaning to the nearest example of an intent other than
    /// `unsupported`, likewise, whatever the scores: nothing the assistant does is like it.
    pub gate: f32,
}

impl Calibration {
    /// all-MiniLM-L6-v2's, chosen by cross-validation on the tuning part (`make eval-calibrate`) when it held 362
    /// requests: 10-fold, 90.9% accuracy, 90.0% out-of-scope recall (nearest example 70.4%, centroids 83.4%, ridge
    /// without the words 89.5%). Kept as the tuning part grew to 1,162 requests: on the test part `make eval` gives
    /// 96.3% accuracy and 95.0% out-of-scope recall.
    pub const MODEL: Calibration = Calibration {
        scoring: Scoring::Ridge { gamma: 2.0, lambda: 0.3, words: 0.5 },
        threshold: 0.36,
        margin: 0.02,
        gate: 0.30,
    };

    /// The hashed n-gram embedder's: it matches words, so only a near copy of an example is trusted.
    pub const HASHED: Calibration =
        Calibration { scoring: Scoring::Nearest(1), threshold: 0.25, margin: 0.0, gate: 0.0 };

    /// The calibration for vectors of `model` ([`Embedder::model`]); the hashed one for any model not measured.
    pub fn for_model(model: &str) -> Self {
        if model == MODEL_NAME { Self::MODEL } else { Self::HASHED }
    }
}

/// [`Embedder::model`] of the sentence-embedding model [`Calibration::MODEL`] was measured with.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// A labelled request of `eval/intents.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labelled {
    /// The request, as a person typed it.
    pub text: String,
    /// Its intent's name.
    pub intent: String,
    /// `tune` (router examples and calibration) or `test` (measurement only).
    pub split: String,
}

/// The labelled set shipped with the crate.
const LABELLED: &str = include_str!("../../eval/intents.jsonl");

/// Every row of the labelled set, checked: known intents and splits, no empty text.
pub fn labelled_set() -> Result<Vec<(Labelled, Intent)>, RouterError> {
    let mut rows = Vec::new();
    for (n, line) in LABELLED.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: String| RouterError::Examples(format!("eval/intents.jsonl line {}: {why}", n + 1));
        let row: Labelled = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let intent = Intent::parse(&row.intent).ok_or_else(|| bad(format!("unknown intent {:?}", row.intent)))?;
        if row.split != "tune" && row.split != "test" {
            return Err(bad(format!("split {:?}: expected tune or test", row.split)));
        }
        if row.text.trim().is_empty() {
            return Err(bad("empty text".into()));
        }
        rows.push((row, intent));
    }
    Ok(rows)
}

/// The router's examples: the tuning part of the labelled set.
pub fn tuning_examples() -> Result<Vec<(Intent, String)>, RouterError> {
    Ok(labelled_set()?.into_iter().filter(|(row, _)| row.split == "tune").map(|(row, i)| (i, row.text)).collect())
}

/// Why the router could not be built or could not route.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The shipped examples are malformed (a build defect).
    #[error("router examples: {0}")]
    Examples(String),
    /// The embedder failed.
    #[error("embedding: {0}")]
    Embedding(#[from] VectorError),
    /// The blocking task embedding a question did not finish (the runtime is shutting down).
    #[error("embedding task: {0}")]
    Task(String),
}

/// A boxed fallback future (keeps [`Fallback`] object-safe).
pub type FallbackFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Intent>, PlannerError>> + Send + 'a>>;

/// Decides questions the embeddings could not place (best similarity below the calibrated threshold) by asking a
/// real model provider (the model planner's chain). There is none with the offline provider: such questions are
/// then `unsupported`, and the offline planner answers with what the assistant can do.
pub trait Fallback: Send + Sync + 'static {
    /// The intent of `question` (asked by `tenant`, who is charged for the model call), given its similarity
    /// `scores`; `None` (or an error, which is logged) keeps it `unsupported`.
    fn classify<'a>(&'a self, tenant: TenantId, question: &'a str, scores: &'a Scores) -> FallbackFuture<'a>;
}

/// Texts embedded per model call (bounds the padded batch's memory).
const BATCH: usize = 32;

/// Length of the word vectors ([`Embedded::words`]).
const WORD_DIMENSIONS: usize = 512;

/// A text as the router compares it: its embedding, and the hashed n-grams of its words.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// The embedder's vector: what the text means.
    meaning: Vec<f32>,
    /// The hashed n-gram vector: which words it uses ("how do I", "our policy", "refund"), which tell intents
    /// apart where meanings are close.
    words: Vec<f32>,
}

/// The router. Cloning copies its example vectors (a few MiB), not the model.
#[derive(Clone)]
pub struct Router {
    embedder: Arc<dyn Embedder>,
    /// Each intent's example vectors (for [`Scoring::Centroid`], one: their normalised mean).
    examples: Vec<(Intent, Vec<Embedded>)>,
    /// For [`Scoring::Ridge`]: every example, and its weight towards each intent (as in [`Intent::ALL`]).
    ridge: Vec<(Embedded, [f32; 5])>,
    calibration: Calibration,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("model", &self.embedder.model())
            .field("examples", &self.examples.iter().map(|(_, v)| v.len()).sum::<usize>())
            .field("calibration", &self.calibration)
            .finish()
    }
}

impl Router {
    /// A router over the tuning examples, embedded with `embedder` (CPU work, about a second with the model: call
    /// it on the blocking pool) or read from the cache of an earlier process ([`example_cache`]), calibrated for
    /// the embedder's model.
    pub fn new(embedder: Arc<dyn Embedder>) -> Result<Self, RouterError> {
        let calibration = Calibration::for_model(embedder.model());
        // The hashed embedder costs less than reading a file.
        let cache =
            if embedder.model() == HashedEmbedder::new(1).model() { None } else { example_cache::default_cache_dir() };
        Self::with_cached_examples(embedder, tuning_examples()?, calibration, cache.as_deref())
    }

    /// A router over `examples`, embedded with `embedder`, deciding with `calibration`.
    pub fn with_examples(
        embedder: Arc<dyn Embedder>,
        examples: Vec<(Intent, String)>,
        calibration: Calibration,
    ) -> Result<Self, RouterError> {
        Self::with_cached_examples(embedder, examples, calibration, None)
    }

    /// [`Router::with_examples`], the examples' vectors going through the cache in `cache_dir`
    /// ([`example_cache`]) when there is one.
    pub fn with_cached_examples(
        embedder: Arc<dyn Embedder>,
        examples: Vec<(Intent, String)>,
        calibration: Calibration,
        cache_dir: Option<&Path>,
    ) -> Result<Self, RouterError> {
        let texts: Vec<&str> = examples.iter().map(|(_, t)| t.as_str()).collect();
        let meanings = example_cache::meanings(embedder.as_ref(), &texts, cache_dir, || {
            Self::embed_meanings(embedder.as_ref(), &texts)
        })?;
        if meanings.len() != texts.len() {
            let why = format!("{} vectors for {} examples", meanings.len(), texts.len());
            return Err(RouterError::Embedding(VectorError::Embedding(why)));
        }
        let words = HashedEmbedder::new(WORD_DIMENSIONS);
        let vectors = examples
            .iter()
            .zip(meanings)
            .map(|((intent, text), meaning)| (*intent, Embedded { meaning, words: words.embed(text) }))
            .collect();
        Ok(Self::with_embedded(embedder, vectors, calibration))
    }

    /// A router over examples already embedded with `embedder` (the eval's cross-validation embeds once).
    pub fn with_embedded(
        embedder: Arc<dyn Embedder>,
        embedded: Vec<(Intent, Embedded)>,
        calibration: Calibration,
    ) -> Self {
        let mut examples: Vec<(Intent, Vec<Embedded>)> = Intent::ALL.iter().map(|i| (*i, Vec::new())).collect();
        for (intent, example) in embedded {
            if let Some((_, list)) = examples.iter_mut().find(|(i, _)| *i == intent) {
                list.push(example);
            }
        }
        let mut ridge = Vec::new();
        match calibration.scoring {
            Scoring::Centroid => {
                for (_, list) in &mut examples {
                    let meanings: Vec<Vec<f32>> = list.iter().map(|e| e.meaning.clone()).collect();
                    let words: Vec<Vec<f32>> = list.iter().map(|e| e.words.clone()).collect();
                    if let (Some(meaning), Some(words)) = (centroid(&meanings), centroid(&words)) {
                        *list = vec![Embedded { meaning, words }];
                    }
                }
            }
            Scoring::Ridge { gamma, lambda, words } => ridge = fit_ridge(&examples, gamma, lambda, words),
            Scoring::Nearest(_) => {}
        }
        Self { embedder, examples, ridge, calibration }
    }

    /// The offline router: the hashed n-gram embedder and its calibration.
    pub fn hashed() -> Result<Self, RouterError> {
        Self::new(Arc::new(HashedEmbedder::new(384)))
    }

    /// [`Embedder::model`] of its embedder.
    pub fn model(&self) -> &str {
        self.embedder.model()
    }

    /// Its calibration.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// `texts` as the router compares them, in order, embedded with `embedder` in batches (CPU work: off the async
    /// runtime, see [`Router::route`]).
    pub fn embed_with(embedder: &dyn Embedder, texts: &[&str]) -> Result<Vec<Embedded>, RouterError> {
        let words = HashedEmbedder::new(WORD_DIMENSIONS);
        let meanings = Self::embed_meanings(embedder, texts)?;
        Ok(meanings
            .into_iter()
            .zip(texts)
            .map(|(meaning, text)| Embedded { meaning, words: words.embed(text) })
            .collect())
    }

    /// The embedder's vectors of `texts`, in order, in batches of [`BATCH`].
    fn embed_meanings(embedder: &dyn Embedder, texts: &[&str]) -> Result<Vec<Vec<f32>>, RouterError> {
        let mut meanings = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let batch = embedder.embed_batch(chunk)?;
            if batch.len() != chunk.len() {
                let why = format!("{} vectors for {} texts", batch.len(), chunk.len());
                return Err(RouterError::Embedding(VectorError::Embedding(why)));
            }
            meanings.extend(batch);
        }
        Ok(meanings)
    }

    /// `texts` as the router compares them, embedded with its embedder.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Embedded>, RouterError> {
        Self::embed_with(self.embedder.as_ref(), texts)
    }

    /// Every intent's score for an embedded question.
    pub fn score(&self, query: &Embedded) -> Scores {
        let meaning = Probe::new(&query.meaning);
        // Each example's similarity to the question, by intent (as in `self.examples`).
        let similarities: Vec<Vec<f32>> = self
            .examples
            .iter()
            .map(|(_, examples)| examples.iter().map(|e| meaning.dot(&e.meaning)).collect())
            .collect();
        let nearest_in_scope = self
            .examples
            .iter()
            .zip(&similarities)
            .filter(|((intent, _), _)| *intent != Intent::Unsupported)
            .flat_map(|(_, s)| s.iter().copied())
            .fold(0.0f32, f32::max);
        let k = match self.calibration.scoring {
            Scoring::Nearest(k) => k.max(1),
            Scoring::Centroid => 1,
            Scoring::Ridge { gamma, words, .. } => {
                let ranked = self.score_ridge(&meaning, &Probe::new(&query.words), gamma, words);
                return Scores { ranked, nearest_in_scope };
            }
        };
        let mut scores = Intent::ALL.map(|i| (i, 0.0f32));
        for ((slot, (intent, _)), mut similarities) in scores.iter_mut().zip(&self.examples).zip(similarities) {
            let score = if similarities.is_empty() {
                0.0
            } else if k == 1 {
                similarities.iter().copied().fold(f32::NEG_INFINITY, f32::max)
            } else {
                similarities.sort_by(|a, b| b.total_cmp(a));
                let top = &similarities[..k.min(similarities.len())];
                top.iter().sum::<f32>() / top.len() as f32
            };
            *slot = (*intent, score);
        }
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        Scores { ranked: scores, nearest_in_scope }
    }

    fn score_ridge(&self, meaning: &Probe<'_>, words: &Probe<'_>, gamma: f32, weight: f32) -> [(Intent, f32); 5] {
        let mut totals = [0.0f32; 5];
        for (example, weights) in &self.ridge {
            let similarity = kernel(meaning, words, example, gamma, weight);
            for (total, weight) in totals.iter_mut().zip(weights) {
                *total += similarity * weight;
            }
        }
        let mut scores = Intent::ALL.map(|i| (i, 0.0f32));
        for ((slot, intent), total) in scores.iter_mut().zip(Intent::ALL).zip(totals) {
            *slot = (intent, total);
        }
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        scores
    }

    /// Routes `question` on the calling thread, without the fallback: the scores and the calibrated decision
    /// (with whether it cleared the threshold).
    pub fn route_blocking(&self, question: &str) -> Result<(Scores, Routed, bool), RouterError> {
        let embedded = self.embed_batch(&[question])?;
        let query = embedded.first().ok_or_else(|| VectorError::Embedding("no vector for the question".into()))?;
        let scores = self.score(query);
        let (routed, confident) = scores.decide(&self.calibration);
        Ok((scores, routed, confident))
    }

    /// Routes `question`: embeds it on the blocking pool (model inference is CPU work), decides, and below the
    /// threshold asks `fallback` (on behalf of its tenant) when there is one.
    pub async fn route(
        self: &Arc<Self>,
        question: &str,
        fallback: Option<(&dyn Fallback, TenantId)>,
    ) -> Result<Routed, RouterError> {
        // The hashed n-gram embedder costs microseconds: a hop to the blocking pool would cost more.
        let (scores, routed, confident) = if self.embedder.model() == HashedEmbedder::new(1).model() {
            self.route_blocking(question)?
        } else {
            let router = Arc::clone(self);
            let text = question.to_owned();
            tokio::task::spawn_blocking(move || router.route_blocking(&text))
                .await
                .map_err(|e| RouterError::Task(e.to_string()))??
        };
        let Some((fallback, tenant)) = fallback.filter(|_| !confident) else {
            return Ok(routed);
        };
        match fallback.classify(tenant, question, &scores).await {
            Ok(Some(intent)) => Ok(scores.chosen(intent)),
            Ok(None) => Ok(routed),
            Err(error) => {
                tracing::warn!(%error, "the routing fallback failed; the question is treated as unsupported");
                Ok(routed)
            }
        }
    }
}

/// The router as the service holds it: ready, or still being built on the blocking pool (embedding the examples
/// takes a moment, and the service answers health checks and re-attaching clients meanwhile).
#[derive(Debug, Clone)]
pub(crate) struct Routing(tokio::sync::watch::Receiver<Option<Result<Arc<Router>, String>>>);

impl Routing {
    /// A router that is ready.
    pub(crate) fn ready(router: Router) -> Self {
        Self(tokio::sync::watch::channel(Some(Ok(Arc::new(router)))).1)
    }

    /// A router built by `build` on a thread of its own; callers wait for it. Not on the runtime's blocking pool:
    /// a runtime shutting down waits for its blocking tasks, and a process stopped while the router is still being
    /// built (seconds of CPU) must exit at once.
    pub(crate) fn building(build: impl FnOnce() -> Result<Arc<Router>, RouterError> + Send + 'static) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let work = move || {
            let built = build().map_err(|e| e.to_string());
            match &built {
                Ok(router) => tracing::info!(model = router.model(), "intent router ready"),
                Err(error) => tracing::error!(%error, "the intent router could not be built; questions fail"),
            }
            // No receiver left means the service is gone; nothing to tell.
            let _ = tx.send(Some(built));
        };
        if let Err(error) = std::thread::Builder::new().name("intent-router".into()).spawn(work) {
            let failed = format!("cannot start the thread that builds the intent router: {error}");
            tracing::error!(error = %failed, "questions fail");
            return Self(tokio::sync::watch::channel(Some(Err(failed))).1);
        }
        Self(rx)
    }

    /// The router, once built.
    pub(crate) async fn get(&self) -> Result<Arc<Router>, RouterError> {
        let mut rx = self.0.clone();
        let built =
            rx.wait_for(Option::is_some).await.map_err(|_| RouterError::Task("the router build stopped".into()))?;
        match built.as_ref() {
            Some(Ok(router)) => Ok(Arc::clone(router)),
            Some(Err(error)) => Err(RouterError::Task(error.clone())),
            None => Err(RouterError::Task("the router is not built".into())),
        }
    }
}

/// The router over the tuning examples for `embedder` ([`Router::new`]), built once per process and embedder:
/// building embeds every example (seconds of CPU in a debug build), and a process may start several orchestrators
/// over one embedder (the tests' platforms do). Concurrent callers wait for the first build.
pub(crate) fn shared_router(embedder: Arc<dyn Embedder>) -> Result<Arc<Router>, RouterError> {
    type Built = Vec<(Arc<dyn Embedder>, Arc<Router>)>;
    static BUILT: std::sync::Mutex<Built> = std::sync::Mutex::new(Vec::new());
    // A poisoned lock only means a build panicked; the list itself is always whole.
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, router)) = built.iter().find(|(e, _)| std::ptr::addr_eq(Arc::as_ptr(e), Arc::as_ptr(&embedder))) {
        return Ok(Arc::clone(router));
    }
    // The entry keeps the embedder alive, so its address cannot be reused by another one.
    let router = Arc::new(Router::new(Arc::clone(&embedder))?);
    built.push((embedder, Arc::clone(&router)));
    Ok(router)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A question's vector as it is compared with every example: only its non-zero entries when they are few (a hashed
/// n-gram vector has a few dozen of its hundreds), else the whole vector. Leaving out the zero terms leaves each dot
/// product as it was (adding a zero changes no sum) for a fraction of the work: scoring was a tenth of an Ask's CPU
/// with the hashed embedder.
enum Probe<'a> {
    Dense(&'a [f32]),
    Sparse(Vec<(usize, f32)>),
}

impl<'a> Probe<'a> {
    fn new(vector: &'a [f32]) -> Self {
        let nonzero = vector.iter().filter(|x| **x != 0.0).count();
        if nonzero * 4 > vector.len() {
            return Self::Dense(vector);
        }
        Self::Sparse(vector.iter().copied().enumerate().filter(|(_, x)| *x != 0.0).collect())
    }

    /// The dot product with `other` (a vector of the same length).
    fn dot(&self, other: &[f32]) -> f32 {
        match self {
            Self::Dense(vector) => dot(vector, other),
            Self::Sparse(entries) => entries.iter().map(|&(i, x)| x * other.get(i).copied().unwrap_or(0.0)).sum(),
        }
    }
}

/// The ridge kernel: the meanings' cosine similarity sharpened by `gamma` (1 for the same direction), plus the
/// words' similarity weighted by `words`.
fn kernel(meaning: &Probe<'_>, words_of: &Probe<'_>, b: &Embedded, gamma: f32, words: f32) -> f32 {
    (gamma * (meaning.dot(&b.meaning) - 1.0)).exp() + words * words_of.dot(&b.words)
}

/// Fits the ridge weights: solves `(K + lambda·I)·α = Y`, with `K` the examples' kernel matrix and `Y` their
/// one-hot intents, by Cholesky decomposition (in f64: `K` is close to singular for near-duplicate examples when
/// `lambda` is small). Returns every example with its weights; none when there are no examples.
#[allow(clippy::needless_range_loop)] // a triangular solve reads clearest as index arithmetic
fn fit_ridge(examples: &[(Intent, Vec<Embedded>)], gamma: f32, lambda: f32, words: f32) -> Vec<(Embedded, [f32; 5])> {
    let points: Vec<(usize, &Embedded)> =
        examples.iter().enumerate().flat_map(|(class, (_, vectors))| vectors.iter().map(move |v| (class, v))).collect();
    let n = points.len();
    // The lower triangle of K + lambda·I, row-major, becomes its Cholesky factor L in place.
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        let (meaning, words_of) = (Probe::new(&points[i].1.meaning), Probe::new(&points[i].1.words));
        for j in 0..=i {
            let k = f64::from(kernel(&meaning, &words_of, points[j].1, gamma, words));
            l[i * n + j] = if i == j { k + f64::from(lambda.max(1e-6)) } else { k };
        }
    }
    for j in 0..n {
        let mut diagonal = l[j * n + j];
        for k in 0..j {
            diagonal -= l[j * n + k] * l[j * n + k];
        }
        // Positive definite by construction (a kernel matrix plus lambda·I); the floor guards rounding only.
        let diagonal = diagonal.max(1e-12).sqrt();
        l[j * n + j] = diagonal;
        for i in j + 1..n {
            let mut value = l[i * n + j];
            for k in 0..j {
                value -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = value / diagonal;
        }
    }
    let mut alphas = vec![[0.0f64; 5]; n];
    for class in 0..5 {
        // Forward substitution (L·z = y), then backward (Lᵀ·α = z).
        let mut z = vec![0.0f64; n];
        for i in 0..n {
            let mut value = if points[i].0 == class { 1.0 } else { 0.0 };
            for k in 0..i {
                value -= l[i * n + k] * z[k];
            }
            z[i] = value / l[i * n + i];
        }
        for i in (0..n).rev() {
            let mut value = z[i];
            for k in i + 1..n {
                value -= l[k * n + i] * alphas[k][class];
            }
            alphas[i][class] = value / l[i * n + i];
        }
    }
    points.iter().zip(alphas).map(|((_, v), a)| ((*v).clone(), a.map(|x| x as f32))).collect()
}

/// The unit-length mean of `vectors`; `None` for none (or vectors that cancel out).
fn centroid(vectors: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = vectors.first()?;
    let mut sum = vec![0.0f32; first.len()];
    for v in vectors {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm > 0.0).then(|| sum.into_iter().map(|x| x / norm).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashed_router_routes_the_everyday_questions() {
        let router = Router::hashed().unwrap();
        let cases = [
            ("How much revenue did we make last week?", Intent::Data),
            ("how many customers signed up this month", Intent::Data),
            ("Refund the last charge of maria.garcia12@example.com", Intent::Action),
            ("list overdue invoices", Intent::Data),
            ("what can you do", Intent::Help),
            ("what's the weather like tomorrow", Intent::Unsupported),
            ("xq zzv", Intent::Unsupported),
        ];
        for (question, want) in cases {
            let (_, routed, _) = router.route_blocking(question).unwrap();
            assert_eq!(routed.intent, want, "{question:?}: {routed:?}");
            assert_ne!(routed.runner_up, routed.intent);
        }
    }

    #[test]
    fn the_labelled_set_is_well_formed_and_the_router_learns_only_from_its_tuning_part() {
        let rows = labelled_set().unwrap();
        assert!(rows.len() >= 300, "{} rows", rows.len());
        let test: Vec<&str> = rows.iter().filter(|(r, _)| r.split == "test").map(|(r, _)| r.text.as_str()).collect();
        let tune = tuning_examples().unwrap();
        assert!(!test.is_empty() && !tune.is_empty());
        assert!(tune.iter().all(|(_, text)| !test.contains(&text.as_str())));
        for intent in Intent::ALL {
            assert!(tune.iter().any(|(i, _)| *i == intent), "no tuning example for {intent:?}");
            assert!(rows.iter().any(|(r, i)| *i == intent && r.split == "test"), "no test row for {intent:?}");
        }
        let mut texts: Vec<String> = rows.iter().map(|(r, _)| r.text.to_lowercase()).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), rows.len(), "the labelled set repeats a request");
    }

    #[test]
    fn a_question_below_the_threshold_is_unsupported_with_the_best_intent_as_runner_up() {
        let ranked = [
            (Intent::Data, 0.2),
            (Intent::Help, 0.1),
            (Intent::Action, 0.0),
            (Intent::Knowledge, 0.0),
            (Intent::Unsupported, 0.0),
        ];
        let scores = Scores { ranked, nearest_in_scope: 0.5 };
        let calibration = Calibration { scoring: Scoring::Nearest(1), threshold: 0.3, margin: 0.0, gate: 0.0 };
        let (routed, confident) = scores.decide(&calibration);
        assert!(!confident);
        assert_eq!((routed.intent, routed.runner_up), (Intent::Unsupported, Intent::Data));
        let (routed, confident) = scores.decide(&Calibration { threshold: 0.15, ..calibration });
        assert!(confident);
        assert_eq!((routed.intent, routed.runner_up), (Intent::Data, Intent::Help));
        let (_, confident) = scores.decide(&Calibration { threshold: 0.15, margin: 0.2, ..calibration });
        assert!(!confident, "a lead smaller than the margin is not trusted");
        let (routed, confident) = scores.decide(&Calibration { threshold: 0.15, gate: 0.6, ..calibration });
        assert!(!confident, "nothing in scope is near enough");
        assert_eq!(routed.intent, Intent::Unsupported);
        assert_eq!(scores.chosen(Intent::Help).runner_up, Intent::Data);
    }

    #[test]
    fn a_router_is_built_once_per_embedder() {
        let embedder: Arc<dyn Embedder> = Arc::new(HashedEmbedder::new(384));
        let first = shared_router(Arc::clone(&embedder)).unwrap();
        let again = shared_router(Arc::clone(&embedder)).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let other = shared_router(Arc::new(HashedEmbedder::new(384))).unwrap();
        assert!(!Arc::ptr_eq(&first, &other), "another embedder gets its own router");
    }

    struct Always(Option<Intent>);

    impl Fallback for Always {
        fn classify<'a>(&'a self, _: TenantId, _: &'a str, _: &'a Scores) -> FallbackFuture<'a> {
            Box::pin(async move { Ok(self.0) })
        }
    }

    #[tokio::test]
    async fn the_fallback_is_asked_only_below_the_threshold() {
        let router = Arc::new(Router::hashed().unwrap());
        let tenant = TenantId::generate();
        let knowledge = Always(Some(Intent::Knowledge));
        let routed = router.route("xq zzv", Some((&knowledge, tenant))).await.unwrap();
        assert_eq!((routed.intent, routed.by_model), (Intent::Knowledge, true), "{routed:?}");
        let routed = router.route("How much revenue did we make last week?", Some((&knowledge, tenant))).await.unwrap();
        assert_eq!((routed.intent, routed.by_model), (Intent::Data, false), "a confident decision stays: {routed:?}");
        let routed = router.route("xq zzv", Some((&Always(None), tenant))).await.unwrap();
        assert_eq!((routed.intent, routed.by_model), (Intent::Unsupported, false));
        assert_eq!(router.route("xq zzv", None).await.unwrap().intent, Intent::Unsupported);
    }
}
