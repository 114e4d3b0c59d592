//! JSON written straight into a line buffer, for the two hot paths of the JSON log: every request's access-log
//! line and every request span's fields.
//!
//! tracing-subscriber's JSON formatter builds a `serde_json` map of a span's fields when the span is created, and
//! writes an event through serde with a UTF-8 check on every piece; for a static document that was two fifths of
//! the gateway's instructions. The lines written here have the same keys, order and value types as that
//! formatter's (`timestamp`, `level`, the fields with `message`, `target`), so whatever reads the log reads them
//! the same way; other events still go through tracing-subscriber's formatter.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::Context;

/// Writes `"name":value` pairs, comma-separated, of every field it visits.
struct Pairs<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<'a, W: fmt::Write> Pairs<'a, W> {
    fn new(out: &'a mut W, first: bool) -> Self {
        Self { out, first, result: Ok(()) }
    }

    fn key(&mut self, field: &Field) -> fmt::Result {
        let open = if std::mem::take(&mut self.first) { "\"" } else { ",\"" };
        self.out.write_str(open)?;
        Escaped(self.out).write_str(field.name())?;
        self.out.write_str("\":")
    }

    fn pair(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.out));
        }
    }
}

impl<W: fmt::Write> Visit for Pairs<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field, |out| write_str(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.pair(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.pair(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value}")?;
            out.write_char('"')
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, |out| out.write_str(if value { "true" } else { "false" }));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // Debug keeps a decimal point or an exponent (`2.0`, as serde_json writes it). JSON has no NaN or infinity;
        // serde_json writes null for them too.
        self.pair(field, |out| if value.is_finite() { write!(out, "{value:?}") } else { out.write_str("null") });
    }
}

/// A JSON string literal of `value`.
fn write_str(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string (as serde_json does: quote, backslash and control
/// characters).
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Almost every value needs no escape: look for one without branching on each byte, then copy in one piece.
        if !text.bytes().fold(false, |found, byte| found | needs_escape(byte)) {
            return self.0.write_str(text);
        }
        let mut plain = 0;
        for (at, byte) in text.bytes().enumerate().filter(|&(_, byte)| needs_escape(byte)) {
            self.0.write_str(&text[plain..at])?;
            match byte {
                b'"' => self.0.write_str("\\\""),
                b'\\' => self.0.write_str("\\\\"),
                b'\n' => self.0.write_str("\\n"),
                b'\r' => self.0.write_str("\\r"),
                b'\t' => self.0.write_str("\\t"),
                0x08 => self.0.write_str("\\b"),
                0x0c => self.0.write_str("\\f"),
                _ => write!(self.0, "\\u{byte:04x}"),
            }?;
            plain = at + 1;
        }
        self.0.write_str(&text[plain..])
    }
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// A span's fields as one JSON object, for the JSON event formatter's `span` (which parses them back as JSON).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        writer.write_char('{')?;
        let mut pairs = Pairs::new(&mut writer, true);
        fields.record(&mut pairs);
        pairs.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.is_empty() {
            return self.format_fields(current.as_writer(), fields);
        }
        // Reopen the object. A field recorded again appears twice; the later value wins when it is read back.
        let first = current.fields == "{}";
        current.fields.pop();
        let mut pairs = Pairs::new(&mut current.fields, first);
        fields.record(&mut pairs);
        pairs.result?;
        current.fields.push('}');
        Ok(())
    }
}

/// Access-log lines: each event as one JSON line, without its span (the line names its request itself).
pub(crate) struct AccessLines<W> {
    writer: W,
}

impl<W> AccessLines<W> {
    pub(crate) fn new(writer: W) -> Self {
        Self { writer }
    }
}

thread_local! {
    /// Each thread's line buffer, kept between lines so that a line costs no allocation.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, W> tracing_subscriber::Layer<S> for AccessLines<W>
where
    S: tracing::Subscriber,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        LINE.with(|line| {
            // Taken already only if writing a line logged another: that one is written from its own buffer.
            let mut own = String::new();
            let mut borrowed = line.try_borrow_mut();
            let line = match borrowed.as_deref_mut() {
                Ok(line) => line,
                Err(_) => &mut own,
            };
            line.clear();
            if format_line(line, event).is_ok() {
                let _ = self.writer.make_writer_for(event.metadata()).write_all(line.as_bytes());
            }
        });
    }
}

/// `{"timestamp":…,"level":…,<fields>,"target":…}` and a newline, as tracing-subscriber's flattened JSON.
fn format_line(line: &mut String, event: &tracing::Event<'_>) -> fmt::Result {
    let metadata = event.metadata();
    line.push_str("{\"timestamp\":\"");
    timestamp(line)?;
    write!(line, "\",\"level\":\"{}\"", metadata.level())?;
    let mut pairs = Pairs::new(line, false);
    event.record(&mut pairs);
    pairs.result?;
    line.push_str(",\"target\":");
    write_str(line, metadata.target())?;
    line.push_str("}\n");
    Ok(())
}

thread_local! {
    /// The second this thread last wrote a timestamp for, and that timestamp up to its fraction.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Now, as tracing-subscriber's `SystemTime` writes it (RFC 3339, UTC, microseconds: `2026-12-02T13:40:00.123456Z`),
/// with the date and time of day formatted once a second per thread.
fn timestamp(line: &mut String) -> fmt::Result {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = now.as_secs();
    SECOND.with(|second| {
        let mut own = (u64::MAX, String::new());
        let mut borrowed = second.try_borrow_mut();
        let (at, prefix) = match borrowed.as_deref_mut() {
            Ok(cached) => cached,
            Err(_) => &mut own,
        };
        if *at != seconds {
            prefix.clear();
            date_and_time(prefix, seconds)?;
            *at = seconds;
        }
        write!(line, "{prefix}.{:06}Z", now.subsec_micros())
    })
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of `seconds` since the Unix epoch: the civil date of a day count, after Howard
/// Hinnant's `civil_from_days`.
fn date_and_time(out: &mut String, seconds: u64) -> fmt::Result {
    let (days, time) = (seconds / 86_400, seconds % 86_400);
    // Days since 0000-03-01, in 400-year eras of 146,097 days.
    let shifted = days + 719_468;
    let (era, day_of_era) = (shifted / 146_097, shifted % 146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    write!(out, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", time / 3_600, time % 3_600 / 60, time % 60)
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::time::FormatTime;

    use super::*;

    #[test]
    fn strings_are_escaped_as_json_requires() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}e\u{7f}é").unwrap();
        assert_eq!(out, r#""a\"b\\c\nd\u0001e"#.to_owned() + "\u{7f}é\"");
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}e\u{7f}é");
        let mut plain = String::new();
        write_str(&mut plain, "nothing to escape").unwrap();
        assert_eq!(plain, "\"nothing to escape\"");
    }

    #[test]
    fn dates_are_civil_utc_dates() {
        for (seconds, expected) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_709_251_199, "2024-02-29T23:59:59"),
            (1_796_217_785, "2026-12-02T13:23:05"),
            (4_107_542_400, "2100-03-01T00:00:00"),
        ] {
            let mut out = String::new();
            date_and_time(&mut out, seconds).unwrap();
            assert_eq!(out, expected, "{seconds}");
        }
    }

    #[test]
    fn timestamps_match_tracing_subscribers_to_the_second() {
        let mut ours = String::new();
        timestamp(&mut ours).unwrap();
        let mut theirs = String::new();
        tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut theirs)).unwrap();
        assert_eq!(ours.len(), "2026-12-02T13:40:00.123456Z".len(), "{ours}");
        assert!(ours.ends_with('Z') && ours.as_bytes()[19] == b'.', "{ours}");
        // The same second, unless the clock ticked over between the two.
        assert!(ours[..19] == theirs[..19] || ours[..17] == theirs[..17], "{ours} {theirs}");
        let mut again = String::new();
        timestamp(&mut again).unwrap();
        assert!(again >= ours, "{again} {ours}");
    }
}
