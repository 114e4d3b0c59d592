//! Conversions between JSON (how steps, inputs and outputs are stored and how tools think) and the protobuf
//! well-known types the contract carries (`google.protobuf.Struct`, `Timestamp`, `google.rpc.Status`).

use prost_types::value::Kind;
use serde_json::Value;
use switchboard_proto::orchestrator::v1 as pb;

use crate::planner::router::Intent;
use crate::storage::{RunRow, StepRow};

/// JSON to `google.protobuf.Value`.
pub(crate) fn json_to_value(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(json_to_value).collect() })
        }
        Value::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A JSON object to `google.protobuf.Struct`.
pub(crate) fn json_to_struct(map: &serde_json::Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct { fields: map.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect() }
}

/// JSON (an object, else nothing) to an optional `Struct`.
pub(crate) fn object_struct(value: &Value) -> Option<prost_types::Struct> {
    value.as_object().map(json_to_struct)
}

/// `google.protobuf.Struct` to JSON.
pub(crate) fn struct_to_json(value: &prost_types::Struct) -> Value {
    Value::Object(value.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}

/// `google.protobuf.Value` to JSON; integral numbers stay integers, so `"amount": 500` checks against an integer
/// schema.
pub(crate) fn value_to_json(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map(Value::Number).unwrap_or(Value::Null)
            }
        }
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

/// Microseconds since the epoch as a protobuf timestamp.
pub(crate) fn timestamp(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

/// A `google.rpc.Status`, or nothing for code 0.
pub(crate) fn rpc_status(code: i32, message: &str) -> Option<switchboard_proto::google::rpc::Status> {
    (code != 0).then(|| switchboard_proto::google::rpc::Status { code, message: message.to_owned(), details: vec![] })
}

// === stored rows as contract messages ===

/// JSON text as stored, parsed; `None` when absent or unreadable.
pub(crate) fn stored_json(text: Option<&str>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// `runs/{run}/steps/{step}`.
pub(crate) fn step_name(run_id: &str, step_id: &str) -> String {
    format!("runs/{run_id}/steps/{step_id}")
}

/// The ids a step depends on, as stored (space-separated).
pub(crate) fn depends_on(row: &StepRow) -> Vec<String> {
    row.depends_on.split_whitespace().map(str::to_owned).collect()
}

/// A step row as `Step`; with `full` false, without input and output (listings).
pub(crate) fn step_message(row: &StepRow, full: bool) -> pb::Step {
    let outcome = if !full {
        None
    } else if row.status == pb::StepStatus::Succeeded as i32 {
        stored_json(row.output.as_deref()).as_ref().and_then(object_struct).map(pb::step::Outcome::Output)
    } else {
        rpc_status(row.error_code, &row.error_message).map(pb::step::Outcome::Error)
    };
    pb::Step {
        name: step_name(&row.run_id, &row.id),
        id: row.id.clone(),
        description: row.description.clone(),
        tool: row.tool.clone(),
        connection: row.connection.clone(),
        input: if full { stored_json(row.input.as_deref()).as_ref().and_then(object_struct) } else { None },
        status: row.status,
        needs_approval: row.needs_approval,
        outcome,
        audit_event_id: row.audit_event_id.clone(),
        reviewer: row.reviewer.clone(),
        review_time: row.reviewed_at_us.map(timestamp),
        review_comment: row.review_comment.clone(),
        start_time: row.started_at_us.map(timestamp),
        end_time: row.ended_at_us.map(timestamp),
    }
}

/// The plan as planned (inputs with their references), from the step rows; `None` before planning.
pub(crate) fn plan_message(run: &RunRow, steps: &[StepRow], full: bool) -> Option<pb::Plan> {
    let summary = run.plan_summary.clone()?;
    Some(pb::Plan {
        summary,
        steps: steps
            .iter()
            .map(|s| pb::PlanStep {
                id: s.id.clone(),
                description: s.description.clone(),
                tool: s.tool.clone(),
                connection: s.connection.clone(),
                input: if full { stored_json(Some(&s.input_template)).as_ref().and_then(object_struct) } else { None },
                needs_approval: s.needs_approval,
                depends_on: depends_on(s),
            })
            .collect(),
    })
}

/// A run row and its steps as `Run`; with `full` false, steps carry no inputs or outputs (listings).
pub(crate) fn run_message(run: &RunRow, steps: &[StepRow], full: bool) -> pb::Run {
    use prost::Message;
    pb::Run {
        name: format!("runs/{}", run.id),
        id: run.id.clone(),
        question: run.question.clone(),
        status: run.status,
        plan: plan_message(run, steps, full),
        steps: steps.iter().map(|s| step_message(s, full)).collect(),
        answer: run.answer.as_deref().and_then(|bytes| pb::Answer::decode(bytes).ok()),
        model: run.model.clone(),
        error: rpc_status(run.error_code, &run.error_message),
        allowed_connections: run.allowed_connections.split_whitespace().map(str::to_owned).collect(),
        previous_run: run.previous_run.clone(),
        creator: run.creator.clone(),
        create_time: Some(timestamp(run.created_at_us)),
        update_time: Some(timestamp(run.updated_at_us)),
        end_time: run.ended_at_us.map(timestamp),
        intent: Intent::parse(&run.intent).map_or(pb::Intent::Unspecified, intent_message) as i32,
    }
}

/// An intent as the contract names it.
pub(crate) fn intent_message(intent: Intent) -> pb::Intent {
    match intent {
        Intent::Data => pb::Intent::Data,
        Intent::Action => pb::Intent::Action,
        Intent::Knowledge => pb::Intent::Knowledge,
        Intent::Help => pb::Intent::Help,
        Intent::Unsupported => pb::Intent::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_struct() {
        let json = serde_json::json!({"a": 1, "b": [true, null, "x"], "c": {"d": 2.5}});
        let back = struct_to_json(&object_struct(&json).unwrap());
        assert_eq!(back, json);
    }
}
