//! Time in the sandbox: the fixed epoch the demo data is spread before, the clock that stamps objects created
//! while running, and RFC 3339 rendering and parsing.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// 2026-11-01T00:00:00Z: by default demo data lies in the [`DATA_WINDOW`] before it, whatever the date of the run,
/// so tests see the same data every day.
pub const DEFAULT_EPOCH: i64 = 1_793_491_200;

/// The epoch in force: [`DEFAULT_EPOCH`] unless [`set_epoch`] moved it (the `switchboard-sandbox` binary moves it to
/// the start of the current day, so `make run`'s "last week" has data).
static CURRENT_EPOCH: AtomicI64 = AtomicI64::new(DEFAULT_EPOCH);

/// The end of the demo data's window, in unix seconds.
pub(crate) fn epoch() -> i64 {
    CURRENT_EPOCH.load(Ordering::Relaxed)
}

/// Moves the end of the demo data's window to `unix` for every sandbox started afterwards in this process (the
/// data is generated when a sandbox starts). For the standalone binary; tests keep [`DEFAULT_EPOCH`].
pub fn set_epoch(unix: i64) {
    CURRENT_EPOCH.store(unix, Ordering::Relaxed);
}

/// The start (00:00 UTC) of the current day, in unix seconds.
pub fn start_of_today() -> i64 {
    let now = wall_unix();
    now - now.rem_euclid(86_400)
}
/// How far back from [`epoch`] the demo data reaches: 90 days.
pub(crate) const DATA_WINDOW: i64 = 90 * 86_400;

/// The wall clock in unix seconds (webhook timestamps must be real for signature tolerances).
pub(crate) fn wall_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The wall clock in unix milliseconds.
pub(crate) fn wall_unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Stamps objects created while running: the later of the wall clock and [`epoch`] plus the time since start, so
/// a new object is always newer than every generated one even on a machine whose clock is behind the epoch.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    started: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self { started: Instant::now() }
    }

    pub(crate) fn now(&self) -> i64 {
        let since_epoch = epoch() + self.started.elapsed().as_secs() as i64 + 1;
        wall_unix().max(since_epoch)
    }
}

/// `2026-10-01T12:00:00Z`.
pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses `2026-10-01T00:00:00Z`, `2026-10-01T00:00:00-04:00`, `2026-10-01T00:00:00` (taken as UTC) or
/// `2026-10-01` (midnight UTC) into unix seconds.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    if text.len() == 10 {
        return OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339).ok().map(|t| t.unix_timestamp());
    }
    if text.len() == 19 {
        return OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339).ok().map(|t| t.unix_timestamp());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_the_first_of_november_2026() {
        assert_eq!(rfc3339(epoch()), "2026-11-01T00:00:00Z");
    }

    #[test]
    fn parses_the_forms_shopify_queries_use() {
        assert_eq!(parse_timestamp("2026-11-01T00:00:00Z"), Some(epoch()));
        assert_eq!(parse_timestamp("2026-11-01"), Some(epoch()));
        assert_eq!(parse_timestamp("2026-11-01T00:00:00"), Some(epoch()));
        assert_eq!(parse_timestamp("2026-10-31T20:00:00-04:00"), Some(epoch()));
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn running_clock_is_after_the_epoch() {
        assert!(Clock::new().now() > epoch());
    }
}
