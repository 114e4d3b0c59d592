//! The character reader both parsers share: it tracks the 1-based column errors report and describes what it
//! finds, so every "expected …" message ends with the same "(found …)".

use crate::{FilterError, MAX_INPUT_BYTES};

/// A position in the input, read by characters so columns count what a person sees.
pub(crate) struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    /// A cursor at the start of `input`, which is rejected (at position 1) when over the size limit; `what`
    /// names the input in that message.
    pub(crate) fn new(input: &str, what: &str) -> Result<Self, FilterError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(FilterError::at(
                0,
                format!("{what} is {} bytes long; at most {MAX_INPUT_BYTES} bytes are allowed", input.len()),
            ));
        }
        Ok(Self { chars: input.chars().collect(), pos: 0 })
    }

    /// The 0-based index of the next character.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(crate) fn advance(&mut self, count: usize) {
        self.pos = (self.pos + count).min(self.chars.len());
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    pub(crate) fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes the longest run of characters satisfying `keep`.
    pub(crate) fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars.get(start..self.pos).unwrap_or_default().iter().collect()
    }

    /// Whether `word` is next as a whole word, not the start of a longer name (`AND` but not `ANDROID`).
    pub(crate) fn at_word(&self, word: &str) -> bool {
        let mut index = self.pos;
        for expected in word.chars() {
            if self.chars.get(index) != Some(&expected) {
                return false;
            }
            index += 1;
        }
        !self.chars.get(index).is_some_and(|&c| is_word_char(c) || c == '.')
    }

    /// What is at the cursor, for the "(found …)" part of messages: a whole word, a string or one character.
    pub(crate) fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_owned(),
            Some('"' | '\'') => "a quoted string".to_owned(),
            Some(c) if is_word_char(c) => {
                let word: String =
                    self.chars.iter().skip(self.pos).take_while(|&&c| is_word_char(c)).take(40).collect();
                format!("'{word}'")
            }
            Some(c) => format!("'{c}'"),
        }
    }

    /// An error at the cursor.
    pub(crate) fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError::at(self.pos, message)
    }
}

/// Characters of names: path segments, keywords, `asc`/`desc`.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_must_be_whole() {
        let cursor = Cursor::new("AND(x", "filter").unwrap();
        assert!(cursor.at_word("AND"));
        for input in ["ANDROID", "AND.x", "AN", "and", "AND_"] {
            assert!(!Cursor::new(input, "filter").unwrap().at_word("AND"), "{input}");
        }
    }

    #[test]
    fn found_describes_the_next_token() {
        let mut cursor = Cursor::new("ab.c \"s\" ) é", "filter").unwrap();
        assert_eq!(cursor.found(), "'ab'");
        cursor.advance(2);
        assert_eq!(cursor.found(), "'.'");
        cursor.advance(3);
        assert_eq!(cursor.found(), "a quoted string");
        cursor.advance(4);
        assert_eq!(cursor.found(), "')'");
        cursor.advance(2);
        assert_eq!(cursor.found(), "'é'");
        cursor.advance(5);
        assert_eq!(cursor.found(), "end of input");
        assert_eq!(cursor.error("x").position, 13);
    }

    #[test]
    fn oversized_input_is_rejected_at_position_1() {
        assert!(Cursor::new(&"a".repeat(MAX_INPUT_BYTES), "filter").is_ok());
        let error = Cursor::new(&"a".repeat(MAX_INPUT_BYTES + 1), "filter").err().unwrap();
        assert_eq!(error.position, 1);
        assert_eq!(error.message, "filter is 8193 bytes long; at most 8192 bytes are allowed");
    }
}
