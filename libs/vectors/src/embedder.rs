//! The [`Embedder`] trait, and an offline embedder behind it: words and character trigrams hashed into a fixed
//! number of signed buckets, then L2-normalised. Deterministic, needs no model files, and good enough that texts
//! sharing words and word fragments land near each other; it cannot tell "refund the order" from "how many orders
//! were refunded", so it is the fallback for when the real model (switchboard-embedding) is absent.

use crate::VectorError;

/// Turns texts into vectors for the store. Object-safe, so callers hold an `Arc<dyn Embedder>` and need not know
/// whether the local model or the hashed fallback is behind it. Embedding is CPU work that can take milliseconds
/// per text: call it from the blocking pool (`tokio::task::spawn_blocking`), not on the runtime.
pub trait Embedder: Send + Sync + 'static {
    /// One unit-length vector of [`Embedder::dimension`] values per text, in the order given.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, VectorError>;
    /// The vector length.
    fn dimension(&self) -> usize;
    /// Which model produced the vectors, for logs and to keep vectors of different models in different collections
    /// (their similarities are not comparable).
    fn model(&self) -> &str;
}

/// The hashed n-gram embedder.
#[derive(Debug, Clone, Copy)]
pub struct HashedEmbedder {
    dimension: usize,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl HashedEmbedder {
    /// An embedder producing `dimension`-long vectors (at least 1; 384 matches common small models).
    pub fn new(dimension: usize) -> Self {
        Self { dimension: dimension.max(1) }
    }

    /// The vector length.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    fn add(&self, vector: &mut [f32], feature: &str, weight: f32) {
        let hash = fnv1a(feature.as_bytes());
        let index = (hash % self.dimension as u64) as usize;
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        if let Some(slot) = vector.get_mut(index) {
            *slot += sign * weight;
        }
    }

    /// The embedding of `text`.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimension];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let word = word.to_lowercase();
            self.add(&mut vector, &format!("w:{word}"), 1.0);
            let padded: Vec<char> = format!("<{word}>").chars().collect();
            for gram in padded.windows(3) {
                self.add(&mut vector, &format!("c:{}", gram.iter().collect::<String>()), 0.5);
            }
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

impl Embedder for HashedEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, VectorError> {
        Ok(texts.iter().map(|text| self.embed(text)).collect())
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn model(&self) -> &str {
        "hashed-ngram"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let e = HashedEmbedder::new(384);
        let invoice = e.embed("Which invoices are overdue?");
        let overdue = e.embed("list overdue invoices");
        let refund = e.embed("refund order 1042 for the customer");
        assert!(cosine(&invoice, &overdue) > cosine(&invoice, &refund) + 0.2);
        assert_eq!(e.embed("Same text"), e.embed("same TEXT"), "deterministic, case-insensitive");
        assert!((cosine(&invoice, &invoice) - 1.0).abs() < 1e-5, "unit length");
        assert!(e.embed("").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn the_trait_embeds_each_text_in_order() {
        let e: &dyn Embedder = &HashedEmbedder::new(64);
        let batch = e.embed_batch(&["overdue invoices", "refund order 1042"]).unwrap();
        assert_eq!(
            batch,
            vec![HashedEmbedder::new(64).embed("overdue invoices"), HashedEmbedder::new(64).embed("refund order 1042")]
        );
        assert_eq!((e.dimension(), e.model()), (64, "hashed-ngram"));
    }
}
