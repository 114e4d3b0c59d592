//! Just enough GraphQL for the Admin API fake: a parser for executable documents and a projector that shapes a
//! full JSON object to a selection set.
//!
//! Parsed: operations (`query`/`mutation`, named or anonymous, variable definitions with defaults, directives
//! skipped), fragments, fields with aliases and arguments (variables, literals, lists, input objects), inline
//! fragments and fragment spreads. Not a GraphQL engine: there is no schema. Types are known by example — every
//! object the fake renders carries `__typename` and all of its fields — so the projector can answer selections of
//! fields a type does not have with Shopify's `undefinedField` error, and leave out what was not asked for.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// A parse error: message and position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl SyntaxError {
    pub(crate) fn to_json(&self) -> Value {
        json!({"message": self.message, "locations": [{"line": self.line, "column": self.column}]})
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Punct(char),
    Spread,
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    End,
}

#[derive(Debug, Clone)]
struct Positioned {
    token: Token,
    line: usize,
    column: usize,
}

fn tokenize(source: &str) -> Result<Vec<Positioned>, SyntaxError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut line_start) = (0usize, 1usize, 0usize);
    while i < chars.len() {
        let c = chars[i];
        let column = i - line_start + 1;
        let error = |message: String| SyntaxError { message, line, column };
        match c {
            '\n' => {
                line += 1;
                i += 1;
                line_start = i;
            }
            ' ' | '\t' | '\r' | ',' | '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    tokens.push(Positioned { token: Token::Spread, line, column });
                    i += 3;
                } else {
                    return Err(error("syntax error, unexpected '.'".into()));
                }
            }
            '!' | '$' | '(' | ')' | ':' | '=' | '@' | '[' | ']' | '{' | '}' | '|' | '&' => {
                tokens.push(Positioned { token: Token::Punct(c), line, column });
                i += 1;
            }
            '"' => {
                if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                    let start = i + 3;
                    let mut end = start;
                    while end + 2 < chars.len()
                        && !(chars[end] == '"' && chars[end + 1] == '"' && chars[end + 2] == '"')
                    {
                        end += 1;
                    }
                    if end + 2 >= chars.len() {
                        return Err(error("syntax error, unterminated block string".into()));
                    }
                    let text: String = chars[start..end].iter().collect();
                    line += text.matches('\n').count();
                    tokens.push(Positioned { token: Token::Str(text.trim().to_owned()), line, column });
                    i = end + 3;
                } else {
                    let mut text = String::new();
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None | Some('\n') => return Err(error("syntax error, unterminated string".into())),
                            Some('"') => break,
                            Some('\\') => {
                                let escaped = match chars.get(i + 1) {
                                    Some('n') => '\n',
                                    Some('t') => '\t',
                                    Some('r') => '\r',
                                    Some('b') => '\u{8}',
                                    Some('f') => '\u{c}',
                                    Some('u') => {
                                        let hex: String = chars.iter().skip(i + 2).take(4).collect();
                                        let code = u32::from_str_radix(&hex, 16)
                                            .ok()
                                            .and_then(char::from_u32)
                                            .ok_or_else(|| error(format!("syntax error, bad escape \\u{hex}")))?;
                                        i += 4;
                                        code
                                    }
                                    Some(other) => *other,
                                    None => return Err(error("syntax error, unterminated string".into())),
                                };
                                text.push(escaped);
                                i += 2;
                            }
                            Some(other) => {
                                text.push(*other);
                                i += 1;
                            }
                        }
                    }
                    tokens.push(Positioned { token: Token::Str(text), line, column });
                    i += 1;
                }
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                let mut float = false;
                while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    float |= matches!(chars[i], '.' | 'e' | 'E');
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let token = if float {
                    Token::Float(text.parse().map_err(|_| error(format!("syntax error, bad number {text}")))?)
                } else {
                    Token::Int(text.parse().map_err(|_| error(format!("syntax error, bad number {text}")))?)
                };
                tokens.push(Positioned { token, line, column });
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                tokens.push(Positioned { token: Token::Name(chars[start..i].iter().collect()), line, column });
            }
            other => return Err(error(format!("syntax error, unexpected character '{other}'"))),
        }
    }
    tokens.push(Positioned { token: Token::End, line, column: i - line_start + 1 });
    Ok(tokens)
}

/// A value as written in the document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    Variable(String),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Enum(String),
    List(Vec<Ast>),
    Object(Vec<(String, Ast)>),
}

impl Ast {
    /// The JSON value, variables substituted (missing variables are null).
    pub(crate) fn resolve(&self, variables: &Map<String, Value>) -> Value {
        match self {
            Ast::Variable(name) => variables.get(name).cloned().unwrap_or(Value::Null),
            Ast::Int(n) => json!(n),
            Ast::Float(f) => json!(f),
            Ast::Str(s) | Ast::Enum(s) => json!(s),
            Ast::Bool(b) => json!(b),
            Ast::Null => Value::Null,
            Ast::List(items) => Value::Array(items.iter().map(|i| i.resolve(variables)).collect()),
            Ast::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.resolve(variables))).collect())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) alias: Option<String>,
    pub(crate) name: String,
    pub(crate) arguments: Vec<(String, Ast)>,
    pub(crate) selections: Vec<Selection>,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Field {
    /// The key of this field in the response.
    pub(crate) fn response_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Selection {
    Field(Field),
    Inline { type_condition: Option<String>, selections: Vec<Selection> },
    Spread(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) kind: OperationKind,
    pub(crate) name: Option<String>,
    /// Default values of the variable definitions.
    pub(crate) defaults: Map<String, Value>,
    pub(crate) selections: Vec<Selection>,
}

#[derive(Debug, Clone)]
pub(crate) struct Fragment {
    pub(crate) type_condition: String,
    pub(crate) selections: Vec<Selection>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub(crate) operations: Vec<Operation>,
    pub(crate) fragments: HashMap<String, Fragment>,
}

impl Document {
    /// The operation to run: the one named `name`, or the only one.
    pub(crate) fn operation(&self, name: Option<&str>) -> Result<&Operation, String> {
        match name {
            Some(name) => self
                .operations
                .iter()
                .find(|o| o.name.as_deref() == Some(name))
                .ok_or_else(|| format!("No operation named \"{name}\"")),
            None if self.operations.len() == 1 => Ok(&self.operations[0]),
            None if self.operations.is_empty() => Err("No operations in query document".to_owned()),
            None => Err("An operation name is required".to_owned()),
        }
    }
}

struct Parser {
    tokens: Vec<Positioned>,
    at: usize,
}

pub(crate) fn parse(source: &str) -> Result<Document, SyntaxError> {
    let mut parser = Parser { tokens: tokenize(source)?, at: 0 };
    let mut document = Document::default();
    while parser.peek() != &Token::End {
        match parser.peek().clone() {
            Token::Punct('{') => document.operations.push(Operation {
                kind: OperationKind::Query,
                name: None,
                defaults: Map::new(),
                selections: parser.selection_set()?,
            }),
            Token::Name(word) if word == "fragment" => {
                parser.next();
                let name = parser.name()?;
                parser.keyword("on")?;
                let type_condition = parser.name()?;
                parser.directives()?;
                document.fragments.insert(name, Fragment { type_condition, selections: parser.selection_set()? });
            }
            Token::Name(word) if matches!(word.as_str(), "query" | "mutation" | "subscription") => {
                parser.next();
                let kind = match word.as_str() {
                    "query" => OperationKind::Query,
                    "mutation" => OperationKind::Mutation,
                    _ => OperationKind::Subscription,
                };
                let name = match parser.peek() {
                    Token::Name(_) => Some(parser.name()?),
                    _ => None,
                };
                let defaults = parser.variable_definitions()?;
                parser.directives()?;
                document.operations.push(Operation { kind, name, defaults, selections: parser.selection_set()? });
            }
            _ => return Err(parser.unexpected()),
        }
    }
    Ok(document)
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)].token
    }

    fn position(&self) -> (usize, usize) {
        let t = &self.tokens[self.at.min(self.tokens.len() - 1)];
        (t.line, t.column)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn unexpected(&self) -> SyntaxError {
        let (line, column) = self.position();
        let found = match self.peek() {
            Token::Punct(c) => format!("'{c}'"),
            Token::Spread => "'...'".to_owned(),
            Token::Name(n) => n.clone(),
            Token::Int(n) => n.to_string(),
            Token::Float(f) => f.to_string(),
            Token::Str(s) => format!("\"{s}\""),
            Token::End => "end of file".to_owned(),
        };
        SyntaxError { message: format!("syntax error, unexpected {found}"), line, column }
    }

    fn expect(&mut self, c: char) -> Result<(), SyntaxError> {
        if self.peek() == &Token::Punct(c) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == &Token::Punct(c) {
            self.next();
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Token::Name(_) => match self.next() {
                Token::Name(n) => Ok(n),
                _ => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), SyntaxError> {
        match self.peek() {
            Token::Name(n) if n == word => {
                self.next();
                Ok(())
            }
            _ => Err(self.unexpected()),
        }
    }

    fn variable_definitions(&mut self) -> Result<Map<String, Value>, SyntaxError> {
        let mut defaults = Map::new();
        if !self.eat('(') {
            return Ok(defaults);
        }
        while !self.eat(')') {
            self.expect('$')?;
            let name = self.name()?;
            self.expect(':')?;
            self.type_reference()?;
            if self.eat('=') {
                let value = self.value(true)?;
                defaults.insert(name, value.resolve(&Map::new()));
            }
            self.directives()?;
        }
        Ok(defaults)
    }

    fn type_reference(&mut self) -> Result<(), SyntaxError> {
        if self.eat('[') {
            self.type_reference()?;
            self.expect(']')?;
        } else {
            self.name()?;
        }
        self.eat('!');
        Ok(())
    }

    fn directives(&mut self) -> Result<(), SyntaxError> {
        while self.eat('@') {
            self.name()?;
            self.arguments()?;
        }
        Ok(())
    }

    fn arguments(&mut self) -> Result<Vec<(String, Ast)>, SyntaxError> {
        let mut arguments = Vec::new();
        if !self.eat('(') {
            return Ok(arguments);
        }
        while !self.eat(')') {
            let name = self.name()?;
            self.expect(':')?;
            arguments.push((name, self.value(false)?));
        }
        Ok(arguments)
    }

    fn value(&mut self, constant: bool) -> Result<Ast, SyntaxError> {
        match self.next() {
            Token::Punct('$') if !constant => Ok(Ast::Variable(self.name()?)),
            Token::Int(n) => Ok(Ast::Int(n)),
            Token::Float(f) => Ok(Ast::Float(f)),
            Token::Str(s) => Ok(Ast::Str(s)),
            Token::Name(n) => Ok(match n.as_str() {
                "true" => Ast::Bool(true),
                "false" => Ast::Bool(false),
                "null" => Ast::Null,
                _ => Ast::Enum(n),
            }),
            Token::Punct('[') => {
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value(constant)?);
                }
                Ok(Ast::List(items))
            }
            Token::Punct('{') => {
                let mut fields = Vec::new();
                while !self.eat('}') {
                    let name = self.name()?;
                    self.expect(':')?;
                    fields.push((name, self.value(constant)?));
                }
                Ok(Ast::Object(fields))
            }
            _ => {
                self.at = self.at.saturating_sub(1);
                Err(self.unexpected())
            }
        }
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, SyntaxError> {
        self.expect('{')?;
        let mut selections = Vec::new();
        while !self.eat('}') {
            if self.peek() == &Token::Spread {
                self.next();
                match self.peek().clone() {
                    Token::Name(word) if word == "on" => {
                        self.next();
                        let type_condition = Some(self.name()?);
                        self.directives()?;
                        selections.push(Selection::Inline { type_condition, selections: self.selection_set()? });
                    }
                    Token::Name(_) => {
                        let name = self.name()?;
                        self.directives()?;
                        selections.push(Selection::Spread(name));
                    }
                    _ => {
                        self.directives()?;
                        selections.push(Selection::Inline { type_condition: None, selections: self.selection_set()? });
                    }
                }
                continue;
            }
            let (line, column) = self.position();
            let first = self.name()?;
            let (alias, name) = if self.eat(':') { (Some(first), self.name()?) } else { (None, first) };
            let arguments = self.arguments()?;
            self.directives()?;
            let selections_of_field =
                if self.peek() == &Token::Punct('{') { self.selection_set()? } else { Vec::new() };
            selections.push(Selection::Field(Field {
                alias,
                name,
                arguments,
                selections: selections_of_field,
                line,
                column,
            }));
        }
        Ok(selections)
    }
}

/// Interfaces every object type implements here, for fragments on them (`... on Node`).
const INTERFACES: &[&str] = &["Node", "HasMetafields", "LegacyInteroperability", "CommentEventSubject", "HasEvents"];

/// Shapes full objects to selection sets.
pub(crate) struct Projector<'a> {
    pub(crate) fragments: &'a HashMap<String, Fragment>,
}

impl Projector<'_> {
    /// Projects `full` to `selections`. `path` names the position for errors (`["query", "orders", "nodes"]`).
    pub(crate) fn project(
        &self,
        full: &Value,
        selections: &[Selection],
        path: &mut Vec<String>,
        errors: &mut Vec<Value>,
    ) -> Value {
        match full {
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.project(i, selections, path, errors)).collect())
            }
            Value::Object(object) => {
                let type_name = object.get("__typename").and_then(Value::as_str).unwrap_or("Object");
                let mut fields = Vec::new();
                self.collect(selections, type_name, &mut fields);
                let mut out = Map::new();
                for field in fields {
                    let key = field.response_key().to_owned();
                    let Some(value) = object.get(&field.name) else {
                        errors.push(undefined_field(field, type_name, path));
                        continue;
                    };
                    path.push(field.name.clone());
                    let projected = if is_composite(value) {
                        if field.selections.is_empty() {
                            errors.push(json!({
                                "message": format!(
                                    "Field must have selections (field '{}' returns {} but has no selections. Did you mean '{} {{ ... }}'?)",
                                    field.name, composite_type(value), field.name
                                ),
                                "locations": [{"line": field.line, "column": field.column}],
                                "path": path.clone(),
                                "extensions": {"code": "selectionMismatch", "nodeName": format!("field '{}'", field.name)},
                            }));
                            Value::Null
                        } else {
                            self.project(value, &field.selections, path, errors)
                        }
                    } else {
                        value.clone()
                    };
                    path.pop();
                    match (out.get_mut(&key), projected) {
                        (Some(existing), projected) => merge(existing, projected),
                        (None, projected) => {
                            out.insert(key, projected);
                        }
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn collect<'s>(&'s self, selections: &'s [Selection], type_name: &str, out: &mut Vec<&'s Field>) {
        for selection in selections {
            match selection {
                Selection::Field(field) => out.push(field),
                Selection::Inline { type_condition, selections } => {
                    if applies(type_condition.as_deref(), type_name) {
                        self.collect(selections, type_name, out);
                    }
                }
                Selection::Spread(name) => {
                    if let Some(fragment) = self.fragments.get(name)
                        && applies(Some(&fragment.type_condition), type_name)
                    {
                        self.collect(&fragment.selections, type_name, out);
                    }
                }
            }
        }
    }
}

fn applies(condition: Option<&str>, type_name: &str) -> bool {
    match condition {
        None => true,
        Some(condition) => condition == type_name || type_name == "Object" || INTERFACES.contains(&condition),
    }
}

/// Objects, and lists whose first element is an object, need a selection set.
fn is_composite(value: &Value) -> bool {
    match value {
        Value::Object(_) => true,
        Value::Array(items) => items.first().is_some_and(is_composite),
        _ => false,
    }
}

fn composite_type(value: &Value) -> String {
    match value {
        Value::Object(o) => o.get("__typename").and_then(Value::as_str).unwrap_or("Object").to_owned(),
        Value::Array(items) => format!("[{}!]!", items.first().map(composite_type).unwrap_or_default()),
        _ => "Scalar".to_owned(),
    }
}

fn undefined_field(field: &Field, type_name: &str, path: &[String]) -> Value {
    let mut full_path = path.to_vec();
    full_path.push(field.name.clone());
    json!({
        "message": format!("Field '{}' doesn't exist on type '{type_name}'", field.name),
        "locations": [{"line": field.line, "column": field.column}],
        "path": full_path,
        "extensions": {"code": "undefinedField", "typeName": type_name, "fieldName": field.name},
    })
}

/// Merges a second selection of the same response key into the first (fields of both).
fn merge(existing: &mut Value, other: Value) {
    match (existing, other) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match a.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        a.insert(key, value);
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (slot, value) in a.iter_mut().zip(b) {
                merge(slot, value);
            }
        }
        (slot, value) => *slot = value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = r#"
        # Incremental order sync.
        query Orders($first: Int!, $after: String, $q: String = "updated_at:>='2026-10-01'") {
          orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {
            pageInfo { hasNextPage endCursor }
            nodes { id name ...Money customer { id email } }
          }
        }
        fragment Money on Order { total: totalPriceSet { shopMoney { amount currencyCode } } }
    "#;

    #[test]
    fn parses_operations_arguments_and_fragments() {
        let document = parse(ORDERS).unwrap();
        let operation = document.operation(None).unwrap();
        assert_eq!(operation.kind, OperationKind::Query);
        assert_eq!(operation.name.as_deref(), Some("Orders"));
        assert_eq!(operation.defaults["q"], "updated_at:>='2026-10-01'");
        let Selection::Field(orders) = &operation.selections[0] else { panic!("not a field") };
        assert_eq!(orders.name, "orders");
        let mut variables = Map::new();
        variables.insert("first".into(), json!(50));
        let args: Vec<(String, Value)> =
            orders.arguments.iter().map(|(k, v)| (k.clone(), v.resolve(&variables))).collect();
        assert_eq!(args[0], ("first".to_owned(), json!(50)));
        assert_eq!(args[1].1, Value::Null);
        assert_eq!(args[3], ("sortKey".to_owned(), json!("UPDATED_AT")));
        assert!(document.fragments.contains_key("Money"));
    }

    #[test]
    fn parses_literal_input_objects_aliases_and_strings() {
        let document = parse(
            r#"mutation { a: discountCodeBasicCreate(basicCodeDiscount: {title: "Ten \"off\"", code: "TEN", customerGets: {value: {percentage: 0.1}, items: {all: true}}, usageLimit: -1, tags: [A, B]}) { userErrors { field message } } }"#,
        )
        .unwrap();
        let operation = document.operation(None).unwrap();
        let Selection::Field(field) = &operation.selections[0] else { panic!("not a field") };
        assert_eq!(field.response_key(), "a");
        let input = field.arguments[0].1.resolve(&Map::new());
        assert_eq!(input["title"], "Ten \"off\"");
        assert_eq!(input["customerGets"]["value"]["percentage"], 0.1);
        assert_eq!(input["usageLimit"], -1);
        assert_eq!(input["tags"], json!(["A", "B"]));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let error = parse("query {\n  orders(first: 10 {\n}").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("unexpected"), "{}", error.message);
        assert!(parse("{ a").is_err());
    }

    #[test]
    fn projection_keeps_what_was_selected_and_reports_unknown_fields() {
        let document = parse(ORDERS).unwrap();
        let operation = document.operation(None).unwrap();
        let Selection::Field(orders) = &operation.selections[0] else { panic!("not a field") };
        let full = json!({
            "__typename": "OrderConnection",
            "pageInfo": {"__typename": "PageInfo", "hasNextPage": false, "endCursor": null, "startCursor": null},
            "nodes": [{"__typename": "Order", "id": "gid://shopify/Order/1", "name": "#1001", "email": "x",
                       "totalPriceSet": {"__typename": "MoneyBag", "shopMoney": {"__typename": "MoneyV2", "amount": "1.0", "currencyCode": "USD"}},
                       "customer": null}],
        });
        let projector = Projector { fragments: &document.fragments };
        let mut errors = Vec::new();
        let out = projector.project(&full, &orders.selections, &mut vec!["orders".into()], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            out,
            json!({"pageInfo": {"hasNextPage": false, "endCursor": null},
                   "nodes": [{"id": "gid://shopify/Order/1", "name": "#1001", "total": {"shopMoney": {"amount": "1.0", "currencyCode": "USD"}}, "customer": null}]})
        );

        let document = parse("{ orders(first: 1) { nodes { id colour } } }").unwrap();
        let Selection::Field(orders) = &document.operations[0].selections[0] else { panic!("not a field") };
        let mut errors = Vec::new();
        projector.project(&full, &orders.selections, &mut vec!["orders".into()], &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0]["extensions"]["code"], "undefinedField");
        assert_eq!(errors[0]["extensions"]["typeName"], "Order");
        assert_eq!(errors[0]["path"], json!(["orders", "nodes", "colour"]));
    }

    #[test]
    fn fragments_apply_by_type_and_composites_need_selections() {
        let full = json!({"__typename": "DiscountCodeNode", "id": "1",
                          "codeDiscount": {"__typename": "DiscountCodeBasic", "title": "T"}});
        let document =
            parse("{ x { id codeDiscount { __typename ... on DiscountCodeBasic { title } ... on DiscountAutomaticBasic { nope } } } }")
                .unwrap();
        let Selection::Field(x) = &document.operations[0].selections[0] else { panic!("not a field") };
        let projector = Projector { fragments: &document.fragments };
        let mut errors = Vec::new();
        let out = projector.project(&full, &x.selections, &mut Vec::new(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out, json!({"id": "1", "codeDiscount": {"__typename": "DiscountCodeBasic", "title": "T"}}));

        let document = parse("{ x { codeDiscount } }").unwrap();
        let Selection::Field(x) = &document.operations[0].selections[0] else { panic!("not a field") };
        let mut errors = Vec::new();
        projector.project(&full, &x.selections, &mut Vec::new(), &mut errors);
        assert_eq!(errors[0]["extensions"]["code"], "selectionMismatch");
    }
}
