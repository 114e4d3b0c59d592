//! Plans: a small DAG of steps, each a tool call whose input may refer to the outputs of the steps it depends on.
//!
//! ## References
//!
//! A reference is a JSON object with the single key `$ref`, anywhere in a step's input:
//!
//! ```json
//! {"charge": {"$ref": "steps.1.output.records.0.id"}}
//! ```
//!
//! `steps.<id>.output` names step `<id>`'s output; each further dot-separated segment is an object key, or an index
//! into an array. A reference is replaced by the value it names just before the step runs (and `Step.input` shows
//! the result). A step may refer only to steps in its `depends_on`, and a step may depend only on steps before it, so
//! every plan is acyclic by construction. A reference that names nothing fails the step (its dependants are skipped).
//!
//! ## What a plan may not do
//!
//! A plan is checked against the tool catalog before anything runs ([`check`]): every tool must exist, a connector
//! action must name a connection of its provider that the run may use, and a tool the catalog marks `needs_approval`
//! needs it whatever the planner said. Plans come from the question only: tool outputs fill references, and nothing
//! in an output can add, change or approve a step.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::tools::ToolSpec;

/// Most steps in a plan.
pub const MAX_STEPS: usize = 20;

/// A plan as a planner writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanDraft {
    /// One line for a person.
    pub summary: String,
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// One step as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStep {
    /// Unique within the plan (`1`, `2`, ...).
    pub id: String,
    /// What it does, for a person.
    pub description: String,
    /// Tool name.
    pub tool: String,
    /// `connections/{id}`, or empty for built-in tools.
    pub connection: String,
    /// Input, possibly with references.
    pub input: Value,
    /// Whether it waits for approval.
    pub needs_approval: bool,
    /// Earlier steps whose output it uses.
    pub depends_on: Vec<String>,
}

/// A connection a run may use: its resource name and provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableConnection {
    /// `connections/{id}`.
    pub name: String,
    /// `stripe`, `shopify`, ...
    pub provider: String,
}

/// Checks `plan` against `catalog` and the connections the run may use, and forces approval on every tool the
/// catalog says needs it. The error says what is wrong, for the person (and for a model repairing its plan).
pub(crate) fn check(
    plan: &mut PlanDraft,
    catalog: &[ToolSpec],
    connections: &[UsableConnection],
) -> Result<(), String> {
    if plan.steps.len() > MAX_STEPS {
        return Err(format!("the plan has {} steps; at most {MAX_STEPS}", plan.steps.len()));
    }
    let mut seen: HashSet<String> = HashSet::new();
    for step in &mut plan.steps {
        let id = step.id.clone();
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("step id {id:?}: use 1-32 letters, digits, - or _"));
        }
        if seen.contains(&id) {
            return Err(format!("step {id}: the id is used twice"));
        }
        let tool = catalog
            .iter()
            .find(|t| t.name == step.tool)
            .ok_or_else(|| format!("step {id}: no tool named {:?}", step.tool))?;
        step.needs_approval |= tool.needs_approval;
        match &tool.provider {
            Some(provider) => {
                let usable = connections.iter().any(|c| c.name == step.connection && &c.provider == provider);
                if !usable {
                    return Err(format!(
                        "step {id}: {} needs a {provider} connection this run may use, not {:?}",
                        step.tool, step.connection
                    ));
                }
            }
            None if !step.connection.is_empty() && !connections.iter().any(|c| c.name == step.connection) => {
                return Err(format!("step {id}: connection {:?} is not one this run may use", step.connection));
            }
            None => {}
        }
        for dependency in &step.depends_on {
            if !seen.contains(dependency) {
                return Err(format!("step {id}: depends on {dependency:?}, which is not an earlier step"));
            }
        }
        for reference in references(&step.input) {
            let target = reference_step(&reference).ok_or_else(|| {
                format!("step {id}: {reference:?} is not a reference of the form steps.<id>.output...")
            })?;
            if !step.depends_on.iter().any(|d| d == target) {
                return Err(format!("step {id}: refers to step {target}, which is not in its depends_on"));
            }
        }
        if !step.input.is_object() {
            return Err(format!("step {id}: input must be a JSON object"));
        }
        seen.insert(id);
    }
    Ok(())
}

/// Every reference in `value`.
pub(crate) fn references(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect(value, &mut found);
    found
}

fn collect(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => match as_reference(map) {
            Some(reference) => found.push(reference.to_owned()),
            None => map.values().for_each(|v| collect(v, found)),
        },
        Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
        _ => {}
    }
}

fn as_reference(map: &serde_json::Map<String, Value>) -> Option<&str> {
    if map.len() != 1 {
        return None;
    }
    map.get("$ref").and_then(Value::as_str)
}

/// The step id a reference names.
fn reference_step(reference: &str) -> Option<&str> {
    let mut parts = reference.split('.');
    (parts.next()? == "steps").then_some(())?;
    let id = parts.next()?;
    (parts.next()? == "output").then_some(id)
}

/// `template` with every reference replaced by the value it names in `outputs` (step id → output).
pub(crate) fn resolve(template: &Value, outputs: &HashMap<String, Value>) -> Result<Value, String> {
    match template {
        Value::Object(map) => {
            if let Some(reference) = as_reference(map) {
                let id = reference_step(reference).ok_or_else(|| format!("{reference:?} is not a reference"))?;
                let output = outputs.get(id).ok_or_else(|| format!("{reference}: step {id} has no output"))?;
                let mut value = output;
                for key in reference.split('.').skip(3) {
                    value = match value {
                        Value::Object(map) => map.get(key),
                        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                        _ => None,
                    }
                    .ok_or_else(|| format!("{reference}: step {id}'s output has nothing at {key:?}"))?;
                }
                return Ok(value.clone());
            }
            let mut resolved = serde_json::Map::new();
            for (key, value) in map {
                resolved.insert(key.clone(), resolve(value, outputs)?);
            }
            Ok(Value::Object(resolved))
        }
        Value::Array(items) => {
            items.iter().map(|v| resolve(v, outputs)).collect::<Result<Vec<_>, _>>().map(Value::Array)
        }
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, provider: Option<&str>, needs_approval: bool) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            provider: provider.map(str::to_owned),
            needs_approval,
            read_only: !needs_approval,
            input_schema: Value::Null,
        }
    }

    fn step(id: &str, tool: &str, connection: &str, input: Value, depends_on: &[&str]) -> PlannedStep {
        PlannedStep {
            id: id.into(),
            description: String::new(),
            tool: tool.into(),
            connection: connection.into(),
            input,
            needs_approval: false,
            depends_on: depends_on.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn references_resolve_into_earlier_outputs() {
        let outputs = HashMap::from([("1".to_owned(), json!({"records": [{"id": "ch_1", "data": {"amount": 500}}]}))]);
        let template = json!({"charge": {"$ref": "steps.1.output.records.0.id"}, "n": [{"$ref": "steps.1.output.records.0.data.amount"}]});
        assert_eq!(resolve(&template, &outputs).unwrap(), json!({"charge": "ch_1", "n": [500]}));
        let missing = json!({"charge": {"$ref": "steps.1.output.records.3.id"}});
        assert!(resolve(&missing, &outputs).unwrap_err().contains("nothing at \"3\""));
    }

    #[test]
    fn plans_are_checked_and_approval_is_forced() {
        let catalog = [tool("records.query", None, false), tool("stripe.refund.create", Some("stripe"), true)];
        let connections = [UsableConnection { name: "connections/a".into(), provider: "stripe".into() }];
        let mut plan = PlanDraft {
            summary: String::new(),
            steps: vec![
                step("1", "records.query", "", json!({"kind": "charge"}), &[]),
                step(
                    "2",
                    "stripe.refund.create",
                    "connections/a",
                    json!({"charge": {"$ref": "steps.1.output.records.0.id"}}),
                    &["1"],
                ),
            ],
        };
        check(&mut plan, &catalog, &connections).unwrap();
        assert!(plan.steps[1].needs_approval, "the catalog's needs_approval wins over the planner's");

        let mut undeclared = plan.clone();
        undeclared.steps[1].depends_on.clear();
        assert!(check(&mut undeclared, &catalog, &connections).unwrap_err().contains("not in its depends_on"));
        let mut forward = plan.clone();
        forward.steps[0].depends_on = vec!["2".into()];
        assert!(check(&mut forward, &catalog, &connections).is_err(), "no cycles: only earlier steps");
        let mut elsewhere = plan.clone();
        elsewhere.steps[1].connection = "connections/other".into();
        assert!(check(&mut elsewhere, &catalog, &connections).is_err());
        let mut unknown = plan;
        unknown.steps[0].tool = "shell.exec".into();
        assert!(check(&mut unknown, &catalog, &connections).is_err());
    }
}
