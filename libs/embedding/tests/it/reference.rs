//! The crate's vectors against reference vectors computed once by an independent numpy implementation of the same
//! model (`reference.py`, float64; its docstring says how to run it) and checked in as `reference.json`.

use serde::Deserialize;

use crate::support::{cosine, embed_one, embedder};

#[derive(Deserialize)]
struct References {
    sentences: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    text: String,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let json = include_str!("reference.json");
    let references: References = serde_json::from_str(json).expect("reference.json");
    assert!(references.sentences.len() >= 5, "reference.json holds too few sentences to mean anything");
    references.sentences
}

#[test]
fn each_sentence_matches_the_reference() {
    for reference in references() {
        let vector = embed_one(&reference.text);
        assert_eq!(vector.len(), 384);
        assert_eq!(reference.embedding.len(), 384);
        let similarity = cosine(&vector, &reference.embedding);
        assert!(similarity >= 0.999, "{:?}: cosine {similarity} with the reference", reference.text);
        let largest_gap = vector.iter().zip(&reference.embedding).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(largest_gap < 1e-5, "{:?}: a component is {largest_gap} off the reference", reference.text);
    }
}

#[test]
fn a_batch_gives_each_text_the_vector_it_gets_alone() {
    // One call pads the short texts to the 256-piece one: padding must change nothing.
    let references = references();
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let batch = embedder().embed(&texts).expect("embed");
    assert_eq!(batch.len(), texts.len());
    for (vector, reference) in batch.iter().zip(&references) {
        let similarity = cosine(vector, &reference.embedding);
        assert!(similarity >= 0.999, "{:?} in a batch: cosine {similarity} with the reference", reference.text);
    }
}
