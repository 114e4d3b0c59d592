//! The embedding benchmark (`cargo bench -p switchboard-embedding --bench embedding`; needs the model, see
//! `scripts/fetch-embedding-model.sh`):
//!
//! - model load time (read, SHA-256 check, weights into tensors, tokenizer), best and worst of three loads;
//! - throughput in sentences/s for short requests (about ten words, as the intent router sees them) one per call and
//!   in one call of 256, and for passages cut at 256 word pieces (retrieval chunks) in one call of 64;
//! - the hashed n-gram embedder on the same short requests, as the in-run baseline the model replaces.

use std::time::{Duration, Instant};

use switchboard_embedding::{SentenceEmbedder, default_model_dir};
use switchboard_vectors::HashedEmbedder;

const SUBJECTS: [&str; 8] = [
    "order 1042",
    "the last invoice",
    "jane@example.com",
    "my Shopify store",
    "last week's revenue",
    "the refund",
    "our top customer",
    "open deals",
];
const VERBS: [&str; 8] = [
    "how much did we make from",
    "please refund",
    "can you show me",
    "send a reminder about",
    "what happened with",
    "cancel",
    "summarise everything about",
    "why is there a problem with",
];
const TAILS: [&str; 4] = ["", " today", " since Monday, thanks", " before the end of the month?"];

fn requests(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{} {}{}", VERBS[i % 8], SUBJECTS[(i / 8) % 8], TAILS[(i / 64) % 4])).collect()
}

fn passages(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| (0..220).map(|w| format!("{} ", SUBJECTS[(i + w) % 8].split(' ').next().unwrap_or("item"))).collect())
        .collect()
}

/// Sentences per second over as many runs of `f` on `texts` as fit in `budget` (at least one).
fn rate(texts: &[&str], budget: Duration, mut f: impl FnMut(&[&str])) -> f64 {
    let started = Instant::now();
    let mut done = 0usize;
    while done == 0 || started.elapsed() < budget {
        f(texts);
        done += texts.len();
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let Some(dir) = default_model_dir() else {
        eprintln!("set SWITCHBOARD_EMBEDDING_MODEL_DIR or HOME");
        std::process::exit(1);
    };
    let mut loads = Vec::new();
    let mut model = None;
    for _ in 0..3 {
        let started = Instant::now();
        match SentenceEmbedder::load(&dir) {
            Ok(m) => model = Some(m),
            Err(e) => {
                eprintln!("loading the model from {}: {e}", dir.display());
                std::process::exit(1);
            }
        }
        loads.push(started.elapsed());
    }
    let Some(model) = model else { return };
    loads.sort();

    let requests = requests(256);
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let passages = passages(64);
    let passages: Vec<&str> = passages.iter().map(String::as_str).collect();
    let budget = Duration::from_secs(5);
    let embed = |texts: &[&str]| {
        if let Err(e) = model.embed(texts) {
            eprintln!("embedding failed: {e}");
            std::process::exit(1);
        }
    };

    let one_by_one = rate(&requests[..32], budget, |texts| texts.iter().for_each(|t| embed(&[t])));
    let batched = rate(&requests, budget, embed);
    let long = rate(&passages, budget, embed);
    let hashed = HashedEmbedder::new(384);
    let baseline = rate(&requests, Duration::from_secs(1), |texts| {
        texts.iter().for_each(|t| {
            std::hint::black_box(hashed.embed(t));
        })
    });

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("embedding benchmark: all-MiniLM-L6-v2 (384 dims) on candle's CPU backend, {cores} cores");
    println!("model load (read, SHA-256, tensors, tokenizer): best {:?}, worst {:?} of 3", loads[0], loads[2]);
    println!("{:<46} {:>14} {:>12}", "workload", "sentences/s", "vs hashed");
    for (name, value) in [
        ("short requests, one per call", one_by_one),
        ("short requests, 256 per call (batches of 32)", batched),
        ("256-piece passages, 64 per call", long),
        ("hashed n-gram embedder, short requests", baseline),
    ] {
        println!("{name:<46} {value:>14.1} {:>11.4}x", value / baseline);
    }
}
