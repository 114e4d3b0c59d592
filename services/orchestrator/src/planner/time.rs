//! Time ranges in questions ("today", "last week", "last 30 days", ...), resolved against a given now, in UTC.
//! Weeks start on Monday; "last week" is the previous calendar week, "last 7 days" the 7 days before now.

use time::{Duration, OffsetDateTime, Time};

/// A half-open range `[start, end)` of unix seconds, with how the question named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRange {
    /// `last week`, `the last 30 days`, ...
    pub label: String,
    /// First second in the range.
    pub start: i64,
    /// First second after it.
    pub end: i64,
}

fn midnight(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_time(Time::MIDNIGHT)
}

fn first_of_month(at: OffsetDateTime) -> OffsetDateTime {
    midnight(at).replace_day(1).unwrap_or(at)
}

fn range(label: impl Into<String>, start: OffsetDateTime, end: OffsetDateTime) -> TimeRange {
    TimeRange { label: label.into(), start: start.unix_timestamp(), end: end.unix_timestamp() }
}

/// The number before `unit` in `words` ("last 30 days" → 30), if any.
fn count_before(words: &[&str], units: &[&str]) -> Option<(i64, String)> {
    words.windows(3).find_map(|w| {
        let lead = matches!(w[0], "last" | "past" | "previous");
        let n: i64 = w[1].parse().ok()?;
        (lead && units.contains(&w[2]) && (1..=3660).contains(&n)).then(|| (n, w[2].to_owned()))
    })
}

/// The time range `question` names, relative to `now` (unix seconds); `None` when it names none.
pub fn parse(question: &str, now: i64) -> Option<TimeRange> {
    let lower = question.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |phrase: &str| {
        let phrase: Vec<&str> = phrase.split(' ').collect();
        words.windows(phrase.len()).any(|w| w == phrase.as_slice())
    };
    let now_at = OffsetDateTime::from_unix_timestamp(now).ok()?;
    let today = midnight(now_at);
    let monday = today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
    let month = first_of_month(now_at);
    let end = now_at + Duration::seconds(1);
    if let Some((n, unit)) = count_before(&words, &["days", "day"]) {
        return Some(range(format!("the last {n} {unit}"), now_at - Duration::days(n), end));
    }
    if let Some((n, unit)) = count_before(&words, &["weeks", "week"]) {
        return Some(range(format!("the last {n} {unit}"), now_at - Duration::weeks(n), end));
    }
    if let Some((n, unit)) = count_before(&words, &["months", "month"]) {
        return Some(range(format!("the last {n} {unit}"), now_at - Duration::days(30 * n), end));
    }
    if has("today") {
        return Some(range("today", today, end));
    }
    if has("yesterday") {
        return Some(range("yesterday", today - Duration::days(1), today));
    }
    if has("this week") {
        return Some(range("this week", monday, end));
    }
    if has("last week") || has("past week") || has("previous week") {
        return Some(range("last week", monday - Duration::weeks(1), monday));
    }
    if has("this month") {
        return Some(range("this month", month, end));
    }
    if has("last month") || has("previous month") || has("past month") {
        let previous = first_of_month(month - Duration::days(1));
        return Some(range("last month", previous, month));
    }
    let january = month.replace_month(time::Month::January).ok()?;
    if has("this year") {
        return Some(range("this year", january, end));
    }
    if has("last year") {
        let previous = january.replace_year(january.year() - 1).ok()?;
        return Some(range("last year", previous, january));
    }
    None
}

/// A unix time as RFC 3339 (UTC).
pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A unix time as a date, `2026-10-30`.
pub(crate) fn date(unix: i64) -> String {
    rfc3339(unix).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thursday 2026-11-05 15:30:00 UTC.
    const NOW: i64 = 1_793_892_600;

    #[test]
    fn ranges_are_calendar_aware() {
        let week = parse("How much revenue did we make last week?", NOW).unwrap();
        assert_eq!(
            (rfc3339(week.start).as_str(), rfc3339(week.end).as_str()),
            ("2026-10-26T00:00:00Z", "2026-11-02T00:00:00Z")
        );
        let yesterday = parse("sales yesterday", NOW).unwrap();
        assert_eq!(date(yesterday.start), "2026-11-04");
        assert_eq!(yesterday.end - yesterday.start, 86_400);
        let month = parse("last month", NOW).unwrap();
        assert_eq!((date(month.start).as_str(), date(month.end).as_str()), ("2026-10-01", "2026-11-01"));
        let days = parse("refunds in the past 30 days", NOW).unwrap();
        assert_eq!(days.start, NOW - 30 * 86_400);
        assert_eq!(days.label, "the last 30 days");
        assert!(parse("how many customers", NOW).is_none());
    }
}
