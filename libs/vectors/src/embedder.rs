//! An offline embedder: words and character trigrams hashed into a fixed number of signed buckets, then
//! L2-normalised. Deterministic, needs no model files, and good enough that texts sharing words and word
//! fragments land near each other; the hosted embeddings client replaces it when a provider is configured.

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
}
