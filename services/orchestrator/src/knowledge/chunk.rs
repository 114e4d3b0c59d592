//! Splitting a document into chunks for retrieval.
//!
//! A chunk is what a question retrieves and an answer quotes, so it should hold one idea with its context:
//! - Markdown headings (`#` to `######`, outside fenced code) start a new section; a chunk never spans two
//!   sections, and carries its section's heading path (`Returns > Damaged items`) as its label.
//! - Within a section, blank-line-separated paragraphs are packed into chunks of at most [`MAX_CHARS`] characters.
//! - A paragraph longer than that is cut at sentence ends, else at spaces, else anywhere (on a character boundary).
//! - Consecutive chunks of a section overlap by up to [`OVERLAP_CHARS`] characters (the tail of the previous chunk,
//!   from a word start), so a sentence cut at a boundary is still whole in one of them.
//!
//! Plain text is the same without headings. Chunk texts are trimmed and never empty.

/// Longest chunk, in characters (about 300 tokens: room for several chunks in a model's prompt).
pub(crate) const MAX_CHARS: usize = 1200;
/// How much of the previous chunk of the same section a chunk repeats, at most, in characters.
pub(crate) const OVERLAP_CHARS: usize = 200;

/// One chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// The heading path it sits under, or empty.
    pub(crate) heading: String,
    /// Its text.
    pub(crate) text: String,
}

/// A Markdown heading line's level and text.
fn heading(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim_start();
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.bytes().take_while(|b| *b == b'#').count();
    let rest = &trimmed[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim();
    Some((level, text.to_owned()))
}

/// The sections of `text`: (heading path, paragraphs).
fn sections(text: &str, markdown: bool) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut fenced = false;
    let flush = |paragraph: &mut Vec<&str>, sections: &mut Vec<(String, Vec<String>)>| {
        let joined = paragraph.join("\n");
        let joined = joined.trim();
        if !joined.is_empty()
            && let Some((_, paragraphs)) = sections.last_mut()
        {
            paragraphs.push(joined.to_owned());
        }
        paragraph.clear();
    };
    for line in text.lines() {
        if markdown && line.trim_start().starts_with("```") {
            fenced = !fenced;
            paragraph.push(line);
            continue;
        }
        if markdown
            && !fenced
            && let Some((level, title)) = heading(line)
        {
            flush(&mut paragraph, &mut sections);
            path.retain(|(l, _)| *l < level);
            if !title.is_empty() {
                path.push((level, title));
            }
            let label = path.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(" > ");
            sections.push((label, Vec::new()));
            continue;
        }
        if line.trim().is_empty() && !fenced {
            flush(&mut paragraph, &mut sections);
        } else {
            paragraph.push(line);
        }
    }
    flush(&mut paragraph, &mut sections);
    sections.retain(|(_, paragraphs)| !paragraphs.is_empty());
    sections
}

/// The byte index of the `n`th character of `s` (or its length).
fn char_index(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Cuts `text` (longer than `max` characters) into pieces of at most `max` characters: at the last sentence end
/// before the limit, else the last space, else at the limit.
fn split_long(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > max {
        let limit = char_index(rest, max);
        let window = &rest[..limit];
        let sentence = window
            .char_indices()
            .rev()
            .find(|(i, c)| matches!(c, '.' | '!' | '?') && window[*i + c.len_utf8()..].starts_with(char::is_whitespace))
            .map(|(i, c)| i + c.len_utf8())
            .filter(|at| *at > limit / 3);
        let cut = sentence.or_else(|| window.rfind(char::is_whitespace).filter(|at| *at > 0)).unwrap_or(limit);
        pieces.push(rest[..cut].trim().to_owned());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// The last `overlap` characters of `text` or fewer, starting at a word.
fn tail(text: &str, overlap: usize) -> &str {
    let count = text.chars().count();
    if count <= overlap {
        return text;
    }
    let start = char_index(text, count - overlap);
    let tail = &text[start..];
    match tail.find(char::is_whitespace) {
        Some(space) => tail[space..].trim_start(),
        None => tail,
    }
}

/// Splits `text` into chunks (see the module doc); `markdown` turns heading detection on.
pub(crate) fn split(text: &str, markdown: bool) -> Vec<Chunk> {
    split_with(text, markdown, MAX_CHARS, OVERLAP_CHARS)
}

fn split_with(text: &str, markdown: bool, max: usize, overlap: usize) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for (heading, paragraphs) in sections(text, markdown) {
        // Room for the overlap carried into each new chunk, and the blank line after it.
        let body = max.saturating_sub(overlap + 2).max(1);
        let pieces: Vec<String> = paragraphs.iter().flat_map(|p| split_long(p, body)).collect();
        let mut current = String::new();
        for piece in pieces {
            let length = current.chars().count() + piece.chars().count() + 2;
            if !current.is_empty() && length > max {
                let carried = tail(&current, overlap).to_owned();
                chunks.push(Chunk { heading: heading.clone(), text: std::mem::take(&mut current) });
                current = carried;
            }
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(&piece);
        }
        if !current.trim().is_empty() {
            chunks.push(Chunk { heading: heading.clone(), text: current.trim().to_owned() });
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_start_chunks_and_label_them() {
        let text = "Intro line.\n\n# Returns\n\nWithin 30 days.\n\n## Damaged items\n\nSend a photo.\n\n# Shipping\nTwo \
                    days.\n\n```\n# not a heading\n```\n";
        let chunks = split(text, true);
        let labels: Vec<&str> = chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(labels, ["", "Returns", "Returns > Damaged items", "Shipping"]);
        assert_eq!(chunks[2].text, "Send a photo.");
        assert!(chunks[3].text.contains("# not a heading"), "fenced code is text: {:?}", chunks[3]);
        let plain = split(text, false);
        assert!(plain.iter().all(|c| c.heading.is_empty()));
        assert!(plain.iter().any(|c| c.text.contains("# Returns")));
    }

    #[test]
    fn long_sections_are_capped_and_overlap() {
        let sentence = "The quick brown fox jumps over the lazy dog again and again. ";
        let paragraph = sentence.repeat(12);
        let text = format!("# Long\n\n{paragraph}\n\n{paragraph}\n\n{}", "x".repeat(3000));
        let chunks = split_with(&text, true, 300, 60);
        assert!(chunks.len() > 5);
        for chunk in &chunks {
            assert!(chunk.text.chars().count() <= 300, "{} chars", chunk.text.chars().count());
            assert!(!chunk.text.is_empty());
            assert_eq!(chunk.heading, "Long");
        }
        // Each chunk after the first of a section starts with the end of the one before.
        let (a, b) = (&chunks[0].text, &chunks[1].text);
        let head: String = b.chars().take(20).collect();
        assert!(a.contains(&head), "{a:?} / {b:?}");
        // Nothing is lost: every sentence of the input is in some chunk.
        assert!(chunks.iter().map(|c| c.text.matches("lazy dog").count()).sum::<usize>() >= 24);
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let text = "é".repeat(2500);
        let chunks = split(&text, false);
        assert!(chunks.len() >= 3);
        assert!(chunks.iter().all(|c| c.text.chars().count() <= MAX_CHARS));
        assert!(split("   \n\n  ", true).is_empty());
    }
}
