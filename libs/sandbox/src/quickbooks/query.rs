//! The subset of Intuit's query language the sandbox answers:
//!
//! ```text
//! query     = SELECT ( "*" | COUNT "(" "*" ")" ) FROM entity [ WHERE cond { AND cond } ]
//!             [ ( ORDERBY | ORDER BY ) field [ ASC | DESC ] { "," field [ ASC | DESC ] } ]
//!             [ STARTPOSITION n ] [ MAXRESULTS n ]
//! cond      = field op literal | field IN "(" literal { "," literal } ")"
//! op        = "=" | "!=" | "<" | "<=" | ">" | ">=" | LIKE
//! literal   = 'text' | number | true | false
//! field     = name { "." name }          (case-insensitive: Metadata.LastUpdatedTime = MetaData.LastUpdatedTime)
//! ```
//!
//! Keywords are case-insensitive. `STARTPOSITION` is 1-based (default 1); `MAXRESULTS` defaults to 100 and is
//! capped at 1000, as Intuit does. Comparisons read both sides as times when both are timestamps or dates, else as
//! numbers when both are numeric (`Id > '100'`), else as text; a reference field (`CustomerRef`) compares its
//! `value`. `LIKE` takes `%` as the wildcard. Anything else is a `QueryParserError`.

use std::cmp::Ordering;

use serde_json::Value;

use super::parse_time;

/// Intuit's largest page.
pub(crate) const MAX_RESULTS: usize = 1000;
/// The page size when none is asked for.
const DEFAULT_RESULTS: usize = 100;

/// A parsed query.
#[derive(Debug, PartialEq)]
pub(crate) struct Query {
    pub(crate) count: bool,
    pub(crate) entity: String,
    pub(crate) conditions: Vec<Condition>,
    /// Fields to sort by, and whether descending.
    pub(crate) order: Vec<(String, bool)>,
    /// 1-based.
    pub(crate) start: usize,
    pub(crate) max: usize,
}

#[derive(Debug, PartialEq)]
pub(crate) struct Condition {
    field: String,
    op: Op,
    value: Literal,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    In,
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    List(Vec<Literal>),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Symbol(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("Encountered end of query inside a quoted string".into()),
                    Some('\\') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(value));
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            i += 1;
            while chars.get(i).is_some_and(|c| c.is_ascii_digit() || *c == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token::Number(text.parse().map_err(|_| format!("Encountered \"{text}\""))?));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = match (two.as_str(), c) {
                ("!=", _) => "!=",
                ("<=", _) => "<=",
                (">=", _) => ">=",
                ("<>", _) => "!=",
                (_, '=') => "=",
                (_, '<') => "<",
                (_, '>') => ">",
                (_, '*') => "*",
                (_, '(') => "(",
                (_, ')') => ")",
                (_, ',') => ",",
                _ => return Err(format!("Encountered \"{c}\" at column {}", i + 1)),
            };
            i += symbol.len();
            out.push(Token::Symbol(symbol));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn describe(token: Option<&Token>) -> String {
        match token {
            None => "end of query".to_owned(),
            Some(Token::Word(w)) => format!("\"{w}\""),
            Some(Token::Text(t)) => format!("\"'{t}'\""),
            Some(Token::Number(n)) => format!("\"{n}\""),
            Some(Token::Symbol(s)) => format!("\"{s}\""),
        }
    }

    fn unexpected(&self, expected: &str) -> String {
        format!("Encountered {} but expected {expected}", Self::describe(self.peek()))
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), String> {
        if self.is_keyword(keyword) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(keyword))
        }
    }

    fn symbol(&mut self, symbol: &str) -> Result<(), String> {
        if matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("\"{symbol}\"")))
        }
    }

    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn number(&mut self, what: &str) -> Result<usize, String> {
        match self.next() {
            Some(Token::Number(n)) if n >= 0.0 && n.fract() == 0.0 => Ok(n as usize),
            _ => {
                self.at -= 1;
                Err(self.unexpected(what))
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Text(t)) => Ok(Literal::Text(t)),
            Some(Token::Number(n)) => Ok(Literal::Number(n)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            _ => {
                self.at -= 1;
                Err(self.unexpected("a value"))
            }
        }
    }

    fn condition(&mut self) -> Result<Condition, String> {
        let field = self.word("a field name")?;
        let op = match self.next() {
            Some(Token::Symbol("=")) => Op::Eq,
            Some(Token::Symbol("!=")) => Op::Ne,
            Some(Token::Symbol("<")) => Op::Lt,
            Some(Token::Symbol("<=")) => Op::Le,
            Some(Token::Symbol(">")) => Op::Gt,
            Some(Token::Symbol(">=")) => Op::Ge,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("like") => Op::Like,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            _ => {
                self.at -= 1;
                return Err(self.unexpected("an operator"));
            }
        };
        let value = if op == Op::In {
            self.symbol("(")?;
            let mut items = vec![self.literal()?];
            while matches!(self.peek(), Some(Token::Symbol(","))) {
                self.at += 1;
                items.push(self.literal()?);
            }
            self.symbol(")")?;
            Literal::List(items)
        } else {
            self.literal()?
        };
        Ok(Condition { field, op, value })
    }
}

/// Parses a query; `Err` is the `QueryParserError` detail.
pub(crate) fn parse(text: &str) -> Result<Query, String> {
    let mut p = Parser { tokens: tokens(text)?, at: 0 };
    p.keyword("SELECT")?;
    let count = if p.is_keyword("count") {
        p.at += 1;
        p.symbol("(")?;
        p.symbol("*")?;
        p.symbol(")")?;
        true
    } else {
        p.symbol("*")?;
        false
    };
    p.keyword("FROM")?;
    let entity = p.word("an entity name")?;
    let mut query = Query { count, entity, conditions: Vec::new(), order: Vec::new(), start: 1, max: DEFAULT_RESULTS };
    if p.is_keyword("WHERE") {
        p.at += 1;
        query.conditions.push(p.condition()?);
        while p.is_keyword("AND") {
            p.at += 1;
            query.conditions.push(p.condition()?);
        }
    }
    if p.is_keyword("ORDERBY") || p.is_keyword("ORDER") {
        if p.is_keyword("ORDER") {
            p.at += 1;
            p.keyword("BY")?;
        } else {
            p.at += 1;
        }
        loop {
            let field = p.word("a field name")?;
            let descending = if p.is_keyword("DESC") {
                p.at += 1;
                true
            } else {
                if p.is_keyword("ASC") {
                    p.at += 1;
                }
                false
            };
            query.order.push((field, descending));
            if !matches!(p.peek(), Some(Token::Symbol(","))) {
                break;
            }
            p.at += 1;
        }
    }
    if p.is_keyword("STARTPOSITION") {
        p.at += 1;
        query.start = p.number("a start position")?.max(1);
    }
    if p.is_keyword("MAXRESULTS") {
        p.at += 1;
        query.max = p.number("a result count")?.min(MAX_RESULTS);
    }
    if p.peek().is_some() {
        return Err(p.unexpected("end of query"));
    }
    Ok(query)
}

/// The value at a dotted path, keys matched without regard to case; a reference's `value`.
fn field<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    let mut at = body;
    for segment in path.split('.') {
        let object = at.as_object()?;
        at = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(segment)).map(|(_, v)| v)?;
    }
    Some(at.get("value").unwrap_or(at))
}

fn number_of(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str()?.trim().parse().ok())
}

/// Orders a field's value against a literal.
fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match literal {
        Literal::Bool(b) => value.as_bool().map(|v| v.cmp(b)),
        Literal::Number(n) => number_of(value)?.partial_cmp(n),
        Literal::Text(text) => {
            let own = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            if let (Some(a), Some(b)) = (parse_time(&own), parse_time(text)) {
                return Some(a.cmp(&b));
            }
            if let (Ok(a), Ok(b)) = (own.trim().parse::<f64>(), text.trim().parse::<f64>()) {
                return a.partial_cmp(&b);
            }
            Some(own.to_lowercase().cmp(&text.to_lowercase()))
        }
        Literal::List(_) => None,
    }
}

fn like(value: &Value, pattern: &str) -> bool {
    let Some(text) = value.as_str() else { return false };
    let (text, pattern) = (text.to_lowercase(), pattern.to_lowercase());
    let parts: Vec<&str> = pattern.split('%').collect();
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else { return false };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

impl Condition {
    pub(crate) fn matches(&self, body: &Value) -> bool {
        let Some(value) = field(body, &self.field) else { return false };
        let ordering = |literal: &Literal| compare(value, literal);
        match (&self.op, &self.value) {
            (Op::In, Literal::List(items)) => items.iter().any(|l| ordering(l) == Some(Ordering::Equal)),
            (Op::Like, Literal::Text(pattern)) => like(value, pattern),
            (Op::Eq, l) => ordering(l) == Some(Ordering::Equal),
            (Op::Ne, l) => ordering(l).is_some_and(|o| o != Ordering::Equal),
            (Op::Lt, l) => ordering(l) == Some(Ordering::Less),
            (Op::Le, l) => ordering(l).is_some_and(|o| o != Ordering::Greater),
            (Op::Gt, l) => ordering(l) == Some(Ordering::Greater),
            (Op::Ge, l) => ordering(l).is_some_and(|o| o != Ordering::Less),
            _ => false,
        }
    }
}

/// Orders two objects by one field (missing values first).
pub(crate) fn order_by(a: &Value, b: &Value, path: &str) -> Ordering {
    match (field(a, path), field(b, path)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => {
            let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
            compare(x, &Literal::Text(text(y))).unwrap_or(Ordering::Equal)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_what_a_sync_sends() {
        let q = parse(
            "SELECT * FROM Customer WHERE Metadata.LastUpdatedTime >= '2026-01-01T00:00:00-00:00' AND Active IN \
             (true,false) ORDERBY Metadata.LastUpdatedTime STARTPOSITION 1001 MAXRESULTS 1000",
        )
        .unwrap();
        assert_eq!(q.entity, "Customer");
        assert_eq!(q.conditions.len(), 2);
        assert_eq!(q.order, vec![("Metadata.LastUpdatedTime".to_owned(), false)]);
        assert_eq!((q.start, q.max), (1001, 1000));
        let q = parse("select count(*) from Invoice order by Id desc maxresults 5000").unwrap();
        assert!(q.count);
        assert_eq!(q.order, vec![("Id".to_owned(), true)]);
        assert_eq!(q.max, MAX_RESULTS, "capped");
        assert_eq!(parse("SELECT * FROM Bill").unwrap().start, 1);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "SELECT Id FROM Invoice",
            "SELECT * Invoice",
            "SELECT * FROM Invoice WHERE",
            "SELECT * FROM Invoice WHERE Id = 'x",
            "SELECT * FROM Invoice STARTPOSITION x",
            "SELECT * FROM Invoice LIMIT 5",
            "SELECT * FROM Invoice WHERE Id ~ 5",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("SELECT * FROM Invoice LIMIT 5").unwrap_err().contains("\"LIMIT\""));
    }

    #[test]
    fn conditions_compare_times_numbers_references_and_text() {
        let invoice = json!({"Id": "120", "Balance": 0.0, "CustomerRef": {"value": "7", "name": "Ava Chen"},
            "MetaData": {"LastUpdatedTime": "2026-10-01T10:00:00-07:00"}, "DocNumber": "1001"});
        let holds =
            |text: &str| parse(&format!("SELECT * FROM Invoice WHERE {text}")).unwrap().conditions[0].matches(&invoice);
        assert!(holds("Metadata.LastUpdatedTime >= '2026-10-01T17:00:00Z'"));
        assert!(!holds("MetaData.LastUpdatedTime > '2026-10-01T17:00:00Z'"));
        assert!(holds("Id > '99'"), "numeric, not text order");
        assert!(holds("Id IN ('1', '120')"));
        assert!(holds("CustomerRef = '7'"));
        assert!(holds("Balance = 0"));
        assert!(!holds("Balance > 0"));
        assert!(holds("DocNumber LIKE '10%'"));
        assert!(!holds("Nothing = 'x'"));
        let later = json!({"MetaData": {"LastUpdatedTime": "2026-10-02T00:00:00-07:00"}});
        assert_eq!(order_by(&invoice, &later, "MetaData.LastUpdatedTime"), Ordering::Less);
        assert_eq!(order_by(&json!({"Id": "9"}), &json!({"Id": "10"}), "Id"), Ordering::Less);
    }
}
