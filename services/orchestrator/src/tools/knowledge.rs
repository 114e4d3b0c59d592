//! The built-in read tool over the tenant's knowledge base:
//!
//! | tool               | input                                   | output                                          |
//! |--------------------|-----------------------------------------|-------------------------------------------------|
//! | `knowledge.search` | `query`, `limit` (default 5, at most 20) | `passages` (chunk, document, title, heading, text, score), `count` |
//!
//! Passages are the tenant's own documents, closest first. Their text is data for the answer to quote: nothing in
//! it can add, change or approve a step (plans come from the question only; see `plan`).

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_mesh::context::RequestContext;

use super::ToolSpec;
use crate::error::ToolError;
use crate::knowledge::Knowledge;

/// The tool's name.
pub(crate) const SEARCH: &str = "knowledge.search";
/// Most passages one call returns.
const MAX_LIMIT: u64 = 20;
/// Longest query, in characters.
const MAX_QUERY_CHARS: usize = 4000;

/// Whether `tool` is this module's.
pub(crate) fn is_builtin(tool: &str) -> bool {
    tool == SEARCH
}

/// The tool's spec.
pub(crate) fn specs() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: SEARCH.to_owned(),
        description: "Finds the passages of the tenant's documents (policies, handbooks, notes) closest to a query"
            .to_owned(),
        provider: None,
        needs_approval: false,
        read_only: true,
        input_schema: json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "what to look for, in plain language"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
            "required": ["query"],
            "additionalProperties": false,
        }),
    }]
}

/// A parsed input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchInput {
    query: String,
    limit: Option<u64>,
}

/// Parses and checks an input.
pub(crate) fn parse(input: &Value) -> Result<SearchInput, ToolError> {
    let parsed: SearchInput =
        serde_json::from_value(input.clone()).map_err(|e| ToolError::invalid(format!("{SEARCH} input: {e}")))?;
    let length = parsed.query.trim().chars().count();
    if length == 0 || length > MAX_QUERY_CHARS {
        return Err(ToolError::invalid(format!("input.query: 1-{MAX_QUERY_CHARS} characters")));
    }
    if parsed.limit.is_some_and(|l| l == 0 || l > MAX_LIMIT) {
        return Err(ToolError::invalid(format!("input.limit: 1-{MAX_LIMIT}")));
    }
    Ok(parsed)
}

/// Runs a search in the context's tenant.
pub(crate) async fn run(
    knowledge: &Knowledge,
    context: &RequestContext,
    input: &SearchInput,
) -> Result<Value, ToolError> {
    let tenant = context.require_tenant().map_err(|e| ToolError::invalid(e.to_string()))?;
    let limit = input.limit.unwrap_or(5) as usize;
    let passages = knowledge.search(tenant, input.query.trim(), limit).await.map_err(|e| {
        tracing::error!(error = %e, "knowledge search failed");
        ToolError { code: tonic::Code::Unavailable as i32, message: "the knowledge base could not be searched".into() }
    })?;
    let passages: Vec<Value> = passages.iter().map(|p| p.to_json()).collect();
    Ok(json!({"query": input.query.trim(), "count": passages.len(), "passages": passages}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked() {
        assert!(parse(&json!({"query": "return policy"})).is_ok());
        assert!(parse(&json!({"query": "return policy", "limit": 20})).is_ok());
        assert!(parse(&json!({"query": "  "})).is_err());
        assert!(parse(&json!({"query": "x", "limit": 0})).is_err());
        assert!(parse(&json!({"query": "x", "limit": 21})).is_err());
        assert!(parse(&json!({"query": "x", "tenant": "other"})).is_err(), "no field picks another tenant");
    }
}
