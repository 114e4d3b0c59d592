//! The route table: one [`Route`] per `google.api.http` rule (and each of its `additional_bindings`).

use std::sync::Arc;

use prost_reflect::{DescriptorPool, Kind, MessageDescriptor, MethodDescriptor};
use switchboard_proto::google::api::HttpRule;
use switchboard_proto::google::api::http_rule::Pattern;

use crate::path_template::PathTemplate;
use crate::wire_json::WireJson;
use crate::{TranscodeError, http_body};

/// Where the request body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRule {
    /// No body: every field not bound by the path comes from the query string.
    None,
    /// `body: "*"`: the body is the whole request message (minus path-bound fields); no query parameters.
    Whole,
    /// `body: "field"`: the body is that field; other fields come from path and query.
    Field(String),
    /// The body binds to a `google.api.HttpBody` (the named field, or the whole request message): it is taken as
    /// raw bytes with its content type, never parsed ([`crate::http_body`]).
    Raw(RawBody),
}

impl BodyRule {
    /// Whether the body is the whole request message, so that no field comes from the query string.
    pub fn is_whole(&self) -> bool {
        matches!(self, Self::Whole | Self::Raw(RawBody { field: None, .. }))
    }

    /// The request field the body binds to, when it binds to one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Field(field) | Self::Raw(RawBody { field: Some(field), .. }) => Some(field),
            _ => None,
        }
    }
}

/// A body taken as raw bytes: see [`crate::http_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBody {
    /// The `google.api.HttpBody` field the body goes to; `None` when the request message is itself an HttpBody
    /// (`body: "*"`).
    pub field: Option<String>,
    /// Whether the request message's `map<string, string> headers` field receives the request's headers.
    pub with_headers: bool,
}

/// One HTTP binding of an RPC.
#[derive(Debug)]
pub struct Route {
    /// HTTP method.
    pub http_method: http::Method,
    /// The path template.
    pub template: PathTemplate,
    /// Where the body goes.
    pub body: BodyRule,
    /// The response field to return instead of the whole response, if any.
    pub response_body: Option<String>,
    /// The RPC.
    pub method: MethodDescriptor,
    /// Its gRPC path, `/pkg.Service/Method`.
    pub rpc_path: String,
    /// The response's wire-to-JSON plan, when the response type has one and the whole message is returned.
    pub response_json: Option<Arc<WireJson>>,
}

/// Path variable bindings of a match: (field path, value).
pub type Bindings = Vec<(String, String)>;

/// Every route of a descriptor set.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
    pool: DescriptorPool,
}

impl RouteTable {
    /// Reads every `google.api.http` rule in an encoded `FileDescriptorSet`. Inconsistent rules (unknown body or
    /// path fields, nested `additional_bindings`, bad templates) are errors: they are build-time mistakes.
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<Self, TranscodeError> {
        let config = |message: String| TranscodeError::Config { method: "(descriptor set)".into(), message };
        let pool = DescriptorPool::decode(bytes).map_err(|e| config(e.to_string()))?;
        let http = pool
            .get_extension_by_name("google.api.http")
            .ok_or_else(|| config("google.api.http is not in the descriptor set".into()))?;
        let mut routes = Vec::new();
        for service in pool.services() {
            for method in service.methods() {
                let options = method.options();
                if !options.has_extension(&http) {
                    continue;
                }
                let error = |message: String| TranscodeError::Config { method: method.full_name().to_owned(), message };
                let value = options.get_extension(&http);
                let rule: HttpRule = value
                    .as_message()
                    .ok_or_else(|| error("google.api.http is not a message".into()))?
                    .transcode_to()
                    .map_err(|e| error(e.to_string()))?;
                let rpc_path = format!("/{}/{}", service.full_name(), method.name());
                routes.push(Arc::new(route(&method, &rpc_path, &rule).map_err(error)?));
                for extra in &rule.additional_bindings {
                    if !extra.additional_bindings.is_empty() {
                        return Err(error("additional_bindings may not nest".into()));
                    }
                    routes.push(Arc::new(route(&method, &rpc_path, extra).map_err(error)?));
                }
            }
        }
        Ok(Self { routes, pool })
    }

    /// A table of hand-built routes over `pool` (tests, and RPCs whose rules live outside the descriptors).
    /// Each route gets its response plan here when it has none.
    pub fn with_routes(pool: DescriptorPool, routes: Vec<Route>) -> Self {
        let routes = routes
            .into_iter()
            .map(|mut route| {
                if route.response_json.is_none() {
                    route.response_json = response_json(&route.method, route.response_body.as_deref());
                }
                Arc::new(route)
            })
            .collect();
        Self { routes, pool }
    }

    /// Keeps only the routes `keep` accepts (the gateway keeps the RPCs its public port offers).
    pub fn retain(&mut self, keep: impl Fn(&Route) -> bool) {
        self.routes.retain(|route| keep(route));
    }

    /// Every route.
    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    /// The descriptors behind the routes.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// The most specific route for `method path` (path without query string) and its variable bindings.
    pub fn resolve(&self, method: &http::Method, path: &str) -> Option<(Arc<Route>, Bindings)> {
        self.routes
            .iter()
            .filter(|r| r.http_method == method)
            .filter_map(|r| r.template.matches(path).map(|bindings| (r, bindings)))
            .max_by_key(|(r, _)| r.template.specificity())
            .map(|(r, bindings)| (r.clone(), bindings))
    }
}

fn route(method: &MethodDescriptor, rpc_path: &str, rule: &HttpRule) -> Result<Route, String> {
    let (http_method, template) = match &rule.pattern {
        Some(Pattern::Get(p)) => (http::Method::GET, p.as_str()),
        Some(Pattern::Put(p)) => (http::Method::PUT, p.as_str()),
        Some(Pattern::Post(p)) => (http::Method::POST, p.as_str()),
        Some(Pattern::Delete(p)) => (http::Method::DELETE, p.as_str()),
        Some(Pattern::Patch(p)) => (http::Method::PATCH, p.as_str()),
        Some(Pattern::Custom(c)) => (
            http::Method::from_bytes(c.kind.as_bytes()).map_err(|_| format!("bad custom method {:?}", c.kind))?,
            c.path.as_str(),
        ),
        None => return Err("a rule needs a pattern (get, post, ...)".into()),
    };
    let template = PathTemplate::parse(template).map_err(|e| e.to_string())?;
    let input = method.input();
    for variable in template.variables() {
        let field = field_path(&input, variable)?;
        if field.is_list() || matches!(field.kind(), Kind::Message(_)) {
            return Err(format!("path variable {variable} must be a singular scalar field"));
        }
    }
    let body = match rule.body.as_str() {
        "" => BodyRule::None,
        "*" if http_body::is_http_body(&input) => BodyRule::Raw(RawBody { field: None, with_headers: false }),
        "*" => BodyRule::Whole,
        name => {
            let field = input
                .get_field_by_name(name)
                .ok_or_else(|| format!("body field {name:?} is not in {}", input.full_name()))?;
            match field.kind() {
                Kind::Message(message) if http_body::is_http_body(&message) && !field.is_list() => {
                    BodyRule::Raw(RawBody {
                        field: Some(name.to_owned()),
                        with_headers: http_body::has_headers(&input),
                    })
                }
                _ => BodyRule::Field(name.to_owned()),
            }
        }
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        field => {
            method
                .output()
                .get_field_by_name(field)
                .ok_or_else(|| format!("response_body field {field:?} is not in {}", method.output().full_name()))?;
            Some(field.to_owned())
        }
    };
    let response_json = response_json(method, response_body.as_deref());
    Ok(Route {
        http_method,
        template,
        body,
        response_body,
        method: method.clone(),
        rpc_path: rpc_path.to_owned(),
        response_json,
    })
}

/// The plan that writes a method's response as JSON from the wire; none when the rule returns one field.
fn response_json(method: &MethodDescriptor, response_body: Option<&str>) -> Option<Arc<WireJson>> {
    match response_body {
        Some(_) => None,
        None => WireJson::new(&method.output()).map(Arc::new),
    }
}

/// The field a dotted path names, through singular message fields.
pub(crate) fn field_path(message: &MessageDescriptor, path: &str) -> Result<prost_reflect::FieldDescriptor, String> {
    let mut current = message.clone();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let field = current
            .get_field_by_name(segment)
            .or_else(|| current.get_field_by_json_name(segment))
            .ok_or_else(|| format!("{path}: {} has no field {segment:?}", current.full_name()))?;
        if segments.peek().is_none() {
            return Ok(field);
        }
        match field.kind() {
            Kind::Message(inner) if !field.is_list() && !field.is_map() => current = inner,
            _ => return Err(format!("{path}: {segment} is not a singular message field")),
        }
    }
    Err(format!("empty field path in {}", message.full_name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn every_annotated_rpc_has_a_route() {
        let t = table();
        let login = t.resolve(&http::Method::POST, "/v1/auth:login").unwrap().0;
        assert_eq!(login.rpc_path, "/switchboard.auth.v1.AuthService/Login");
        assert_eq!(login.body, BodyRule::Whole);
        let events = t.resolve(&http::Method::GET, "/v1/audit/events").unwrap().0;
        assert_eq!(events.rpc_path, "/switchboard.audit.v1.AuditService/ListEvents");
        assert!(t.resolve(&http::Method::DELETE, "/v1/audit/events").is_none(), "method matters");
        assert!(t.resolve(&http::Method::GET, "/v1/nothing").is_none());
    }

    #[test]
    fn an_http_body_field_makes_a_raw_body_route() {
        let t = table();
        let (webhook, bindings) = t.resolve(&http::Method::POST, "/v1/webhooks/stripe").unwrap();
        assert_eq!(webhook.rpc_path, "/switchboard.connectors.v1.ConnectorService/ReceiveWebhook");
        assert_eq!(webhook.body, BodyRule::Raw(RawBody { field: Some("body".into()), with_headers: true }));
        assert_eq!(webhook.body.field(), Some("body"));
        assert!(!webhook.body.is_whole());
        assert_eq!(bindings, vec![("provider".to_string(), "stripe".to_string())]);
    }

    #[test]
    fn variables_and_verbs_bind() {
        let t = table();
        let (route, bindings) = t.resolve(&http::Method::POST, "/v1/tenants/acme/users/42:disable").unwrap();
        assert_eq!(route.rpc_path, "/switchboard.auth.v1.TenantAdminService/DisableUser");
        assert_eq!(bindings, vec![("name".to_string(), "tenants/acme/users/42".to_string())]);
        let (route, _) = t.resolve(&http::Method::GET, "/v1/tenants/acme/users/42").unwrap();
        assert_eq!(route.rpc_path, "/switchboard.auth.v1.TenantAdminService/GetUser");
    }
}
