//! The filter language: a subset of AIP-160 (<https://google.aip.dev/160>), its grammar, and the parser that
//! turns text into the expression tree `eval` walks.
//!
//! ```text
//! filter      = [ expression ] ;                 empty or blank: every record matches
//! expression  = factor { [ "AND" ] factor } ;    two factors side by side are ANDed too
//! factor      = term { "OR" term } ;
//! term        = { "NOT" | "-" } simple ;
//! simple      = restriction | "(" expression ")" ;
//! restriction = path operator operand ;
//! path        = segment { "." segment } ;        segment: letters, digits and "_"
//! operator    = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":" ;
//! operand     = string | bare ;
//! string      = '"' { char | '\"' | "\'" | '\\' } '"'
//!             | "'" { char | '\"' | "\'" | '\\' } "'" ;
//! bare        = any run of characters other than whitespace, "(" and ")" ;
//! ```
//!
//! Precedence is AIP-160's, which is not SQL's: **OR binds tighter than AND**, so `a AND b OR c` means
//! `a AND (b OR c)`, and `a OR b AND c` means `(a OR b) AND c`. `NOT` and `-` apply to the one `simple` after
//! them; use parentheses to negate more. Keywords are upper-case whole words (`ANDROID` and `and` are names).
//!
//! A bare operand is `true`, `false` or `null`; a number (`42`, `-1.5`, `1e3`; see `scalar`); `*`, only after
//! `:`, meaning "present"; or else a string, so `status = paid` and `status = "paid"` are the same and an RFC 3339
//! timestamp needs no quotes. A quoted operand is always a string: `"42"` and `"true"` stay text.
//!
//! Whitespace separates tokens and is otherwise ignored; it is required only where two words would merge.
//! Limits: 8 KiB of input (see `cursor`), parentheses nested 32 deep, 200 restrictions.

use time::OffsetDateTime;

use crate::FilterError;
use crate::cursor::Cursor;
use crate::path::read_path;
use crate::scalar::{Number, parse_timestamp};

/// Deepest accepted nesting of parentheses; it also bounds the recursion of parsing and matching.
const MAX_DEPTH: usize = 32;

/// Most restrictions one filter may hold, so matching a record costs a bounded number of lookups.
const MAX_RESTRICTIONS: usize = 200;

/// The characters operators are made of; a run of them is read as one operator, so `==` is reported whole.
const OPERATOR_CHARS: &[char] = &['=', '!', '<', '>', ':'];

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// Every operand matches (two or more).
    And(Vec<Expr>),
    /// At least one operand matches (two or more).
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Restriction(Restriction),
}

/// `path operator operand`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Restriction {
    pub(crate) path: Vec<String>,
    pub(crate) test: Test,
}

/// What a restriction checks at its path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Compare(Comparison, Literal),
    /// `:` with a value.
    Has(Literal),
    /// `:*`.
    Present,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An operand, with the readings comparisons need computed once at parse time instead of per record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Literal {
    pub(crate) kind: LiteralKind,
    /// The text: unescaped for quoted strings, as written otherwise (`42`, `true`).
    pub(crate) text: String,
    /// `text` lower-cased, for the case-insensitive substring test of `:`.
    pub(crate) lower: String,
    /// The number `text` reads as, for numbers and numeric strings.
    pub(crate) number: Option<Number>,
    /// The instant `text` reads as, for RFC 3339 strings.
    pub(crate) instant: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiteralKind {
    String,
    Number,
    Bool(bool),
    Null,
}

impl Literal {
    fn new(kind: LiteralKind, text: String) -> Self {
        let number = match kind {
            LiteralKind::String | LiteralKind::Number => Number::parse(&text),
            LiteralKind::Bool(_) | LiteralKind::Null => None,
        };
        let instant = match kind {
            LiteralKind::String => parse_timestamp(&text),
            _ => None,
        };
        Self { kind, lower: text.to_lowercase(), text, number, instant }
    }
}

/// Parses a filter; `None` for an empty one.
pub(crate) fn parse(input: &str) -> Result<Option<Expr>, FilterError> {
    let mut parser = Parser { cursor: Cursor::new(input, "filter")?, depth: 0, restrictions: 0 };
    parser.cursor.skip_whitespace();
    if parser.cursor.at_end() {
        return Ok(None);
    }
    let expr = parser.expression(None)?;
    parser.cursor.skip_whitespace();
    match parser.cursor.peek() {
        None => Ok(Some(expr)),
        // `expression` stops only at the end or at ')', so this is a ')' nothing opened.
        Some(_) => Err(parser.cursor.error("unexpected ')' with no matching '('")),
    }
}

struct Parser {
    cursor: Cursor,
    /// Parentheses currently open.
    depth: usize,
    /// Restrictions read so far.
    restrictions: usize,
}

impl Parser {
    /// `factor { [AND] factor }`, up to the end of input or a `)`. `after` names the token before, if any.
    fn expression(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        let mut factors = vec![self.factor(after)?];
        loop {
            self.cursor.skip_whitespace();
            if matches!(self.cursor.peek(), None | Some(')')) {
                break;
            }
            if self.cursor.at_word("AND") {
                self.cursor.advance(3);
                factors.push(self.factor(Some("AND"))?);
            } else {
                factors.push(self.factor(None)?);
            }
        }
        Ok(if factors.len() == 1 { factors.swap_remove(0) } else { Expr::And(factors) })
    }

    /// `term { OR term }`.
    fn factor(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        let mut terms = vec![self.term(after)?];
        loop {
            self.cursor.skip_whitespace();
            if !self.cursor.at_word("OR") {
                break;
            }
            self.cursor.advance(2);
            terms.push(self.term(Some("OR"))?);
        }
        Ok(if terms.len() == 1 { terms.swap_remove(0) } else { Expr::Or(terms) })
    }

    /// `{ NOT | - } simple`; negations are counted rather than nested, so a long run of them costs nothing.
    fn term(&mut self, mut after: Option<&str>) -> Result<Expr, FilterError> {
        let mut negated = false;
        loop {
            self.cursor.skip_whitespace();
            if self.cursor.peek() == Some('-') {
                self.cursor.advance(1);
                after = Some("-");
            } else if self.cursor.at_word("NOT") {
                self.cursor.advance(3);
                after = Some("NOT");
            } else {
                break;
            }
            negated = !negated;
        }
        let simple = self.simple(after)?;
        Ok(if negated { Expr::Not(Box::new(simple)) } else { simple })
    }

    /// `restriction | "(" expression ")"`.
    fn simple(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        if self.cursor.peek() != Some('(') {
            return self.restriction(after);
        }
        let open = self.cursor.pos();
        if self.depth == MAX_DEPTH {
            return Err(self
                .cursor
                .error(format!("parentheses nest more than {MAX_DEPTH} levels deep; flatten the filter")));
        }
        self.depth += 1;
        self.cursor.advance(1);
        self.cursor.skip_whitespace();
        let inner = self.expression(Some("("))?;
        if self.cursor.peek() != Some(')') {
            return Err(self.cursor.error(format!(
                "expected ')' to close the '(' at position {} (found {})",
                open + 1,
                self.cursor.found()
            )));
        }
        self.cursor.advance(1);
        self.depth -= 1;
        Ok(inner)
    }

    /// `path operator operand`.
    fn restriction(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        let expected = match after {
            Some(token) => format!("a field name or '(' after '{token}'"),
            None => "a field name or '('".to_owned(),
        };
        // Keywords are reserved: `a = 1 AND OR b = 2` is an error, not a field named "OR".
        if self.cursor.at_word("AND") || self.cursor.at_word("OR") {
            return Err(self.cursor.error(format!("expected {expected} (found keyword {})", self.cursor.found())));
        }
        if self.restrictions == MAX_RESTRICTIONS {
            return Err(self.cursor.error(format!(
                "too many restrictions: a filter may hold at most {MAX_RESTRICTIONS}; split the query"
            )));
        }
        let path = read_path(&mut self.cursor, &expected)?;
        let path_text = path.join(".");
        self.cursor.skip_whitespace();
        let operator_at = self.cursor.pos();
        let operator = self.cursor.take_while(|c| OPERATOR_CHARS.contains(&c));
        let comparison = match operator.as_str() {
            "=" => Some(Comparison::Eq),
            "!=" => Some(Comparison::Ne),
            "<" => Some(Comparison::Lt),
            "<=" => Some(Comparison::Le),
            ">" => Some(Comparison::Gt),
            ">=" => Some(Comparison::Ge),
            ":" => None,
            "" => {
                let hint = match path_text.to_ascii_uppercase().as_str() {
                    keyword @ ("AND" | "OR" | "NOT") if path.len() == 1 => {
                        format!("; keywords are upper-case: write {keyword}")
                    }
                    _ => String::new(),
                };
                return Err(self.cursor.error(format!(
                    "expected an operator (=, !=, <, <=, >, >=, :) after '{path_text}' (found {}){hint}",
                    self.cursor.found()
                )));
            }
            unknown => {
                return Err(FilterError::at(
                    operator_at,
                    format!("unknown operator '{unknown}'; expected one of =, !=, <, <=, >, >=, :"),
                ));
            }
        };
        self.cursor.skip_whitespace();
        let value_at = self.cursor.pos();
        let test = match (comparison, self.operand(&operator)?) {
            (None, Operand::Any) => Test::Present,
            (None, Operand::Literal(literal)) => Test::Has(literal),
            (Some(_), Operand::Any) => {
                return Err(FilterError::at(
                    value_at,
                    format!("'*' is only allowed after ':' (write '{path_text}:*' to test presence)"),
                ));
            }
            (Some(comparison), Operand::Literal(literal)) => Test::Compare(comparison, literal),
        };
        self.restrictions += 1;
        Ok(Expr::Restriction(Restriction { path, test }))
    }

    /// A quoted string, or a bare word read as `true`/`false`/`null`/number/`*`/string.
    fn operand(&mut self, operator: &str) -> Result<Operand, FilterError> {
        match self.cursor.peek() {
            Some(quote @ ('"' | '\'')) => {
                self.quoted(quote).map(|text| Operand::Literal(Literal::new(LiteralKind::String, text)))
            }
            None | Some('(' | ')') => {
                Err(self.cursor.error(format!("expected a value after '{operator}' (found {})", self.cursor.found())))
            }
            Some(_) => {
                let word = self.cursor.take_while(|c| !c.is_whitespace() && c != '(' && c != ')');
                let kind = match word.as_str() {
                    "*" => return Ok(Operand::Any),
                    "true" => LiteralKind::Bool(true),
                    "false" => LiteralKind::Bool(false),
                    "null" => LiteralKind::Null,
                    _ if Number::parse(&word).is_some() => LiteralKind::Number,
                    _ => LiteralKind::String,
                };
                Ok(Operand::Literal(Literal::new(kind, word)))
            }
        }
    }

    /// A string opened by `quote` at the cursor, with `\"`, `\'` and `\\` escapes.
    fn quoted(&mut self, quote: char) -> Result<String, FilterError> {
        let open = self.cursor.pos();
        self.cursor.advance(1);
        let mut text = String::new();
        loop {
            match self.cursor.peek() {
                None => {
                    return Err(FilterError::at(
                        open,
                        format!("unterminated string: the {quote} here is never closed"),
                    ));
                }
                Some('\\') => {
                    let escape_at = self.cursor.pos();
                    self.cursor.advance(1);
                    match self.cursor.peek() {
                        Some(c @ ('"' | '\'' | '\\')) => text.push(c),
                        Some(other) => {
                            return Err(FilterError::at(
                                escape_at,
                                format!("unknown escape '\\{other}' in string; only \\\", \\' and \\\\ are allowed"),
                            ));
                        }
                        None => {
                            return Err(FilterError::at(
                                open,
                                format!("unterminated string: the {quote} here is never closed"),
                            ));
                        }
                    }
                }
                Some(c) if c == quote => {
                    self.cursor.advance(1);
                    return Ok(text);
                }
                Some(c) => text.push(c),
            }
            self.cursor.advance(1);
        }
    }
}

/// What follows an operator.
enum Operand {
    /// `*`.
    Any,
    Literal(Literal),
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The JSON value of a literal.
    fn literal_json(literal: &Literal) -> Value {
        match (literal.kind, literal.number) {
            (LiteralKind::Bool(b), _) => Value::Bool(b),
            (LiteralKind::Null, _) => Value::Null,
            (LiteralKind::Number, Some(Number::Int(int))) => i64::try_from(int).map_or(Value::Null, Value::from),
            (LiteralKind::Number, Some(Number::Float(float))) => Value::from(float),
            _ => Value::String(literal.text.clone()),
        }
    }

    /// The tree as compact text, so tests state structure at a glance: `(a = 1 AND (b = 2 OR c = 3))`.
    fn show(expr: &Expr) -> String {
        match expr {
            Expr::And(parts) => format!("({})", parts.iter().map(show).collect::<Vec<_>>().join(" AND ")),
            Expr::Or(parts) => format!("({})", parts.iter().map(show).collect::<Vec<_>>().join(" OR ")),
            Expr::Not(inner) => format!("NOT {}", show(inner)),
            Expr::Restriction(Restriction { path, test }) => {
                let path = path.join(".");
                match test {
                    Test::Present => format!("{path}:*"),
                    Test::Has(literal) => format!("{path}:{}", literal_json(literal)),
                    Test::Compare(comparison, literal) => {
                        let op = match comparison {
                            Comparison::Eq => "=",
                            Comparison::Ne => "!=",
                            Comparison::Lt => "<",
                            Comparison::Le => "<=",
                            Comparison::Gt => ">",
                            Comparison::Ge => ">=",
                        };
                        format!("{path} {op} {}", literal_json(literal))
                    }
                }
            }
        }
    }

    fn tree(input: &str) -> String {
        match parse(input) {
            Ok(Some(expr)) => show(&expr),
            Ok(None) => "<all>".to_owned(),
            Err(error) => panic!("{input:?} should parse: {error}"),
        }
    }

    fn error(input: &str) -> String {
        match parse(input) {
            Ok(expr) => panic!("{input:?} should not parse, got {expr:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn or_binds_tighter_than_and() {
        assert_eq!(tree("a=1 AND b=2 OR c=3"), "(a = 1 AND (b = 2 OR c = 3))");
        assert_eq!(tree("a=1 OR b=2 AND c=3"), "((a = 1 OR b = 2) AND c = 3)");
        assert_eq!(tree("a=1 OR b=2 OR c=3"), "(a = 1 OR b = 2 OR c = 3)");
        assert_eq!(tree("(a=1 AND b=2) OR c=3"), "((a = 1 AND b = 2) OR c = 3)");
    }

    #[test]
    fn juxtaposition_is_and() {
        assert_eq!(tree("a=1 b=2"), "(a = 1 AND b = 2)");
        assert_eq!(tree("a=1 b=2 OR c=3 AND d=4"), "(a = 1 AND (b = 2 OR c = 3) AND d = 4)");
        assert_eq!(tree("a=\"x\"b=2"), "(a = \"x\" AND b = 2)");
    }

    #[test]
    fn negation_applies_to_one_simple() {
        assert_eq!(tree("NOT a=1 AND b=2"), "(NOT a = 1 AND b = 2)");
        assert_eq!(tree("-a:* OR b=2"), "(NOT a:* OR b = 2)");
        assert_eq!(tree("NOT (a=1 OR b=2)"), "NOT (a = 1 OR b = 2)");
        assert_eq!(tree("NOT(a=1)"), "NOT a = 1");
        assert_eq!(tree("NOT NOT a=1"), "a = 1");
        assert_eq!(tree("- - -a=1"), "NOT a = 1");
        assert_eq!(tree("NOTE=1"), "NOTE = 1");
    }

    #[test]
    fn operators_and_operands() {
        assert_eq!(tree("a = 1"), "a = 1");
        assert_eq!(tree("a!=1"), "a != 1");
        assert_eq!(tree("a<1 a<=1 a>1 a>=1"), "(a < 1 AND a <= 1 AND a > 1 AND a >= 1)");
        assert_eq!(tree("a:x a:*"), "(a:\"x\" AND a:*)");
        assert_eq!(tree("a=-1.5 b=1e3 c=007"), "(a = -1.5 AND b = 1000.0 AND c = 7)");
        assert_eq!(tree("a=true b=false c=null"), "(a = true AND b = false AND c = null)");
        assert_eq!(tree("a=\"true\" b='42' c=paid"), "(a = \"true\" AND b = \"42\" AND c = \"paid\")");
        assert_eq!(tree("t>2024-01-01T00:00:00Z"), "t > \"2024-01-01T00:00:00Z\"");
        assert_eq!(tree("a=-foo"), "a = \"-foo\"");
        assert_eq!(tree("a=O'Brien"), "a = \"O'Brien\"");
        assert_eq!(tree("a = *x"), "a = \"*x\"");
    }

    #[test]
    fn paths_are_dotted() {
        assert_eq!(tree("customer.email:x"), "customer.email:\"x\"");
        assert_eq!(tree("line_items.0.sku=A"), "line_items.0.sku = \"A\"");
        assert_eq!(tree("ANDROID=1 ORDER=2"), "(ANDROID = 1 AND ORDER = 2)");
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(tree(r#"a="say \"hi\"""#), r#"a = "say \"hi\"""#);
        assert_eq!(tree(r#"a="back\\slash""#), r#"a = "back\\slash""#);
        assert_eq!(tree(r"a='it\'s'"), r#"a = "it's""#);
        assert_eq!(tree(r#"a='a "b"'"#), r#"a = "a \"b\"""#);
        assert_eq!(tree(r#"a="x AND y) (""#), r#"a = "x AND y) (""#);
        assert_eq!(tree(r#"a="""#), r#"a = """#);
        assert_eq!(tree("a=\"é ü\""), "a = \"é ü\"");
    }

    #[test]
    fn literals_carry_their_readings() {
        let Some(Expr::Restriction(Restriction { test: Test::Compare(_, literal), .. })) =
            parse("a = \"2024-01-01T00:00:00Z\"").unwrap()
        else {
            panic!("a restriction");
        };
        assert!(literal.instant.is_some());
        assert_eq!(literal.kind, LiteralKind::String);
        let Some(Expr::Restriction(Restriction { test: Test::Has(literal), .. })) = parse("a : 'ABC'").unwrap() else {
            panic!("a restriction");
        };
        assert_eq!(literal.lower, "abc");
    }

    #[test]
    fn error_messages_name_the_position() {
        let cases = [
            ("amount >=", "position 10: expected a value after '>=' (found end of input)"),
            ("a == 1", "position 3: unknown operator '=='; expected one of =, !=, <, <=, >, >=, :"),
            ("==", "position 1: expected a field name or '(' (found '=')"),
            ("a => 1", "position 3: unknown operator '=>'; expected one of =, !=, <, <=, >, >=, :"),
            ("a", "position 2: expected an operator (=, !=, <, <=, >, >=, :) after 'a' (found end of input)"),
            ("a 1", "position 3: expected an operator (=, !=, <, <=, >, >=, :) after 'a' (found '1')"),
            (
                "a=1 and b=2",
                "position 9: expected an operator (=, !=, <, <=, >, >=, :) after 'and' (found 'b'); \
                 keywords are upper-case: write AND",
            ),
            ("a=1 AND", "position 8: expected a field name or '(' after 'AND' (found end of input)"),
            ("a=1 OR", "position 7: expected a field name or '(' after 'OR' (found end of input)"),
            ("a=1 AND OR b=2", "position 9: expected a field name or '(' after 'AND' (found keyword 'OR')"),
            ("OR a=1", "position 1: expected a field name or '(' (found keyword 'OR')"),
            ("NOT", "position 4: expected a field name or '(' after 'NOT' (found end of input)"),
            ("-", "position 2: expected a field name or '(' after '-' (found end of input)"),
            ("a.=1", "position 3: expected a field name after '.' (found '=')"),
            ("(a=1", "position 5: expected ')' to close the '(' at position 1 (found end of input)"),
            ("()", "position 2: expected a field name or '(' after '(' (found ')')"),
            ("a=1)", "position 4: unexpected ')' with no matching '('"),
            ("a=(1)", "position 3: expected a value after '=' (found '(')"),
            ("a = *", "position 5: '*' is only allowed after ':' (write 'a:*' to test presence)"),
            ("a = \"abc", "position 5: unterminated string: the \" here is never closed"),
            ("a = 'abc\\", "position 5: unterminated string: the ' here is never closed"),
            ("a = \"a\\nb\"", "position 7: unknown escape '\\n' in string; only \\\", \\' and \\\\ are allowed"),
            ("é é = 1", "position 3: expected an operator (=, !=, <, <=, >, >=, :) after 'é' (found 'é')"),
        ];
        for (input, expected) in cases {
            assert_eq!(error(input), expected, "for {input:?}");
        }
    }

    #[test]
    fn depth_is_limited() {
        let nested = |depth: usize| format!("{}a=1{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(tree(&nested(MAX_DEPTH)), "a = 1");
        assert_eq!(
            error(&nested(MAX_DEPTH + 1)),
            "position 33: parentheses nest more than 32 levels deep; flatten the filter"
        );
        // Siblings do not add up: depth is what is open at once.
        let siblings = vec!["((a=1))"; 100].join(" OR ");
        assert!(parse(&siblings).is_ok());
        assert!(parse(&"(".repeat(8000)).is_err());
    }

    #[test]
    fn negation_runs_are_cheap() {
        assert_eq!(tree(&format!("{}a=1", "NOT ".repeat(2000))), "a = 1");
        assert_eq!(tree(&format!("{}a=1", "-".repeat(8000))), "a = 1");
    }

    #[test]
    fn restrictions_are_limited() {
        let filter = |n: usize| vec!["a=1"; n].join(" AND ");
        assert!(parse(&filter(MAX_RESTRICTIONS)).is_ok());
        let error = parse(&filter(MAX_RESTRICTIONS + 1)).unwrap_err();
        assert_eq!(error.position, MAX_RESTRICTIONS * 8 + 1);
        assert_eq!(error.message, "too many restrictions: a filter may hold at most 200; split the query");
    }

    #[test]
    fn size_is_limited() {
        let error = parse(&format!("a=\"{}\"", "x".repeat(9000))).unwrap_err();
        assert_eq!(error.position, 1);
        assert!(error.message.contains("at most 8192 bytes"), "{}", error.message);
    }
}
