//! A model's step inputs checked against the tools' JSON Schemas before a plan is accepted, so a wrong input is
//! sent back to the model for its one repair instead of failing the step later.
//!
//! The subset checked is what the connectors' catalog (schemars output) and the built-in tools use: `type` (one or
//! several), `enum`, `const`, `required`, `properties`, `additionalProperties: false`, `items`, `minimum` /
//! `maximum`, `minLength` / `maxLength`, `anyOf` / `oneOf` (one branch must hold), and `$ref` into the schema's own
//! `$defs` / `definitions`. Other keywords are not checked here; the connectors service checks the resolved input
//! against the whole schema again (`validate_only`) before a write is offered for approval. A plan reference
//! (`{"$ref": "steps.1.output..."}`) stands for a value not known yet and is not checked.

use serde_json::{Map, Value};

/// Nested `$ref`s followed before giving up (a schema that refers to itself forever).
const MAX_DEPTH: usize = 32;

/// Checks `value` against `schema`; the error names the path (`input.amount`) and what was expected.
pub(crate) fn check(schema: &Value, value: &Value) -> Result<(), String> {
    check_at(schema, schema, value, "input", 0)
}

fn check_at(root: &Value, schema: &Value, value: &Value, path: &str, depth: usize) -> Result<(), String> {
    let Some(schema) = schema.as_object() else { return Ok(()) };
    if depth > MAX_DEPTH {
        return Err(format!("{path}: the tool's schema nests too deeply to check"));
    }
    if is_plan_reference(value) {
        return Ok(());
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, reference).ok_or_else(|| format!("{path}: the tool's schema has {reference:?}"))?;
        check_at(root, target, value, path, depth + 1)?;
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
            let mut reasons = Vec::new();
            for branch in branches {
                match check_at(root, branch, value, path, depth + 1) {
                    Ok(()) => {
                        reasons.clear();
                        break;
                    }
                    Err(reason) => reasons.push(reason),
                }
            }
            if !reasons.is_empty() {
                return Err(reasons.join("; or "));
            }
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| is_type(value, t)) {
            return Err(format!("{path}: expected {}, got {}", allowed.join(" or "), describe(value)));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let shown: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err(format!("{path}: expected one of {}, got {value}", shown.join(", ")));
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Err(format!("{path}: expected {expected}, got {value}"));
    }
    match value {
        Value::Object(map) => check_object(root, schema, map, path, depth),
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check_at(root, item, v, &format!("{path}.{i}"), depth + 1)?;
                }
            }
            Ok(())
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                return Err(format!("{path}: at least {min}, got {n}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                return Err(format!("{path}: at most {max}, got {n}"));
            }
            Ok(())
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                return Err(format!("{path}: at least {min} characters"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                return Err(format!("{path}: at most {max} characters"));
            }
            Ok(())
        }
        Value::Bool(_) | Value::Null => Ok(()),
    }
}

fn check_object(
    root: &Value,
    schema: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), String> {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                return Err(format!("{path}.{name}: required"));
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, v) in map {
        match properties.and_then(|p| p.get(name)) {
            Some(property) => check_at(root, property, v, &format!("{path}.{name}"), depth + 1)?,
            None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                let known: Vec<&str> = properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                return Err(format!("{path}.{name}: not an input of this tool (its inputs: {})", known.join(", ")));
            }
            None => {}
        }
    }
    Ok(())
}

/// `{"$ref": "steps.…"}`: a value taken from an earlier step's output when the step runs.
fn is_plan_reference(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.len() == 1 && m.get("$ref").and_then(Value::as_str).is_some_and(|r| r.starts_with("steps.")))
}

/// A local `$ref` (`#/$defs/Name`, `#/definitions/Name`) in `root`.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        _ => true,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The shape schemars gives `stripe.refund.create`'s input.
    fn refund_schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["charge"],
            "properties": {
                "charge": {"type": "string"},
                "amount": {"type": ["integer", "null"], "minimum": 1},
                "reason": {"anyOf": [{"$ref": "#/$defs/RefundReason"}, {"type": "null"}]}
            },
            "$defs": {"RefundReason": {"type": "string", "enum": ["duplicate", "fraudulent", "requested_by_customer"]}}
        })
    }

    #[test]
    fn inputs_follow_the_schema_and_references_wait() {
        let schema = refund_schema();
        assert_eq!(check(&schema, &json!({"charge": "ch_1", "amount": 500, "reason": "duplicate"})), Ok(()));
        assert_eq!(check(&schema, &json!({"charge": {"$ref": "steps.1.output.records.0.id"}})), Ok(()));
        assert_eq!(check(&schema, &json!({"amount": 5})).unwrap_err(), "input.charge: required");
        assert!(check(&schema, &json!({"charge": "ch_1", "amount": 0})).unwrap_err().contains("at least 1"));
        assert!(check(&schema, &json!({"charge": "ch_1", "amount": "5"})).unwrap_err().contains("integer or null"));
        assert!(check(&schema, &json!({"charge": "ch_1", "reason": "because"})).unwrap_err().contains("one of"));
        let extra = check(&schema, &json!({"charge": "ch_1", "refund_everything": true})).unwrap_err();
        assert!(extra.contains("input.refund_everything: not an input"), "{extra}");
    }
}
