//! Path templates of gRPC↔HTTP/JSON transcoding, as defined by the `google.api.http` annotation.
//!
//! A template such as `/v1/{name=tenants/*/users/*}:disable` is parsed once, from configuration, into a
//! [`PathTemplate`]; each HTTP request path is then matched against it with [`PathTemplate::matches`], which
//! yields the field paths bound by the template's variables and their (percent-decoded) values.
//!
//! The grammar is the one of `google/api/http.proto`:
//!
//! ```text
//! Template  = "/" Segments [ Verb ] ;
//! Segments  = Segment { "/" Segment } ;
//! Segment   = "*" | "**" | LITERAL | Variable ;
//! Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb      = ":" LITERAL ;
//! ```
//!
//! with `{var}` meaning `{var=*}`, no variable inside another, at most one `**`, and nothing but literal
//! segments after the `**` (so `/a/{x=**}/c` is accepted, `/a/**/{y}` is not). `IDENT` is
//! `[A-Za-z_][A-Za-z0-9_]*`. A `LITERAL` is a non-empty run of RFC 3986 path characters other than `:` and
//! `*` (letters, digits, `-._~!$&'()+,;=@` and `%XX` escapes).
//!
//! Matching rules:
//! - the raw request path is split on `/` before any percent-decoding, so `%2F` is never a separator;
//! - literal segments (and the custom verb) are compared with the raw segment, without decoding;
//! - `*` matches exactly one non-empty segment, `**` zero or more non-empty segments; an empty segment
//!   (`//` or a trailing `/`) never matches;
//! - a variable spanning one segment (`{x}`, `{x=*}`) binds the fully decoded segment (`%2F` becomes `/`);
//!   a variable whose pattern has several segments or a `**` binds its segments joined with `/`, each decoded
//!   except for `%2F`/`%2f`, which are kept as written; `+` is never turned into a space;
//! - an invalid escape (`%zz`, a truncated `%4`) or escapes that decode to invalid UTF-8 make the path not
//!   match;
//! - a template with a verb matches only a path ending in `:<verb>` (the text after the last `:` of the last
//!   segment), which is stripped before matching; a template without a verb strips nothing, so a `:` in the
//!   last segment is part of that segment.
//!
//! Several templates can match one request (`/person/{id}` and `/{x=**}:verb` both match
//! `/person/jason:verb`): the caller picks the one with the greatest [`PathTemplate::specificity`].

use std::fmt;
use std::str::FromStr;

/// One segment of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text that must equal the raw request segment.
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Wildcard,
    /// `**`: zero or more non-empty segments.
    DoubleWildcard,
}

impl Segment {
    /// The segment as written in a template.
    fn as_text(&self) -> &str {
        match self {
            Self::Literal(text) => text.as_str(),
            Self::Wildcard => "*",
            Self::DoubleWildcard => "**",
        }
    }
}

/// A variable of a parsed template: the field path it binds and the template segments it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Variable {
    /// Dotted field path, e.g. `sub.subfield`.
    field_path: String,
    /// First template segment of the variable.
    start: usize,
    /// One past the last template segment of the variable (always greater than `start`).
    end: usize,
    /// Whether the pattern has several segments or a `**`: such values keep `%2F` escaped.
    multi_segment: bool,
}

/// A parsed template, e.g. `/v1/{name=tenants/*/users/*}:disable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
    /// Index in `segments` of the `**`, if any.
    double_wildcard: Option<usize>,
    /// `/` and the leading literal segments, as every matching request path begins (literals compare raw): a
    /// route table tries each route's template in turn, and this turns most away before any work.
    literal_prefix: String,
}

/// Why a template could not be parsed: the byte offset in the template and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    template: String,
    position: usize,
    message: String,
}

impl TemplateError {
    /// Byte offset in the template where the problem was found (the template's length for "ended too early").
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The template that failed to parse.
    pub fn template(&self) -> &str {
        &self.template
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid path template {:?} at byte offset {}: {}", self.template, self.position, self.message)
    }
}

impl std::error::Error for TemplateError {}

/// How specific a template is, for choosing among several templates that match the same request: the
/// greatest wins. Compared field by field: having a custom verb first (a request ending in `:verb` is a call
/// of that verb, not a segment containing a colon), then the number of literal segments, then not having a
/// `**`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Specificity {
    has_verb: bool,
    literals: usize,
    no_double_wildcard: bool,
}

impl Specificity {
    /// Whether the template has a custom verb.
    pub fn has_verb(&self) -> bool {
        self.has_verb
    }

    /// The template's [`PathTemplate::literal_count`].
    pub fn literals(&self) -> usize {
        self.literals
    }

    /// Whether the template has no `**`.
    pub fn no_double_wildcard(&self) -> bool {
        self.no_double_wildcard
    }
}

impl PathTemplate {
    /// Parses a template; the error names the byte offset of the first problem.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        Parser::new(template).parse_template()
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The field paths bound by variables, in order (e.g. `["name"]` or `["message_id", "sub.subfield"]`).
    pub fn variables(&self) -> Vec<&str> {
        self.variables.iter().map(|v| v.field_path.as_str()).collect()
    }

    /// The custom verb (the text after `:`), if the template has one.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// Number of literal segments, including those inside variable patterns (`tenants` in
    /// `{name=tenants/*}`); the verb is not counted. Used to rank competing templates (more literals = more
    /// specific); see [`PathTemplate::specificity`] for the full ordering.
    pub fn literal_count(&self) -> usize {
        self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count()
    }

    /// The ranking key for competing templates that all match a request: the greatest is the one to use.
    pub fn specificity(&self) -> Specificity {
        Specificity {
            has_verb: self.verb.is_some(),
            literals: self.literal_count(),
            no_double_wildcard: self.double_wildcard.is_none(),
        }
    }

    /// Matches a request path (the raw, still percent-encoded path, without query string). Returns the
    /// variable bindings as `(field path, value)` in template order, values percent-decoded as described in
    /// the module documentation, or `None` when the path does not match (including a path that does not
    /// start with `/`, contains `?` or `#`, or holds an invalid percent-escape in a wildcard segment).
    #[must_use]
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        if !path.starts_with(&self.literal_prefix) || path.contains(['?', '#']) {
            return None;
        }
        let path = match &self.verb {
            Some(verb) => path.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => path,
        };
        let rest = path.strip_prefix('/')?;
        let request: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('/').collect() };
        if request.iter().any(|segment| segment.is_empty()) {
            return None;
        }

        // With a `**`, the request segments it takes are whatever the other (single-segment) ones leave.
        let taken = match self.double_wildcard {
            Some(_) => request.len().checked_sub(self.segments.len().saturating_sub(1))?,
            None if request.len() == self.segments.len() => 1,
            None => return None,
        };

        for (index, segment) in self.segments.iter().enumerate() {
            let parts = request.get(self.boundary(index, taken)..self.boundary(index + 1, taken))?;
            match segment {
                Segment::Literal(literal) => {
                    if parts != [literal.as_str()] {
                        return None;
                    }
                }
                Segment::Wildcard | Segment::DoubleWildcard => {
                    for part in parts {
                        percent_decode(part, false)?;
                    }
                }
            }
        }

        let mut bindings = Vec::with_capacity(self.variables.len());
        for variable in &self.variables {
            let parts = request.get(self.boundary(variable.start, taken)..self.boundary(variable.end, taken))?;
            let mut value = String::new();
            for (index, part) in parts.iter().enumerate() {
                if index > 0 {
                    value.push('/');
                }
                value.push_str(&percent_decode(part, variable.multi_segment)?);
            }
            bindings.push((variable.field_path.clone(), value));
        }
        Some(bindings)
    }

    /// The template rendered as an OpenAPI path: each variable becomes a `{field.path}` parameter, whatever
    /// its pattern (`/v1/{name=tenants/*}:cancel` renders as `/v1/{name}:cancel`; the pattern is available
    /// from [`PathTemplate::variable_pattern`]). Wildcards outside variables, which OpenAPI cannot express,
    /// are rendered as written (`*`, `**`).
    pub fn openapi_path(&self) -> String {
        let mut out = String::with_capacity(self.source.len());
        let mut index = 0;
        while let Some(segment) = self.segments.get(index) {
            out.push('/');
            match self.variables.iter().find(|v| v.start == index) {
                Some(variable) => {
                    out.push('{');
                    out.push_str(&variable.field_path);
                    out.push('}');
                    index = variable.end;
                }
                None => {
                    out.push_str(segment.as_text());
                    index += 1;
                }
            }
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// For a variable, the segment pattern it must match, as text (e.g. `tenants/*`, `*` or `**`); `None` if
    /// no variable binds `field_path`.
    pub fn variable_pattern(&self, field_path: &str) -> Option<String> {
        let variable = self.variables.iter().find(|v| v.field_path == field_path)?;
        let segments = self.segments.get(variable.start..variable.end)?;
        Some(segments.iter().map(Segment::as_text).collect::<Vec<_>>().join("/"))
    }

    /// Whether the variable binding `field_path` spans several segments (its value keeps `%2F` escaped);
    /// `None` if no variable binds `field_path`.
    pub fn is_multi_segment(&self, field_path: &str) -> Option<bool> {
        self.variables.iter().find(|v| v.field_path == field_path).map(|v| v.multi_segment)
    }

    /// Maps a boundary between template segments to the boundary between request segments, given how many
    /// request segments the `**` (if any) takes.
    fn boundary(&self, template_boundary: usize, taken: usize) -> usize {
        match self.double_wildcard {
            Some(wildcard) if template_boundary > wildcard => template_boundary - 1 + taken,
            _ => template_boundary,
        }
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for PathTemplate {
    type Err = TemplateError;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        Self::parse(template)
    }
}

/// Percent-decodes one raw path segment. `+` is kept as `+`. With `keep_reserved_slash`, `%2F` and `%2f` are
/// left as written (the rule for variables spanning several segments). Returns `None` for an invalid escape
/// (`%` not followed by two hex digits) or when the decoded bytes are not UTF-8.
pub fn percent_decode(segment: &str, keep_reserved_slash: bool) -> Option<String> {
    if !segment.contains('%') {
        return Some(segment.to_owned());
    }
    let mut out = Vec::with_capacity(segment.len());
    let mut bytes = segment.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let high = bytes.next()?;
        let low = bytes.next()?;
        let decoded = (hex_value(high)? << 4) | hex_value(low)?;
        if keep_reserved_slash && decoded == b'/' {
            out.extend_from_slice(&[b'%', high, low]);
        } else {
            out.push(decoded);
        }
    }
    String::from_utf8(out).ok()
}

/// The value of an ASCII hex digit.
const fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Whether a byte may appear in a template literal as itself (`%` escapes are handled separately).
const fn is_literal_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'+' | b',' | b';' | b'=' | b'@'
        )
}

/// Recursive-descent parser over the template's bytes. `pos` only ever advances over ASCII bytes, so it
/// always sits on a character boundary.
struct Parser<'a> {
    template: &'a str,
    bytes: &'a [u8],
    pos: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    double_wildcard: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(template: &'a str) -> Self {
        Self {
            template,
            bytes: template.as_bytes(),
            pos: 0,
            segments: Vec::new(),
            variables: Vec::new(),
            double_wildcard: None,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn error(&self, position: usize, message: impl Into<String>) -> TemplateError {
        TemplateError { template: self.template.to_owned(), position, message: message.into() }
    }

    /// The character at `position`, quoted, for error messages.
    fn describe(&self, position: usize) -> String {
        match self.template.get(position..).map(|rest| rest.chars().next()) {
            Some(Some(c)) => format!("{c:?}"),
            Some(None) => "the end of the template".to_owned(),
            None => "a non-ASCII character".to_owned(),
        }
    }

    /// `Template = "/" Segments [ Verb ] ;`
    fn parse_template(mut self) -> Result<PathTemplate, TemplateError> {
        if self.peek() != Some(b'/') {
            return Err(self.error(0, "a template must start with '/'"));
        }
        self.pos += 1;
        self.parse_segments(false)?;
        let verb = if self.peek() == Some(b':') {
            self.pos += 1;
            let start = self.pos;
            let verb = self.parse_literal()?;
            if verb.is_empty() {
                return Err(
                    self.error(start, format!("expected a custom verb after ':', found {}", self.describe(start)))
                );
            }
            Some(verb)
        } else {
            None
        };
        if self.peek().is_some() {
            let message = match verb {
                Some(_) => format!("unexpected {} after the custom verb", self.describe(self.pos)),
                None => format!("unexpected {}", self.describe(self.pos)),
            };
            return Err(self.error(self.pos, message));
        }
        let literals: Vec<&str> = self
            .segments
            .iter()
            .map_while(|segment| match segment {
                Segment::Literal(literal) => Some(literal.as_str()),
                Segment::Wildcard | Segment::DoubleWildcard => None,
            })
            .collect();
        let literal_prefix = format!("/{}", literals.join("/"));
        Ok(PathTemplate {
            source: self.template.to_owned(),
            segments: self.segments,
            variables: self.variables,
            verb,
            double_wildcard: self.double_wildcard,
            literal_prefix,
        })
    }

    /// `Segments = Segment { "/" Segment } ;` stops before ':' (top level) or '}' (in a variable) or at the end.
    fn parse_segments(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        loop {
            self.parse_segment(in_variable)?;
            let message = match self.peek() {
                Some(b'/') => {
                    self.pos += 1;
                    continue;
                }
                None => return Ok(()),
                Some(b':') if !in_variable => return Ok(()),
                Some(b'}') if in_variable => return Ok(()),
                Some(b':') => "a custom verb cannot appear inside a variable".to_owned(),
                Some(b'}') => "unmatched '}'".to_owned(),
                Some(b'{') => "a variable must be a whole segment".to_owned(),
                Some(b'*') => "'*' and '**' must be whole segments".to_owned(),
                Some(b'%') => "invalid percent-escape in a literal".to_owned(),
                Some(_) => format!("unexpected {}", self.describe(self.pos)),
            };
            return Err(self.error(self.pos, message));
        }
    }

    /// `Segment = "*" | "**" | LITERAL | Variable ;`
    fn parse_segment(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        let start = self.pos;
        match self.peek() {
            None | Some(b'/') => Err(self.error(start, "empty segment")),
            Some(b'}') if in_variable => Err(self.error(start, "empty segment")),
            Some(b'}') => Err(self.error(start, "unmatched '}'")),
            Some(b':') => Err(self.error(start, "empty segment before ':'")),
            Some(b'*') => {
                self.pos += 1;
                if self.peek() == Some(b'*') {
                    self.pos += 1;
                    if self.double_wildcard.is_some() {
                        return Err(self.error(start, "'**' may appear only once in a template"));
                    }
                    self.double_wildcard = Some(self.segments.len());
                    self.segments.push(Segment::DoubleWildcard);
                } else {
                    self.only_literals_after_double_wildcard(start)?;
                    self.segments.push(Segment::Wildcard);
                }
                Ok(())
            }
            Some(b'{') if in_variable => Err(self.error(start, "a variable cannot contain another variable")),
            Some(b'{') => {
                self.only_literals_after_double_wildcard(start)?;
                self.parse_variable()
            }
            Some(_) => {
                let literal = self.parse_literal()?;
                if literal.is_empty() {
                    return Err(self.error(start, format!("unexpected {}", self.describe(start))));
                }
                self.segments.push(Segment::Literal(literal));
                Ok(())
            }
        }
    }

    /// Only literal segments may follow the `**`: anything else would make matching ambiguous.
    fn only_literals_after_double_wildcard(&self, position: usize) -> Result<(), TemplateError> {
        match self.double_wildcard {
            Some(_) => Err(self.error(position, "'**' must be the last segment: only literal segments may follow it")),
            None => Ok(()),
        }
    }

    /// `Variable = "{" FieldPath [ "=" Segments ] "}" ;`
    fn parse_variable(&mut self) -> Result<(), TemplateError> {
        let open = self.pos;
        self.pos += 1;
        let field_path = self.parse_field_path()?;
        if let Some(earlier) = self.variables.iter().find(|v| paths_overlap(&v.field_path, &field_path)) {
            let message =
                format!("field path {field_path:?} overlaps {:?}, bound by an earlier variable", earlier.field_path);
            return Err(self.error(open + 1, message));
        }
        let start = self.segments.len();
        match self.peek() {
            Some(b'=') => {
                self.pos += 1;
                self.parse_segments(true)?;
            }
            Some(b'}') => self.segments.push(Segment::Wildcard),
            None => return Err(self.error(open, "unclosed '{'")),
            Some(_) => {
                let message = format!("unexpected {} in a variable, expected '=' or '}}'", self.describe(self.pos));
                return Err(self.error(self.pos, message));
            }
        }
        if self.peek() != Some(b'}') {
            return Err(self.error(open, "unclosed '{'"));
        }
        self.pos += 1;
        let end = self.segments.len();
        let multi_segment = end - start > 1 || self.double_wildcard.is_some_and(|d| (start..end).contains(&d));
        self.variables.push(Variable { field_path, start, end, multi_segment });
        Ok(())
    }

    /// `FieldPath = IDENT { "." IDENT } ;` with `IDENT = [A-Za-z_][A-Za-z0-9_]*`.
    fn parse_field_path(&mut self) -> Result<String, TemplateError> {
        let mut path = String::new();
        loop {
            let start = self.pos;
            match self.peek() {
                Some(byte) if byte.is_ascii_alphabetic() || byte == b'_' => {}
                Some(byte) if byte.is_ascii_digit() => {
                    let message =
                        format!("a field name must start with a letter or '_', found {}", self.describe(start));
                    return Err(self.error(start, message));
                }
                _ => return Err(self.error(start, format!("expected a field name, found {}", self.describe(start)))),
            }
            while let Some(byte) = self.peek().filter(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                path.push(char::from(byte));
                self.pos += 1;
            }
            if self.peek() != Some(b'.') {
                return Ok(path);
            }
            path.push('.');
            self.pos += 1;
        }
    }

    /// LITERAL: the longest run of literal characters and `%XX` escapes (possibly empty).
    fn parse_literal(&mut self) -> Result<String, TemplateError> {
        let mut literal = String::new();
        while let Some(byte) = self.peek() {
            if byte == b'%' {
                let high = self.bytes.get(self.pos + 1).copied().filter(u8::is_ascii_hexdigit);
                let low = self.bytes.get(self.pos + 2).copied().filter(u8::is_ascii_hexdigit);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(self.error(
                        self.pos,
                        "invalid percent-escape in a literal: '%' must be followed by two hex digits",
                    ));
                };
                literal.push('%');
                literal.push(char::from(high));
                literal.push(char::from(low));
                self.pos += 3;
            } else if is_literal_byte(byte) {
                literal.push(char::from(byte));
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(literal)
    }
}

/// Whether two field paths are equal or one is a parent of the other (`a` and `a.b`): both cannot be bound.
fn paths_overlap(a: &str, b: &str) -> bool {
    fn is_parent(parent: &str, child: &str) -> bool {
        child.strip_prefix(parent).is_some_and(|rest| rest.starts_with('.'))
    }
    a == b || is_parent(a, b) || is_parent(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> PathTemplate {
        match PathTemplate::parse(text) {
            Ok(parsed) => parsed,
            Err(error) => panic!("{error}"),
        }
    }

    fn bindings(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    fn parse_error(text: &str) -> TemplateError {
        match PathTemplate::parse(text) {
            Ok(parsed) => panic!("{text:?} parsed as {parsed:?}"),
            Err(error) => error,
        }
    }

    fn assert_error(text: &str, position: usize, fragment: &str) {
        let error = parse_error(text);
        assert_eq!(error.position(), position, "{error}");
        assert!(error.message().contains(fragment), "{error} should mention {fragment:?}");
        assert!(error.to_string().contains(&format!("at byte offset {position}")), "{error}");
        assert_eq!(error.template(), text);
    }

    #[test]
    fn parse_error_missing_leading_slash() {
        assert_error("v1/messages", 0, "start with '/'");
        assert_error("", 0, "start with '/'");
    }

    #[test]
    fn parse_error_unclosed_brace() {
        assert_error("/v1/{name", 4, "unclosed '{'");
        assert_error("/v1/{name=messages/*", 4, "unclosed '{'");
        assert_error("/v1/{name=", 10, "empty segment");
        assert_error("/v1/{name x}", 9, "expected '=' or '}'");
    }

    #[test]
    fn parse_error_nested_variable() {
        assert_error("/v1/{a={b}}", 7, "cannot contain another variable");
        assert_error("/v1/{a=x/{b=*}}", 9, "cannot contain another variable");
    }

    #[test]
    fn parse_error_double_wildcard_not_last() {
        assert_error("/v1/**/{b}", 7, "'**' must be the last segment");
        assert_error("/v1/{a=**}/*", 11, "'**' must be the last segment");
        assert_error("/v1/{a=**/*}", 10, "'**' must be the last segment");
    }

    #[test]
    fn parse_error_two_double_wildcards() {
        assert_error("/a/**/**", 6, "only once");
        assert_error("/a/{x=**}/**", 10, "only once");
    }

    #[test]
    fn parse_error_empty_segment() {
        assert_error("//", 1, "empty segment");
        assert_error("/", 1, "empty segment");
        assert_error("/a//b", 3, "empty segment");
        assert_error("/a/", 3, "empty segment");
        assert_error("/v1/{name=a//b}", 12, "empty segment");
        assert_error("/v1/{name=}", 10, "empty segment");
        assert_error("/:verb", 1, "empty segment before ':'");
    }

    #[test]
    fn parse_error_bad_field_path() {
        assert_error("/{1abc}", 2, "must start with a letter or '_'");
        assert_error("/{a..b}", 4, "expected a field name");
        assert_error("/{a.}", 4, "expected a field name");
        assert_error("/{}", 2, "expected a field name");
        assert_error("/{a-b}", 3, "unexpected '-'");
        assert_error("/v1/{a}/{a}", 9, "overlaps");
        assert_error("/v1/{a}/{a.b}", 9, "overlaps");
    }

    #[test]
    fn parse_error_empty_verb() {
        assert_error("/a:", 3, "expected a custom verb");
        assert_error("/a:b:c", 4, "after the custom verb");
        assert_error("/a:b/c", 4, "after the custom verb");
        assert_error("/v1/{name=a:b}", 11, "inside a variable");
    }

    #[test]
    fn parse_error_bad_literals() {
        assert_error("/a b", 2, "unexpected ' '");
        assert_error("/a*", 2, "whole segments");
        assert_error("/*a", 2, "unexpected 'a'");
        assert_error("/a{b}", 2, "whole segment");
        assert_error("/a%zz", 2, "percent-escape");
        assert_error("/a%4", 2, "percent-escape");
        assert_error("/a}", 2, "unmatched '}'");
        assert_error("/caf\u{e9}", 4, "unexpected '\u{e9}'");
    }

    #[test]
    fn parse_accepts_valid_templates() {
        let parsed = template("/v1/{_a.b_2=shelves/*}/books/{book_id}:list-All_~");
        assert_eq!(parsed.variables(), vec!["_a.b_2", "book_id"]);
        assert_eq!(parsed.verb(), Some("list-All_~"));
        assert_eq!(parsed.as_str(), "/v1/{_a.b_2=shelves/*}/books/{book_id}:list-All_~");
        assert_eq!(parsed.to_string(), parsed.as_str());
        assert_eq!("/v1/{x}".parse::<PathTemplate>(), PathTemplate::parse("/v1/{x}"));
        template("/a/**");
        template("/**:verb");
        template("/a/{x=**}/c/d:verb");
        template("/a%20b/c=d;e@f");
    }

    #[test]
    fn googleapis_single_variable() {
        let parsed = template("/v1/messages/{message_id}");
        assert_eq!(parsed.variables(), vec!["message_id"]);
        assert_eq!(parsed.verb(), None);
        assert_eq!(parsed.matches("/v1/messages/123456"), bindings(&[("message_id", "123456")]));
        assert_eq!(parsed.matches("/v1/messages"), None);
        assert_eq!(parsed.matches("/v1/messages/1/2"), None);
    }

    #[test]
    fn googleapis_nested_field_path() {
        let parsed = template("/v1/messages/{message_id}/{sub.subfield}");
        assert_eq!(parsed.variables(), vec!["message_id", "sub.subfield"]);
        assert_eq!(
            parsed.matches("/v1/messages/123456/foo"),
            bindings(&[("message_id", "123456"), ("sub.subfield", "foo")])
        );
    }

    #[test]
    fn googleapis_multi_segment_variable() {
        let parsed = template("/v1/{name=messages/*}");
        assert_eq!(parsed.matches("/v1/messages/123456"), bindings(&[("name", "messages/123456")]));
        assert_eq!(parsed.matches("/v1/other/123456"), None);
        assert_eq!(parsed.matches("/v1/messages"), None);
    }

    #[test]
    fn googleapis_verb_with_multi_segment_variable() {
        let parsed = template("/v1/{name=tenants/*/users/*}:disable");
        assert_eq!(parsed.verb(), Some("disable"));
        assert_eq!(parsed.matches("/v1/tenants/acme/users/42:disable"), bindings(&[("name", "tenants/acme/users/42")]));
        assert_eq!(parsed.matches("/v1/tenants/acme/users/42"), None);
        assert_eq!(parsed.matches("/v1/tenants/acme/users/42:enable"), None);
        assert_eq!(parsed.matches("/v1/tenants/acme/users/42:disable/x"), None);
        assert_eq!(
            parsed.matches("/v1/tenants/acme/users/4:2:disable"),
            bindings(&[("name", "tenants/acme/users/4:2")])
        );
    }

    #[test]
    fn edge_case_7_single_segment_decodes_everything() {
        let parsed = template("/a/{x}/c");
        assert_eq!(parsed.matches("/a/p%20q%2Fr+/c"), bindings(&[("x", "p q/r+")]));
        assert_eq!(parsed.is_multi_segment("x"), Some(false));
    }

    #[test]
    fn edge_case_8_multi_segment_keeps_escaped_slash() {
        let parsed = template("/a/{x=**}/c");
        assert_eq!(parsed.matches("/a/p/foo%20foo/q/bar%2Fbar+/c"), bindings(&[("x", "p/foo foo/q/bar%2Fbar+")]));
        assert_eq!(parsed.matches("/a/bar%2fbar/c"), bindings(&[("x", "bar%2fbar")]));
        assert_eq!(parsed.is_multi_segment("x"), Some(true));

        let tenants = template("/v1/{name=tenants/*}");
        assert_eq!(tenants.matches("/v1/tenants/a%2Fb%21"), bindings(&[("name", "tenants/a%2Fb!")]));
    }

    #[test]
    fn edge_case_9_custom_verb() {
        let person = template("/person");
        let get_person = template("/person/{id=*}");
        let verb = template("/{x=**}:verb");
        let all = [&person, &get_person, &verb];

        let best = |path: &str| -> Option<(usize, Vec<(String, String)>)> {
            all.iter()
                .enumerate()
                .filter_map(|(index, t)| t.matches(path).map(|b| (index, t.specificity(), b)))
                .max_by_key(|(_, specificity, _)| *specificity)
                .map(|(index, _, b)| (index, b))
        };

        assert_eq!(verb.matches("/person/jason:verb"), bindings(&[("x", "person/jason")]));
        assert_eq!(best("/person/jason:verb"), Some((2, vec![("x".to_owned(), "person/jason".to_owned())])));

        assert_eq!(get_person.matches("/person/jason:other"), bindings(&[("id", "jason:other")]));
        assert_eq!(verb.matches("/person/jason:other"), None);
        assert_eq!(best("/person/jason:other"), Some((1, vec![("id".to_owned(), "jason:other".to_owned())])));

        assert_eq!(person.matches("/person:other"), None);
        assert_eq!(get_person.matches("/person:other"), None);
        assert_eq!(verb.matches("/person:other"), None);
        assert_eq!(best("/person:other"), None);

        assert_eq!(best("/person"), Some((0, vec![])));
    }

    #[test]
    fn edge_case_10_plus_is_not_a_space_in_paths() {
        assert_eq!(percent_decode("Hello%20world", false).as_deref(), Some("Hello world"));
        assert_eq!(percent_decode("Hello+world", false).as_deref(), Some("Hello+world"));
        assert_eq!(percent_decode("%2B+%20", false).as_deref(), Some("++ "));
        assert_eq!(percent_decode("%2F%2f", true).as_deref(), Some("%2F%2f"));
        assert_eq!(percent_decode("%2F%2f", false).as_deref(), Some("//"));
    }

    #[test]
    fn double_wildcard_matches_zero_segments() {
        let trailing = template("/v1/{name=**}");
        assert_eq!(trailing.matches("/v1"), bindings(&[("name", "")]));
        assert_eq!(trailing.matches("/v1/a/b"), bindings(&[("name", "a/b")]));

        let middle = template("/a/{x=**}/c");
        assert_eq!(middle.matches("/a/c"), bindings(&[("x", "")]));
        assert_eq!(middle.matches("/a"), None);
        assert_eq!(middle.matches("/a/b"), None);

        let root = template("/{x=**}");
        assert_eq!(root.matches("/"), bindings(&[("x", "")]));

        let unbound = template("/files/**");
        assert_eq!(unbound.matches("/files"), bindings(&[]));
        assert_eq!(unbound.matches("/files/a/b"), bindings(&[]));
    }

    #[test]
    fn single_wildcard_does_not_match_empty_segment() {
        assert_eq!(template("/v1/{id}").matches("/v1/"), None);
        assert_eq!(template("/a/{x}/c").matches("/a//c"), None);
        assert_eq!(template("/a/*/c").matches("/a//c"), None);
        assert_eq!(template("/a/{x=**}").matches("/a/b//c"), None);
    }

    #[test]
    fn leading_literals_are_compared_raw_and_whole() {
        let events = template("/v1/audit/events");
        assert_eq!(events.matches("/v1/audit/events"), bindings(&[]));
        assert_eq!(events.matches("/v1/audit/eventsx"), None);
        assert_eq!(events.matches("/v1/auditx/events"), None);
        assert_eq!(events.matches("/v1/%61udit/events"), None, "a literal never matches its percent-encoding");
        assert_eq!(events.matches("/v1/audit"), None);
        let cancel = template("/v1/things/{id}:cancel");
        assert_eq!(cancel.matches("/v1/things/7:cancel"), bindings(&[("id", "7")]));
        assert_eq!(cancel.matches("/v1/thing/7:cancel"), None);
        assert_eq!(template("/{x=**}").matches("/anything/at/all"), bindings(&[("x", "anything/at/all")]));
    }

    #[test]
    fn trailing_slash_does_not_match() {
        assert_eq!(template("/v1/messages/{id}").matches("/v1/messages/1/"), None);
        assert_eq!(template("/v1/messages").matches("/v1/messages/"), None);
        assert_eq!(template("/v1/{name=**}").matches("/v1/a/"), None);
        assert_eq!(template("/v1/{name=**}").matches("/v1/"), None);
    }

    #[test]
    fn invalid_percent_escapes_do_not_match() {
        let single = template("/a/{x}");
        assert_eq!(single.matches("/a/%zz"), None);
        assert_eq!(single.matches("/a/b%4"), None);
        assert_eq!(single.matches("/a/b%"), None);
        assert_eq!(single.matches("/a/%C3%28"), None);
        assert_eq!(single.matches("/a/%C3%A9"), bindings(&[("x", "\u{e9}")]));

        let multi = template("/a/{x=**}");
        assert_eq!(multi.matches("/a/ok/%zz"), None);
        assert_eq!(multi.matches("/a/%FF"), None);

        let unbound = template("/a/*/c");
        assert_eq!(unbound.matches("/a/%g1/c"), None);

        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%", true), None);
        assert_eq!(percent_decode("%C3%28", false), None);
    }

    #[test]
    fn literals_compare_raw_segments() {
        let parsed = template("/v1/a%20b/messages");
        assert_eq!(parsed.matches("/v1/a%20b/messages"), bindings(&[]));
        assert_eq!(parsed.matches("/v1/a b/messages"), None);
        assert_eq!(parsed.matches("/v1/a%20b/messag%65s"), None);
        assert_eq!(parsed.matches("/v1/a%20b/Messages"), None);
    }

    #[test]
    fn rejects_paths_not_starting_with_slash_or_with_query() {
        let parsed = template("/v1/{id}");
        assert_eq!(parsed.matches("v1/1"), None);
        assert_eq!(parsed.matches(""), None);
        assert_eq!(parsed.matches("/v1/1?x=2"), None);
        assert_eq!(parsed.matches("/v1/1#f"), None);
    }

    #[test]
    fn literal_count_ranks_more_literals_higher() {
        let specific = template("/v1/tenants/{id}");
        let general = template("/v1/{name=**}");
        assert_eq!(specific.literal_count(), 2);
        assert_eq!(general.literal_count(), 1);
        assert!(specific.literal_count() > general.literal_count());
        assert!(specific.specificity() > general.specificity());
        assert_eq!(template("/v1/{name=tenants/*}").literal_count(), 2);
        assert!(template("/v1/{a}/{b}").specificity() > template("/v1/{a=**}").specificity());
        assert!(template("/{x=**}:verb").specificity() > template("/person/{id}").specificity());
    }

    #[test]
    fn openapi_path_and_variable_pattern() {
        let parsed = template("/v1/{name=tenants/*}:cancel");
        assert_eq!(parsed.openapi_path(), "/v1/{name}:cancel");
        assert_eq!(parsed.variable_pattern("name").as_deref(), Some("tenants/*"));
        assert_eq!(parsed.variable_pattern("other"), None);

        let nested = template("/v1/messages/{message_id}/{sub.subfield}");
        assert_eq!(nested.openapi_path(), "/v1/messages/{message_id}/{sub.subfield}");
        assert_eq!(nested.variable_pattern("message_id").as_deref(), Some("*"));

        let wildcard = template("/v1/{name=**}/x");
        assert_eq!(wildcard.openapi_path(), "/v1/{name}/x");
        assert_eq!(wildcard.variable_pattern("name").as_deref(), Some("**"));

        let disable = template("/v1/{name=tenants/*/users/*}:disable");
        assert_eq!(disable.openapi_path(), "/v1/{name}:disable");
        assert_eq!(disable.variable_pattern("name").as_deref(), Some("tenants/*/users/*"));

        assert_eq!(template("/v1/*/files/**").openapi_path(), "/v1/*/files/**");
    }

    #[test]
    fn odd_inputs_never_panic() {
        let templates = ["/a/{x}/c", "/a/{x=**}/c", "/{x=**}:verb", "/v1/{name=tenants/*}", "/**", "/a/*"];
        let paths = [
            "",
            "/",
            "//",
            ":",
            "/:",
            "/:verb",
            ":verb",
            "/a/%",
            "/a/%%/c",
            "/a/%e9/c",
            "/\u{e9}/\u{1f600}",
            "/a/b:",
            "/a/%2",
            "/a/b/c/d/e/f/g:verb",
            "/%2F",
            "/a/c:verb:verb",
        ];
        for text in templates {
            let parsed = template(text);
            for path in paths {
                let _ = parsed.matches(path);
            }
        }
        let garbage = [
            "/{",
            "/{a",
            "/{a=",
            "/{a=*",
            "/{a=**",
            "/}",
            "/**/",
            "/{a.",
            "/\u{e9}",
            "/{\u{e9}}",
            "/a:\u{e9}",
            "/%",
            "/%\u{e9}a",
            "/{a=\u{e9}}",
            "/a/:",
            "/*:",
            "/{a}:",
        ];
        for text in garbage {
            assert!(PathTemplate::parse(text).is_err(), "{text:?} should not parse");
        }
    }
}
