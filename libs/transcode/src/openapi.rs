//! The OpenAPI 3.1 document of the REST API, generated from the same route table the transcoder serves, so it
//! lists exactly the routes, parameters and schemas that are accepted.
//!
//! Path variables bound to a resource pattern (`{name=tenants/*/users/*}`) are written with the pattern's literal
//! segments expanded (`/tenants/{tenant}/users/{user}`): OpenAPI parameters cannot contain `/`, and two RPCs
//! like `GetTenant` (`/v1/{name=tenants/*}`) and `GetRun` (`/v1/{name=runs/*}`) would otherwise share a path.
//! Schemas follow the proto3 JSON mapping (lowerCamelCase names, 64-bit integers as strings, well-known types as
//! their JSON forms). Server-streaming RPCs answer with newline-delimited JSON (`{"result": …}` per message, then
//! `{"error": …}` if the stream fails), or Server-Sent Events when asked with `Accept: text/event-stream`.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::routes::{BodyRule, Route, RouteTable};

/// Builds the document. `anonymous(rpc_path)` tells which RPCs need no bearer token.
pub fn document(table: &RouteTable, anonymous: &dyn Fn(&str) -> bool) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut schemas = Schemas::default();
    for route in table.routes() {
        if route.method.is_client_streaming() {
            continue;
        }
        let (path, mut parameters) = path_and_parameters(route);
        let input = route.method.input();
        let bound: BTreeSet<String> = route.template.variables().iter().map(|v| (*v).to_owned()).collect();
        let mut operation = Map::new();
        let service = route.method.parent_service();
        operation.insert("operationId".into(), json!(format!("{}_{}", service.name(), route.method.name())));
        operation.insert("tags".into(), json!([service.full_name()]));
        match &route.body {
            BodyRule::None => parameters.extend(query_parameters(&input, &bound, None, &mut schemas)),
            BodyRule::Field(field) => {
                parameters.extend(query_parameters(&input, &bound, Some(field), &mut schemas));
                if let Some(f) = input.get_field_by_name(field) {
                    operation.insert("requestBody".into(), request_body(field_schema(&f, &mut schemas)));
                }
            }
            BodyRule::Whole => {
                operation.insert("requestBody".into(), request_body(schemas.reference(&input)));
            }
            BodyRule::Raw(raw) => {
                if let Some(field) = &raw.field {
                    parameters.extend(query_parameters(&input, &bound, Some(field), &mut schemas));
                }
                operation.insert("requestBody".into(), raw_request_body(raw.with_headers));
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        let output = route.method.output();
        let success = match &route.response_body {
            Some(field) => output.get_field_by_name(field).map(|f| field_schema(&f, &mut schemas)).unwrap_or(json!({})),
            None => schemas.reference(&output),
        };
        let content = if route.method.is_server_streaming() {
            let line = json!({
                "type": "object",
                "description": "One line per message; a failed stream ends with an error line.",
                "properties": {"result": success, "error": {"$ref": "#/components/schemas/google.rpc.Status"}},
            });
            json!({
                "application/x-ndjson": {"schema": line},
                "text/event-stream": {"schema": {"type": "string", "description": "`data:` events of the same objects; a failure is an `error` event."}},
            })
        } else {
            json!({"application/json": {"schema": success}})
        };
        operation.insert(
            "responses".into(),
            json!({
                "200": {"description": "OK", "content": content},
                "default": {"$ref": "#/components/responses/Error"},
            }),
        );
        if anonymous(&route.rpc_path) {
            operation.insert("security".into(), json!([]));
        }
        paths
            .entry(path)
            .or_default()
            .insert(route.http_method.as_str().to_ascii_lowercase(), Value::Object(operation));
    }
    paths.entry("/.well-known/jwks.json".into()).or_default().insert(
        "get".into(),
        json!({
            "operationId": "Jwks",
            "summary": "Public keys that verify access tokens (JWKS, RFC 7517).",
            "security": [],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }),
    );
    paths.entry("/openapi.json".into()).or_default().insert(
        "get".into(),
        json!({
            "operationId": "OpenApi",
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }),
    );

    let mut components = schemas.finish();
    components.insert(
        "google.rpc.Status".into(),
        json!({
            "type": "object",
            "description": "An error: a gRPC status code, a message for people, and structured details.",
            "properties": {
                "code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard API",
            "version": "v1",
            "description": "REST/JSON transcoding of Switchboard's gRPC contracts. The same RPCs are served as gRPC \
                and gRPC-Web on the same port. Errors are google.rpc.Status objects with the canonical HTTP status.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}},
                },
            },
        },
    })
}

fn request_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// A body passed on as bytes (`google.api.HttpBody`): any media type, no schema.
fn raw_request_body(with_headers: bool) -> Value {
    let mut description =
        "Raw bytes of any content type, passed on exactly as sent, with the Content-Type header.".to_owned();
    if with_headers {
        description.push_str(" The request headers are passed on too (credentials and hop-by-hop headers excepted).");
    }
    json!({"required": true, "description": description, "content": {"*/*": {}}})
}

/// `/v1/{name=tenants/*}:cancel` → (`/v1/tenants/{tenant}:cancel`, its path parameters).
fn path_and_parameters(route: &Route) -> (String, Vec<Value>) {
    let mut path = route.template.openapi_path();
    let mut parameters = Vec::new();
    for variable in route.template.variables() {
        let pattern = route.template.variable_pattern(variable).unwrap_or_else(|| "*".into());
        let placeholder = format!("{{{variable}}}");
        if pattern == "*" {
            parameters.push(json!({
                "name": variable, "in": "path", "required": true, "schema": {"type": "string"},
            }));
            continue;
        }
        // Expand the pattern: literals stay, each `*` becomes a parameter named after the collection before it.
        let mut expanded = Vec::new();
        let mut previous = "";
        for (i, segment) in pattern.split('/').enumerate() {
            match segment {
                "*" | "**" => {
                    let mut name = previous.strip_suffix('s').unwrap_or(previous).to_owned();
                    if name.is_empty() || parameters.iter().any(|p| p["name"] == name.as_str()) {
                        name = format!("{}_{i}", variable.replace('.', "_"));
                    }
                    parameters.push(json!({
                        "name": name,
                        "in": "path",
                        "required": true,
                        "description": format!("Part of the `{variable}` field, `{pattern}`."),
                        "schema": {"type": "string"},
                    }));
                    expanded.push(format!("{{{name}}}"));
                }
                literal => {
                    previous = literal;
                    expanded.push(literal.to_owned());
                }
            }
        }
        path = path.replacen(&placeholder, &expanded.join("/"), 1);
    }
    (path, parameters)
}

/// Query parameters: every field not bound by the path or the body, nested messages flattened as `a.b`.
fn query_parameters(
    input: &MessageDescriptor,
    bound: &BTreeSet<String>,
    body: Option<&str>,
    schemas: &mut Schemas,
) -> Vec<Value> {
    let mut out = Vec::new();
    flatten(input, "", bound, body, schemas, &mut out, 0);
    out
}

fn flatten(
    message: &MessageDescriptor,
    prefix: &str,
    bound: &BTreeSet<String>,
    body: Option<&str>,
    schemas: &mut Schemas,
    out: &mut Vec<Value>,
    depth: usize,
) {
    for field in message.fields() {
        let path = format!("{prefix}{}", field.name());
        if bound.contains(&path) || body == Some(path.as_str()) || field.is_map() {
            continue;
        }
        match field.kind() {
            Kind::Message(inner) if !is_scalar_like(&inner) => {
                if !field.is_list() && depth < 3 {
                    flatten(&inner, &format!("{path}."), bound, body, schemas, out, depth + 1);
                }
            }
            _ => {
                let schema = field_schema(&field, schemas);
                let mut parameter = json!({"name": path, "in": "query", "schema": schema});
                if field.is_list() {
                    parameter["explode"] = json!(true);
                }
                out.push(parameter);
            }
        }
    }
}

fn is_scalar_like(message: &MessageDescriptor) -> bool {
    scalar_wkt(message.full_name()).is_some()
}

/// JSON forms of the well-known types.
fn scalar_wkt(name: &str) -> Option<Value> {
    Some(match name {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"}),
        "google.protobuf.FieldMask" => json!({"type": "string", "description": "Comma-separated field paths."}),
        "google.protobuf.StringValue" => json!({"type": ["string", "null"]}),
        "google.protobuf.BytesValue" => json!({"type": ["string", "null"], "contentEncoding": "base64"}),
        "google.protobuf.BoolValue" => json!({"type": ["boolean", "null"]}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!({"type": ["integer", "null"]}),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => json!({"type": ["string", "integer", "null"]}),
        "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => json!({"type": ["number", "null"]}),
        _ => return None,
    })
}

/// Other well-known types with a fixed JSON shape.
fn shaped_wkt(name: &str) -> Option<Value> {
    Some(match name {
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Any" => json!({"type": "object", "properties": {"@type": {"type": "string"}}}),
        _ => return None,
    })
}

fn scalar_schema(kind: &Kind, schemas: &mut Schemas) -> Value {
    match kind {
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer", "format": "int32"}),
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "minimum": 0, "maximum": 4294967295u64}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": ["string", "integer"], "format": "int64"}),
        Kind::Uint64 | Kind::Fixed64 => json!({"type": ["string", "integer"], "format": "uint64"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(e) => json!({"type": "string", "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>()}),
        Kind::Message(m) => schemas.reference(m),
    }
}

fn field_schema(field: &FieldDescriptor, schemas: &mut Schemas) -> Value {
    if field.is_map() {
        let value = match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        };
        return json!({"type": "object", "additionalProperties": scalar_schema(&value, schemas)});
    }
    let item = scalar_schema(&field.kind(), schemas);
    if field.is_list() { json!({"type": "array", "items": item}) } else { item }
}

/// Message schemas referenced so far, built on first use.
#[derive(Default)]
struct Schemas {
    done: BTreeMap<String, Value>,
    pending: Vec<MessageDescriptor>,
}

impl Schemas {
    /// A `$ref` to `message`'s schema (or the inline JSON form of a well-known type).
    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        let name = message.full_name();
        if let Some(inline) = scalar_wkt(name).or_else(|| shaped_wkt(name)) {
            return inline;
        }
        if !self.done.contains_key(name) && !self.pending.iter().any(|m| m.full_name() == name) {
            self.pending.push(message.clone());
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    fn finish(mut self) -> Map<String, Value> {
        while let Some(message) = self.pending.pop() {
            if self.done.contains_key(message.full_name()) {
                continue;
            }
            let mut properties = Map::new();
            for field in message.fields() {
                properties.insert(field.json_name().to_owned(), field_schema(&field, &mut self));
            }
            self.done.insert(
                message.full_name().to_owned(),
                json!({"type": "object", "properties": properties, "additionalProperties": false}),
            );
        }
        self.done.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let table = RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET).unwrap();
        document(&table, &|rpc| rpc.ends_with("/Login"))
    }

    #[test]
    fn routes_parameters_and_schemas_match_the_transcoder() {
        let d = doc();
        assert_eq!(d["openapi"], "3.1.0");
        let login = &d["paths"]["/v1/auth:login"]["post"];
        assert_eq!(login["security"], json!([]), "login needs no token");
        assert_eq!(
            login["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/switchboard.auth.v1.LoginRequest"
        );
        let request = &d["components"]["schemas"]["switchboard.auth.v1.LoginRequest"];
        assert_eq!(request["additionalProperties"], false, "unknown fields are refused");
        assert!(request["properties"]["tenant"].is_object());

        let events = &d["paths"]["/v1/audit/events"]["get"];
        let names: Vec<&str> =
            events["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        for expected in ["page_size", "page_token", "start_time", "actor", "action", "order_ascending"] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        let seq = &d["components"]["schemas"]["switchboard.audit.v1.AuditEvent"]["properties"]["seq"];
        assert_eq!(seq["format"], "int64");

        // Resource patterns expand, so different collections never share a path.
        assert!(d["paths"]["/v1/tenants/{tenant}"]["get"].is_object());
        assert!(d["paths"]["/v1/tenants/{tenant}/users/{user}:disable"]["post"].is_object());
        assert!(d["paths"]["/v1/runs/{run}"]["get"].is_object());
        let webhook = &d["paths"]["/v1/webhooks/{provider}"]["post"];
        assert_eq!(webhook["requestBody"]["content"], json!({"*/*": {}}), "raw bytes, not a JSON HttpBody");
        assert!(webhook.get("parameters").is_some_and(|p| p.as_array().unwrap().len() == 1), "only {{provider}}");
        let ask = &d["paths"]["/v1/orchestrator:ask"]["post"]["responses"]["200"]["content"];
        assert!(ask["application/x-ndjson"].is_object() && ask["text/event-stream"].is_object(), "streams: {ask}");
    }

    #[test]
    fn every_schema_reference_resolves() {
        let d = doc();
        let text = d.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(d["components"]["schemas"][name].is_object(), "{name} is referenced but not defined");
        }
    }
}
