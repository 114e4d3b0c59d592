//! What the model is for: nearness by meaning rather than by shared words.

use switchboard_vectors::HashedEmbedder;

use crate::support::{cosine, embed_one, embedder};

#[test]
fn a_refund_request_is_nearer_another_refund_request_than_a_question_about_refunds() {
    let request = embed_one("refund the order");
    let similar = embed_one("please refund order 1042");
    let question = embed_one("how many orders were refunded last month");
    let (near, far) = (cosine(&request, &similar), cosine(&request, &question));
    // The reference implementation gives 0.786 and 0.715.
    assert!(near > far + 0.05, "refund request: {near} to another request, {far} to a question about refunds");
}

#[test]
fn paraphrases_without_shared_words_are_near_and_unrelated_texts_are_not() {
    let overdue = embed_one("Which invoices are overdue?");
    let paraphrase = embed_one("show me the bills customers haven't paid yet");
    let unrelated = embed_one("change my password");
    let (near, far) = (cosine(&overdue, &paraphrase), cosine(&overdue, &unrelated));
    assert!(near > far + 0.2, "overdue invoices: {near} to a paraphrase, {far} to a password change");
    // The hashed fallback sees no shared word in the paraphrase, which is why the model exists.
    let hashed = HashedEmbedder::new(384);
    let hashed_near = cosine(
        &hashed.embed("Which invoices are overdue?"),
        &hashed.embed("show me the bills customers haven't paid yet"),
    );
    assert!(near > hashed_near + 0.2, "model {near}, hashed embedder {hashed_near}");
}

#[test]
fn vectors_are_unit_length_and_texts_beyond_the_limit_are_truncated() {
    let model = embedder();
    assert_eq!((model.dimensions(), model.max_tokens()), (384, 256));
    let vectors = model.embed(&["", "a", "Refund order #1042!"]).expect("embed");
    for vector in &vectors {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    // 300 words are more than 256 word pieces: what follows them is cut off, so it cannot change the vector.
    let long: String = (0..300).map(|i| format!("word{} ", i % 10)).collect();
    let longer = format!("{long} and then a sentence about refunds that the model never sees");
    let (a, b) = (embed_one(&long), embed_one(&longer));
    assert!(cosine(&a, &b) > 0.99999, "truncation: {}", cosine(&a, &b));
    assert!(cosine(&embed_one("word0 word1"), &a) < 0.99, "a short prefix is a different text");
    assert!(model.embed(&[]).expect("no texts").is_empty());
}
