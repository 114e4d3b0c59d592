//! The intent router: which kind of request a question is (`data`, `action`, `knowledge`, `help`, `unsupported`),
//! by embedding similarity to example utterances per intent (`intents.json` beside this file).
//!
//! Each intent scores the cosine similarity of its nearest example; the best intent wins when it clears the
//! threshold, else the question is `unsupported`. The runner-up is reported too, so a decision can be judged from
//! outside. The embedder is pluggable ([`Embedder`]): the offline hashed n-gram embedder today, a sentence-embedding
//! model when one is configured (with its own, calibrated threshold).

use serde::Deserialize;
use switchboard_vectors::HashedEmbedder;

/// Turns text into a unit-length vector; texts alike in meaning land close together.
pub trait Embedder: Send + Sync + 'static {
    /// The embedding of `text`.
    fn embed(&self, text: &str) -> Vec<f32>;
}

impl Embedder for HashedEmbedder {
    fn embed(&self, text: &str) -> Vec<f32> {
        HashedEmbedder::embed(self, text)
    }
}

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
}

/// A routing decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Routed {
    /// The chosen intent.
    pub intent: Intent,
    /// Its score (cosine similarity of the nearest example), 0 to 1.
    pub confidence: f32,
    /// The next best intent.
    pub runner_up: Intent,
    /// Its score.
    pub runner_up_confidence: f32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Examples {
    data: Vec<String>,
    action: Vec<String>,
    knowledge: Vec<String>,
    help: Vec<String>,
    unsupported: Vec<String>,
}

/// The examples shipped with the crate.
const EXAMPLES: &str = include_str!("intents.json");

/// Below this, the hashed embedder's nearest example is not near enough to trust.
pub const HASHED_THRESHOLD: f32 = 0.25;

/// The router.
pub struct Router {
    embedder: Box<dyn Embedder>,
    examples: Vec<(Intent, Vec<f32>)>,
    threshold: f32,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("examples", &self.examples.len()).field("threshold", &self.threshold).finish()
    }
}

impl Router {
    /// A router over the shipped examples, embedded with `embedder`, trusting scores of at least `threshold`.
    pub fn new(embedder: Box<dyn Embedder>, threshold: f32) -> Result<Self, String> {
        let examples: Examples =
            serde_json::from_str(EXAMPLES).map_err(|e| format!("intents.json is not valid: {e}"))?;
        let lists = [
            (Intent::Data, examples.data),
            (Intent::Action, examples.action),
            (Intent::Knowledge, examples.knowledge),
            (Intent::Help, examples.help),
            (Intent::Unsupported, examples.unsupported),
        ];
        let examples = lists
            .into_iter()
            .flat_map(|(intent, texts)| texts.into_iter().map(move |t| (intent, t)))
            .map(|(intent, text)| (intent, embedder.embed(&text)))
            .collect();
        Ok(Self { embedder, examples, threshold })
    }

    /// The offline router: the hashed n-gram embedder and its threshold.
    pub fn hashed() -> Result<Self, String> {
        Self::new(Box::new(HashedEmbedder::new(384)), HASHED_THRESHOLD)
    }

    /// Routes `question`.
    pub fn route(&self, question: &str) -> Routed {
        let query = self.embedder.embed(question);
        let mut scores: Vec<(Intent, f32)> = Intent::ALL.iter().map(|i| (*i, 0.0f32)).collect();
        for (intent, vector) in &self.examples {
            let score: f32 = query.iter().zip(vector).map(|(a, b)| a * b).sum();
            if let Some(slot) = scores.iter_mut().find(|(i, _)| i == intent) {
                slot.1 = slot.1.max(score);
            }
        }
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        let (best, best_score) = scores[0];
        let (second, second_score) = scores[1];
        if best_score < self.threshold {
            return Routed {
                intent: Intent::Unsupported,
                confidence: 1.0 - best_score,
                runner_up: best,
                runner_up_confidence: best_score,
            };
        }
        Routed { intent: best, confidence: best_score, runner_up: second, runner_up_confidence: second_score }
    }
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
            let routed = router.route(question);
            assert_eq!(routed.intent, want, "{question:?}: {routed:?}");
            assert_ne!(routed.runner_up, routed.intent);
        }
    }
}
