//! Assembling streamed tool calls. Both providers send a call's arguments as string fragments of one JSON document
//! (OpenAI keyed by `tool_calls[].index`, interleaved for parallel calls; Anthropic per content block); the document
//! is only checked once the call ends, because no fragment is JSON on its own.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::chat::ToolCall;
use crate::error::ModelError;

/// A call whose arguments are still arriving.
#[derive(Debug)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
}

/// The open calls of one response, by index.
#[derive(Debug, Default)]
pub(crate) struct ToolCallAssembler {
    open: BTreeMap<usize, Partial>,
}

impl ToolCallAssembler {
    /// A call begins; its id and name arrive with its first fragment.
    pub(crate) fn start(&mut self, provider: &str, index: usize, id: String, name: String) -> Result<(), ModelError> {
        if self.open.contains_key(&index) {
            return Err(protocol(provider, format!("tool call {index} started twice")));
        }
        self.open.insert(index, Partial { id, name, arguments: String::new() });
        Ok(())
    }

    /// Whether a call with this index is open.
    pub(crate) fn is_open(&self, index: usize) -> bool {
        self.open.contains_key(&index)
    }

    /// Appends an argument fragment.
    pub(crate) fn push(&mut self, provider: &str, index: usize, fragment: &str) -> Result<(), ModelError> {
        match self.open.get_mut(&index) {
            Some(call) => {
                call.arguments.push_str(fragment);
                Ok(())
            }
            None => Err(protocol(provider, format!("arguments for tool call {index}, which never started"))),
        }
    }

    /// Ends a call: its arguments must now parse as JSON (no arguments at all mean `{}`).
    pub(crate) fn finish(&mut self, provider: &str, index: usize) -> Result<ToolCall, ModelError> {
        let call = self
            .open
            .remove(&index)
            .ok_or_else(|| protocol(provider, format!("tool call {index} ended but never started")))?;
        parse_call(provider, index, call.id, call.name, &call.arguments)
    }

    /// Ends every open call, in index order.
    pub(crate) fn finish_all(&mut self, provider: &str) -> Result<Vec<(usize, ToolCall)>, ModelError> {
        let indices: Vec<usize> = self.open.keys().copied().collect();
        indices.into_iter().map(|index| Ok((index, self.finish(provider, index)?))).collect()
    }
}

/// A tool call from its raw argument text (OpenAI's `arguments` is a JSON *string* even without streaming).
pub(crate) fn parse_call(
    provider: &str,
    index: usize,
    id: String,
    name: String,
    arguments: &str,
) -> Result<ToolCall, ModelError> {
    let arguments = if arguments.trim().is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(arguments).map_err(|e| ModelError::MalformedToolArguments {
            provider: provider.to_owned(),
            tool: name.clone(),
            index,
            reason: e.to_string(),
        })?
    };
    Ok(ToolCall { id, name, arguments })
}

fn protocol(provider: &str, message: String) -> ModelError {
    ModelError::Protocol { provider: provider.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn interleaved_fragments_assemble_per_index() {
        let mut calls = ToolCallAssembler::default();
        calls.start("p", 0, "call_a".into(), "orders".into()).unwrap();
        calls.start("p", 1, "call_b".into(), "charges".into()).unwrap();
        for (index, fragment) in [(0, "{\"status\":"), (1, "{\"limit\""), (0, "\"open\"}"), (1, ":3}")] {
            calls.push("p", index, fragment).unwrap();
        }
        let done = calls.finish_all("p").unwrap();
        assert_eq!(done[0].1.arguments, json!({"status": "open"}));
        assert_eq!(done[1].1, ToolCall { id: "call_b".into(), name: "charges".into(), arguments: json!({"limit": 3}) });
    }

    #[test]
    fn a_malformed_document_is_a_typed_error() {
        let mut calls = ToolCallAssembler::default();
        calls.start("p", 0, "call_a".into(), "orders".into()).unwrap();
        calls.push("p", 0, "{\"status\": open}").unwrap();
        let error = calls.finish("p", 0).unwrap_err();
        assert!(matches!(error, ModelError::MalformedToolArguments { ref tool, index: 0, .. } if tool == "orders"));
        assert!(calls.push("p", 5, "x").is_err());
    }
}
