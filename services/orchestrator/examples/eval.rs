//! `make eval`: the intent router with the real embedding model (all-MiniLM-L6-v2) on the test part of
//! `eval/intents.jsonl` — accuracy, out-of-scope recall, the confusion matrix and the misrouted requests.
//!
//! `--calibrate` (`make eval-calibrate`) measures the choices behind [`Calibration::MODEL`] instead, on the tuning
//! part only, by 10-fold cross-validation (each tuning request is routed by a router built from the other folds, so
//! it never meets itself): scoring by the nearest example, the mean of the k nearest, the intents' centroids, or
//! kernel ridge regression, and the threshold, margin and gate below which a request is refused; the rule is the
//! best accuracy with at least 90% out-of-scope recall. `--hashed` measures the hashed n-gram fallback instead.
//!
//! The model comes from `SWITCHBOARD_EMBEDDING_MODEL_DIR` or the default cache directory; `make eval` runs
//! scripts/fetch-embedding-model.sh first.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use switchboard_embedding::{SentenceEmbedder, default_model_dir};
use switchboard_orchestrator::evaluation::{Evaluation, evaluate, labelled_split};
use switchboard_orchestrator::router::{Calibration, Intent, Router, Scores, Scoring};
use switchboard_vectors::{Embedder, HashedEmbedder};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eval: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let calibrate = args.iter().any(|a| a == "--calibrate");
    let hashed = args.iter().any(|a| a == "--hashed");
    if let Some(other) = args.iter().find(|a| !matches!(a.as_str(), "--calibrate" | "--hashed")) {
        return Err(format!("unknown argument {other:?}; use --calibrate and/or --hashed").into());
    }

    let started = Instant::now();
    let embedder: Arc<dyn Embedder> = if hashed {
        Arc::new(HashedEmbedder::new(384))
    } else {
        let dir = default_model_dir().ok_or("set SWITCHBOARD_EMBEDDING_MODEL_DIR or HOME")?;
        Arc::new(SentenceEmbedder::load(&dir).map_err(|e| format!("{e} (the eval needs the real model)"))?)
    };
    println!("model: {} (loaded in {} ms)", embedder.model(), started.elapsed().as_millis());

    let tune = labelled_split("tune")?;
    let test = labelled_split("test")?;
    println!("labelled set: {} tuning requests (router examples), {} test requests", tune.len(), test.len());

    if calibrate {
        return calibrate_on_tuning(embedder, &tune);
    }

    let started = Instant::now();
    let router = Router::new(Arc::clone(&embedder))?;
    println!("router: {:?}, built in {} ms", router.calibration(), started.elapsed().as_millis());

    // One decision at a time, as a question arrives, to report the latency a person sees.
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(test.len());
    let mut one_by_one = Evaluation::default();
    for (row, want) in &test {
        let asked = Instant::now();
        let (_, routed, _) = router.route_blocking(&row.text)?;
        latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
        one_by_one.record(&row.text, *want, routed.intent, routed.confidence);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let batched = evaluate(&router, &test)?;
    if batched.confusion != one_by_one.confusion {
        // Batching pads texts to a common length; the model masks the padding, so decisions must not change.
        return Err("routing in batches and one by one disagree".into());
    }
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];

    println!();
    println!("test part ({}):", embedder.model());
    print!("{one_by_one}");
    println!();
    println!(
        "decisions: {:.0}/s one at a time, p50 {:.2} ms, p99 {:.2} ms",
        test.len() as f64 / elapsed,
        p(0.5),
        p(0.99)
    );
    Ok(())
}

/// The gates tried ([`Calibration::gate`]).
const GATES: [f32; 6] = [0.0, 0.3, 0.35, 0.4, 0.45, 0.5];

/// Folds of the tuning part in calibration: each tuning request is scored by a router built from the other folds.
const FOLDS: usize = 10;

/// Cross-validation over the tuning part, for each way of scoring, and the threshold and margin that do best.
fn calibrate_on_tuning(
    embedder: Arc<dyn Embedder>,
    tune: &[(switchboard_orchestrator::router::Labelled, Intent)],
) -> Result<(), Box<dyn std::error::Error>> {
    let texts: Vec<&str> = tune.iter().map(|(row, _)| row.text.as_str()).collect();
    let vectors = Router::embed_with(embedder.as_ref(), &texts)?;
    println!();
    println!("{FOLDS}-fold cross-validation on the tuning part; the best threshold and margin per scoring");
    println!("(best accuracy among settings with at least 90% out-of-scope recall)");
    println!("{:<52}{:>10}{:>8}{:>6}{:>10}{:>12}", "scoring", "threshold", "margin", "gate", "accuracy", "oos recall");
    let mut scorings = vec![Scoring::Nearest(1), Scoring::Nearest(2), Scoring::Nearest(3), Scoring::Nearest(5)];
    scorings.push(Scoring::Centroid);
    for gamma in [1.0, 2.0] {
        for lambda in [0.1, 0.3, 1.0] {
            for words in [0.0, 0.5, 1.0] {
                scorings.push(Scoring::Ridge { gamma, lambda, words });
            }
        }
    }
    for scoring in scorings {
        let placeholder = Calibration { scoring, threshold: f32::MIN, margin: 0.0, gate: 0.0 };
        let mut scores: Vec<Option<Scores>> = vec![None; tune.len()];
        for fold in 0..FOLDS {
            let others = tune
                .iter()
                .zip(&vectors)
                .enumerate()
                .filter(|(i, _)| i % FOLDS != fold)
                .map(|(_, ((_, intent), v))| (*intent, v.clone()))
                .collect();
            let router = Router::with_embedded(Arc::clone(&embedder), others, placeholder);
            for (i, vector) in vectors.iter().enumerate().filter(|(i, _)| i % FOLDS == fold) {
                scores[i] = Some(router.score(vector));
            }
        }
        let scores: Vec<Scores> = scores.into_iter().flatten().collect();
        let mut best: Option<(f64, f64, f32, f32, f32)> = None;
        for t in 0..=80 {
            for (margin, gate) in [0.0f32, 0.02, 0.05].into_iter().flat_map(|m| GATES.map(|g| (m, g))) {
                let threshold = t as f32 / 100.0;
                let calibration = Calibration { scoring, threshold, margin, gate };
                let mut e = Evaluation::default();
                for ((row, want), s) in tune.iter().zip(&scores) {
                    let (routed, _) = s.decide(&calibration);
                    e.record(&row.text, *want, routed.intent, routed.confidence);
                }
                let (accuracy, oos) = (e.accuracy(), e.out_of_scope_recall());
                // Strictly better only, so ties keep the lower threshold and margin.
                let better = best.is_none_or(|(a, o, ..)| (oos >= 0.9, accuracy) > (o >= 0.9, a));
                if better {
                    best = Some((accuracy, oos, threshold, margin, gate));
                }
            }
        }
        if let Some((accuracy, oos, threshold, margin, gate)) = best {
            println!(
                "{:<52}{threshold:>10.2}{margin:>8.2}{gate:>6.2}{:>9.1}%{:>11.1}%",
                format!("{scoring:?}"),
                100.0 * accuracy,
                100.0 * oos
            );
        }
    }
    Ok(())
}
