//! Measuring the router on labelled requests: accuracy, out-of-scope recall and the confusion matrix, as `make
//! eval` prints them and the integration tests assert them. Decisions here are the router's own (embedding and
//! calibrated threshold), without any fallback: that is what the numbers are about.

use std::fmt;

use super::router::{Intent, Labelled, Router, RouterError, Scores, labelled_set};

/// Decisions on a labelled set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// `confusion[want][got]`, both indexed as in [`Intent::ALL`].
    pub confusion: [[usize; 5]; 5],
    /// The requests routed wrongly: (text, wanted, got, score of what was got).
    pub misses: Vec<(String, Intent, Intent, f32)>,
}

fn index(intent: Intent) -> usize {
    Intent::ALL.iter().position(|i| *i == intent).unwrap_or(0)
}

impl Evaluation {
    /// Records one decision.
    pub fn record(&mut self, text: &str, want: Intent, got: Intent, score: f32) {
        self.confusion[index(want)][index(got)] += 1;
        if want != got {
            self.misses.push((text.to_owned(), want, got, score));
        }
    }

    /// Requests decided.
    pub fn total(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    /// Share routed to their label (0 with none).
    pub fn accuracy(&self) -> f64 {
        let right: usize = (0..5).map(|i| self.confusion[i][i]).sum();
        ratio(right, self.total())
    }

    /// Share of the requests labelled `intent` that were routed to it.
    pub fn recall(&self, intent: Intent) -> f64 {
        let row = &self.confusion[index(intent)];
        ratio(row[index(intent)], row.iter().sum())
    }

    /// Share of the requests routed to `intent` that were labelled so.
    pub fn precision(&self, intent: Intent) -> f64 {
        let column: usize = (0..5).map(|w| self.confusion[w][index(intent)]).sum();
        ratio(self.confusion[index(intent)][index(intent)], column)
    }

    /// Out-of-scope recall: the share of `unsupported` requests the router refused.
    pub fn out_of_scope_recall(&self) -> f64 {
        self.recall(Intent::Unsupported)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "requests: {}", self.total())?;
        writeln!(f, "accuracy: {:.1}%", 100.0 * self.accuracy())?;
        writeln!(f, "out-of-scope recall: {:.1}%", 100.0 * self.out_of_scope_recall())?;
        writeln!(f)?;
        writeln!(f, "confusion matrix (rows: label, columns: routed to)")?;
        write!(f, "{:>12}", "")?;
        for got in Intent::ALL {
            write!(f, "{:>12}", got.as_str())?;
        }
        writeln!(f, "{:>9}{:>11}", "recall", "precision")?;
        for want in Intent::ALL {
            write!(f, "{:>12}", want.as_str())?;
            for got in Intent::ALL {
                write!(f, "{:>12}", self.confusion[index(want)][index(got)])?;
            }
            writeln!(f, "{:>8.1}%{:>10.1}%", 100.0 * self.recall(want), 100.0 * self.precision(want))?;
        }
        if !self.misses.is_empty() {
            writeln!(f)?;
            writeln!(f, "misrouted:")?;
            for (text, want, got, score) in &self.misses {
                writeln!(f, "  {:<11} -> {:<11} ({score:.2})  {text}", want.as_str(), got.as_str())?;
            }
        }
        Ok(())
    }
}

/// The rows of the labelled set in `split` (`tune` or `test`).
pub fn labelled_split(split: &str) -> Result<Vec<(Labelled, Intent)>, RouterError> {
    Ok(labelled_set()?.into_iter().filter(|(row, _)| row.split == split).collect())
}

/// Routes every row with `router` (embedding on the calling thread, in batches) and records the decisions.
pub fn evaluate(router: &Router, rows: &[(Labelled, Intent)]) -> Result<Evaluation, RouterError> {
    let mut evaluation = Evaluation::default();
    for (row, scores) in rows.iter().zip(score_all(router, rows)?) {
        let (routed, _) = scores.decide(&router.calibration());
        evaluation.record(&row.0.text, row.1, routed.intent, routed.confidence);
    }
    Ok(evaluation)
}

/// Every row's scores under `router`.
pub fn score_all(router: &Router, rows: &[(Labelled, Intent)]) -> Result<Vec<Scores>, RouterError> {
    let texts: Vec<&str> = rows.iter().map(|(row, _)| row.text.as_str()).collect();
    Ok(router.embed_batch(&texts)?.iter().map(|query| router.score(query)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_come_from_the_confusion_matrix() {
        let mut e = Evaluation::default();
        e.record("a", Intent::Data, Intent::Data, 0.9);
        e.record("b", Intent::Data, Intent::Action, 0.5);
        e.record("c", Intent::Unsupported, Intent::Unsupported, 0.8);
        e.record("d", Intent::Unsupported, Intent::Help, 0.4);
        e.record("e", Intent::Unsupported, Intent::Unsupported, 0.7);
        assert_eq!(e.total(), 5);
        assert!((e.accuracy() - 0.6).abs() < 1e-9);
        assert!((e.out_of_scope_recall() - 2.0 / 3.0).abs() < 1e-9);
        assert!((e.precision(Intent::Data) - 1.0).abs() < 1e-9);
        assert_eq!(e.misses.len(), 2);
        let table = e.to_string();
        assert!(table.contains("accuracy: 60.0%") && table.contains("-> action"), "{table}");
    }
}
