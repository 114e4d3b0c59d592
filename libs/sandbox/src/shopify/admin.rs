//! `POST /admin/api/{version}/graphql.json`: the GraphQL Admin API, one request at a time:
//!
//! 1. authenticate (`X-Shopify-Access-Token`), parse `{"query","variables","operationName"}`;
//! 2. plan each root field — `orders`, `products`, `customers` (connections), `order`, `product`, `customer`,
//!    `shop`; mutations `orderCancel`, `discountCodeBasicCreate`, `inventoryAdjustQuantities` — checking argument
//!    names, required arguments, and the selection set against a sample of the type (no side effect has happened
//!    yet, so an invalid document changes nothing and costs nothing);
//! 3. charge the shop's bucket: connections cost `first`/`last` + 2, single objects 1, mutations 10; when the
//!    bucket is short the answer is HTTP 200 with a `THROTTLED` error and `actualQueryCost: null`;
//! 4. run each field (checking its access scope), project it to its selection set, answer with
//!    `extensions.cost`; mutations report problems in `userErrors`, as Shopify does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::graphql::{self, Field, OperationKind, Projector, Selection};
use super::objects::{Customer, Discount, LineItem, Order, Product, Shop, Variant, connection, gid, parse_gid};
use super::search::{ArgumentError, ConnectionArgs, paginate};
use super::{has_scope, not_found};
use crate::Provider;
use crate::clock::{parse_timestamp, rfc3339};
use crate::state::{Shared, lock};

const ORDER_SORT_KEYS: &[&str] = &[
    "ID",
    "RELEVANCE",
    "CREATED_AT",
    "PROCESSED_AT",
    "UPDATED_AT",
    "ORDER_NUMBER",
    "TOTAL_PRICE",
    "FINANCIAL_STATUS",
    "FULFILLMENT_STATUS",
];
const PRODUCT_SORT_KEYS: &[&str] = &[
    "ID",
    "RELEVANCE",
    "CREATED_AT",
    "UPDATED_AT",
    "PUBLISHED_AT",
    "INVENTORY_TOTAL",
    "TITLE",
    "PRODUCT_TYPE",
    "VENDOR",
];
const CUSTOMER_SORT_KEYS: &[&str] = &["ID", "RELEVANCE", "CREATED_AT", "UPDATED_AT", "NAME"];
const CONNECTION_ARGS: &[&str] = &["first", "last", "after", "before", "query", "sortKey", "reverse", "savedSearchId"];
const MUTATION_COST: i64 = 10;
const CANCEL_REASONS: &[&str] = &["CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"];
const INVENTORY_REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// The collections a connection or single-object field reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Orders,
    Products,
    Customers,
}

impl Kind {
    fn scope(self) -> &'static str {
        match self {
            Kind::Orders => "read_orders",
            Kind::Products => "read_products",
            Kind::Customers => "read_customers",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Kind::Orders => "Order",
            Kind::Products => "Product",
            Kind::Customers => "Customer",
        }
    }
}

/// A root field, planned: what it will do and what it costs.
#[derive(Debug)]
enum Plan {
    Connection(Kind, ConnectionArgs),
    Single(Kind, Option<u64>),
    Shop,
    OrderCancel { order: Option<u64>, reason: String, refund: bool },
    DiscountCreate(Value),
    InventoryAdjust(Value),
}

impl Plan {
    fn cost(&self) -> i64 {
        match self {
            Plan::Connection(_, args) => args.page_size() + 2,
            Plan::Single(..) | Plan::Shop => 1,
            Plan::OrderCancel { .. } | Plan::DiscountCreate(_) | Plan::InventoryAdjust(_) => MUTATION_COST,
        }
    }

    fn scope(&self) -> Option<&'static str> {
        match self {
            Plan::Connection(kind, _) | Plan::Single(kind, _) => Some(kind.scope()),
            Plan::Shop => None,
            Plan::OrderCancel { .. } => Some("write_orders"),
            Plan::DiscountCreate(_) => Some("write_discounts"),
            Plan::InventoryAdjust(_) => Some("write_inventory"),
        }
    }
}

/// A GraphQL error object.
fn error(message: impl Into<String>, code: &str, path: &[&str], field: Option<&Field>) -> Value {
    let mut error = json!({"message": message.into(), "extensions": {"code": code}});
    if !path.is_empty() {
        error["path"] = json!(path);
    }
    if let Some(field) = field {
        error["locations"] = json!([{"line": field.line, "column": field.column}]);
    }
    error
}

fn ok_json(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub(super) async fn graphql(
    State(shared): State<Arc<Shared>>,
    Path((shop, _version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !switchboard_signatures::shopify::is_valid_shop_domain(&shop) {
        return not_found();
    }
    let scopes = match super::authenticate(&shared, &shop, &headers) {
        Ok(scopes) => scopes,
        Err(response) => return response,
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"errors": {"query": "Required parameter missing or invalid"}})),
        )
            .into_response();
    };
    let document = match graphql::parse(query) {
        Ok(document) => document,
        Err(syntax) => return ok_json(json!({"errors": [syntax.to_json()]})),
    };
    let operation = match document.operation(request.get("operationName").and_then(Value::as_str)) {
        Ok(operation) => operation,
        Err(message) => return ok_json(json!({"errors": [error(message, "operationNotFound", &[], None)]})),
    };
    let root_type = match operation.kind {
        OperationKind::Query => "QueryRoot",
        OperationKind::Mutation => "Mutation",
        OperationKind::Subscription => {
            return ok_json(json!({"errors": [error("Subscriptions are not supported", "BAD_REQUEST", &[], None)]}));
        }
    };
    let mut variables = operation.defaults.clone();
    if let Some(given) = request.get("variables").and_then(Value::as_object) {
        variables.extend(given.clone());
    }

    let mut fields = Vec::new();
    root_fields(&operation.selections, &document.fragments, &mut fields);
    let projector = Projector { fragments: &document.fragments };
    let now = shared.clock.now();

    // Plan and validate everything before anything runs.
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for field in &fields {
        let args: Map<String, Value> =
            field.arguments.iter().map(|(name, value)| (name.clone(), value.resolve(&variables))).collect();
        match plan(field, root_type, &args) {
            Ok(plan) => {
                if field.selections.is_empty() {
                    errors.push(error(
                        format!(
                            "Field must have selections (field '{}' returns an object but has no selections)",
                            field.name
                        ),
                        "selectionMismatch",
                        &[field.name.as_str()],
                        Some(field),
                    ));
                }
                let mut path = vec![field.name.clone()];
                projector.project(&sample(&plan, now), &field.selections, &mut path, &mut errors);
                plans.push((*field, plan));
            }
            Err(problem) => errors.push(problem),
        }
    }
    if !errors.is_empty() {
        return ok_json(json!({"errors": errors}));
    }

    let requested: i64 = plans.iter().map(|(_, p)| p.cost()).sum();
    let mut webhooks: Vec<(String, Value)> = Vec::new();
    let (data, errors, available) = {
        let mut shops = lock(&shared.shopify);
        let shop_data = shops.shop_mut(&shop);
        if shop_data.graphql_bucket.take(requested as f64).is_err() {
            let available = shop_data.graphql_bucket.available();
            let capacity = shop_data.graphql_bucket.capacity();
            let rate = shop_data.graphql_bucket.rate();
            drop(shops);
            lock(&shared.recorder).graphql_throttled();
            return ok_json(json!({
                "errors": [{"message": "Throttled", "extensions": {
                    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": null,
                    "throttleStatus": {"maximumAvailable": capacity, "currentlyAvailable": available.floor(),
                                       "restoreRate": rate},
                }},
            }));
        }
        let mut data = Map::new();
        let mut errors = Vec::new();
        for (field, plan) in &plans {
            let key = field.response_key().to_owned();
            if let Some(scope) = plan.scope()
                && !has_scope(&scopes, scope)
            {
                errors.push(error(
                    format!("Access denied for {} field. Required access: `{scope}` access scope.", field.name),
                    "ACCESS_DENIED",
                    &[key.as_str()],
                    Some(field),
                ));
                data.insert(key, Value::Null);
                continue;
            }
            match execute(plan, shop_data, now, &mut webhooks) {
                Ok(full) => {
                    let mut path = vec![field.name.clone()];
                    data.insert(key, projector.project(&full, &field.selections, &mut path, &mut errors));
                }
                Err(ArgumentError(message)) => {
                    errors.push(error(message, "BAD_REQUEST", &[key.as_str()], Some(field)));
                    data.insert(key, Value::Null);
                }
            }
        }
        let bucket = &mut shop_data.graphql_bucket;
        (data, errors, (bucket.available(), bucket.capacity(), bucket.rate()))
    };
    let (available, capacity, rate) = available;
    {
        let mut recorder = lock(&shared.recorder);
        for (field, _) in &plans {
            recorder.graphql_field(&field.name);
        }
    }
    for (topic, payload) in webhooks {
        let delivery = crate::webhooks::shopify_delivery(&shared.apps, &shop, &topic, &payload);
        shared.send_in_background(Provider::Shopify, delivery);
    }
    let mut body = json!({
        "data": data,
        "extensions": {"cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested,
            "throttleStatus": {"maximumAvailable": capacity, "currentlyAvailable": available.floor(), "restoreRate": rate},
        }},
    });
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors);
    }
    ok_json(body)
}

/// The root fields of a selection set, through fragments (which always apply at the root).
fn root_fields<'a>(
    selections: &'a [Selection],
    fragments: &'a std::collections::HashMap<String, graphql::Fragment>,
    out: &mut Vec<&'a Field>,
) {
    for selection in selections {
        match selection {
            Selection::Field(field) => out.push(field),
            Selection::Inline { selections, .. } => root_fields(selections, fragments, out),
            Selection::Spread(name) => {
                if let Some(fragment) = fragments.get(name) {
                    root_fields(&fragment.selections, fragments, out);
                }
            }
        }
    }
}

fn check_arguments(field: &Field, allowed: &[&str], required: &[&str], args: &Map<String, Value>) -> Result<(), Value> {
    if let Some(unknown) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(error(
            format!("Field '{}' doesn't accept argument '{unknown}'", field.name),
            "argumentNotAccepted",
            &[field.name.as_str(), unknown.as_str()],
            Some(field),
        ));
    }
    let missing: Vec<&str> = required.iter().copied().filter(|r| args.get(*r).is_none_or(Value::is_null)).collect();
    if !missing.is_empty() {
        return Err(error(
            format!("Field '{}' is missing required arguments: {}", field.name, missing.join(", ")),
            "missingRequiredArguments",
            &[field.name.as_str()],
            Some(field),
        ));
    }
    Ok(())
}

fn invalid_argument(field: &Field, name: &str, value: &Value, expected: &str) -> Value {
    error(
        format!(
            "Argument '{name}' on Field '{}' has an invalid value ({value}). Expected type '{expected}'.",
            field.name
        ),
        "argumentLiteralsIncompatible",
        &[field.name.as_str(), name],
        Some(field),
    )
}

fn connection_args(field: &Field, args: &Map<String, Value>, sort_enum: &str) -> Result<ConnectionArgs, Value> {
    check_arguments(field, CONNECTION_ARGS, &[], args)?;
    let int = |name: &str| -> Result<Option<i64>, Value> {
        match args.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(other) => Err(invalid_argument(field, name, other, "Int")),
        }
    };
    let text = |name: &str, expected: &str| -> Result<Option<String>, Value> {
        match args.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid_argument(field, name, other, expected)),
        }
    };
    let reverse = match args.get("reverse") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid_argument(field, "reverse", other, "Boolean")),
    };
    Ok(ConnectionArgs {
        first: int("first")?,
        last: int("last")?,
        after: text("after", "String")?,
        before: text("before", "String")?,
        query: text("query", "String")?,
        sort_key: text("sortKey", sort_enum)?,
        reverse,
    })
}

fn plan(field: &Field, root_type: &str, args: &Map<String, Value>) -> Result<Plan, Value> {
    let single = |kind: Kind| -> Result<Plan, Value> {
        check_arguments(field, &["id"], &["id"], args)?;
        let id = args.get("id").and_then(Value::as_str).and_then(|id| parse_gid(kind.type_name(), id));
        Ok(Plan::Single(kind, id))
    };
    match (root_type, field.name.as_str()) {
        ("QueryRoot", "orders") => Ok(Plan::Connection(Kind::Orders, connection_args(field, args, "OrderSortKeys")?)),
        ("QueryRoot", "products") => {
            Ok(Plan::Connection(Kind::Products, connection_args(field, args, "ProductSortKeys")?))
        }
        ("QueryRoot", "customers") => {
            Ok(Plan::Connection(Kind::Customers, connection_args(field, args, "CustomerSortKeys")?))
        }
        ("QueryRoot", "order") => single(Kind::Orders),
        ("QueryRoot", "product") => single(Kind::Products),
        ("QueryRoot", "customer") => single(Kind::Customers),
        ("QueryRoot", "shop") => {
            check_arguments(field, &[], &[], args)?;
            Ok(Plan::Shop)
        }
        ("Mutation", "orderCancel") => {
            check_arguments(
                field,
                &["orderId", "reason", "refund", "restock", "notifyCustomer", "staffNote", "refundMethod"],
                &["orderId", "reason"],
                args,
            )?;
            let reason = args.get("reason").and_then(Value::as_str).unwrap_or_default();
            if !CANCEL_REASONS.contains(&reason) {
                return Err(invalid_argument(
                    field,
                    "reason",
                    args.get("reason").unwrap_or(&Value::Null),
                    "OrderCancelReason!",
                ));
            }
            let order = args.get("orderId").and_then(Value::as_str).and_then(|id| parse_gid("Order", id));
            let refund = args.get("refund").and_then(Value::as_bool).unwrap_or(false)
                || args.get("refundMethod").is_some_and(|m| !m.is_null());
            Ok(Plan::OrderCancel { order, reason: reason.to_owned(), refund })
        }
        ("Mutation", "discountCodeBasicCreate") => {
            check_arguments(field, &["basicCodeDiscount"], &["basicCodeDiscount"], args)?;
            Ok(Plan::DiscountCreate(args.get("basicCodeDiscount").cloned().unwrap_or(Value::Null)))
        }
        ("Mutation", "inventoryAdjustQuantities") => {
            check_arguments(field, &["input"], &["input"], args)?;
            Ok(Plan::InventoryAdjust(args.get("input").cloned().unwrap_or(Value::Null)))
        }
        _ => Err(json!({
            "message": format!("Field '{}' doesn't exist on type '{root_type}'", field.name),
            "locations": [{"line": field.line, "column": field.column}],
            "path": [field.name],
            "extensions": {"code": "undefinedField", "typeName": root_type, "fieldName": field.name},
        })),
    }
}

// === Payloads (shared by samples and real answers, so validation and execution agree) ===

fn user_error(type_name: &str, field: &[&str], message: &str, code: Option<&str>) -> Value {
    let mut error = json!({"__typename": type_name, "field": field, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    error
}

fn order_cancel_payload(job: Option<Value>, problem: Option<(&str, &str)>) -> Value {
    let (order_errors, errors) = match problem {
        Some((message, code)) => (
            vec![user_error("OrderCancelUserError", &["orderId"], message, Some(code))],
            vec![user_error("UserError", &["orderId"], message, None)],
        ),
        None => (Vec::new(), Vec::new()),
    };
    json!({"__typename": "OrderCancelPayload", "job": job, "orderCancelUserErrors": order_errors, "userErrors": errors})
}

fn discount_payload(node: Option<Value>, errors: Vec<Value>) -> Value {
    json!({"__typename": "DiscountCodeBasicCreatePayload", "codeDiscountNode": node, "userErrors": errors})
}

fn inventory_payload(group: Option<Value>, errors: Vec<Value>) -> Value {
    json!({"__typename": "InventoryAdjustQuantitiesPayload", "inventoryAdjustmentGroup": group, "userErrors": errors})
}

fn job(id: &str) -> Value {
    json!({"__typename": "Job", "id": format!("gid://shopify/Job/{id}"), "done": true, "query": {"__typename": "QueryRoot"}})
}

fn location(shop: &Shop) -> Value {
    json!({"__typename": "Location", "id": gid("Location", shop.location_id), "name": "Main Warehouse",
           "isActive": true})
}

fn adjustment_group(shop: &Shop, now: i64, reason: &str, reference: Option<&str>, changes: Vec<Value>) -> Value {
    json!({
        "__typename": "InventoryAdjustmentGroup",
        "id": format!("gid://shopify/InventoryAdjustmentGroup/{}", shop.next_id + 1),
        "createdAt": rfc3339(now),
        "reason": reason,
        "referenceDocumentUri": reference,
        "app": {"__typename": "App", "id": "gid://shopify/App/1", "title": "Switchboard"},
        "changes": changes,
    })
}

fn inventory_change(name: &str, delta: i64, after: i64, variant: &Variant, location: &Value) -> Value {
    json!({
        "__typename": "InventoryChange",
        "name": name,
        "delta": delta,
        "quantityAfterChange": after,
        "item": {"__typename": "InventoryItem", "id": gid("InventoryItem", variant.inventory_item_id), "sku": variant.sku,
                 "tracked": true},
        "location": location,
    })
}

/// A fully populated value of the field's type: what selections are validated against.
fn sample(plan: &Plan, now: i64) -> Value {
    let customer = Customer {
        id: 1,
        first_name: "A".into(),
        last_name: "B".into(),
        email: "a@example.com".into(),
        phone: Some("+15550000000".into()),
        created_at: now,
        updated_at: now,
        state: "ENABLED",
        tags: Vec::new(),
        verified_email: true,
        orders_count: 0,
        amount_spent: 0,
    };
    let variant = Variant {
        id: 1,
        title: "Default Title".into(),
        sku: "SKU".into(),
        price: 100,
        inventory_quantity: 1,
        inventory_item_id: 1,
    };
    let product = Product {
        id: 1,
        title: "T".into(),
        handle: "t".into(),
        vendor: "V".into(),
        product_type: "P".into(),
        status: "ACTIVE",
        tags: Vec::new(),
        created_at: now,
        updated_at: now,
        published_at: Some(now),
        variants: vec![variant.clone()],
    };
    let order = Order {
        id: 1,
        number: 1001,
        email: Some("a@example.com".into()),
        customer_id: Some(1),
        created_at: now,
        updated_at: now,
        cancelled_at: Some(now),
        cancel_reason: Some("OTHER".into()),
        closed_at: Some(now),
        financial_status: "PAID",
        fulfillment_status: "FULFILLED",
        line_items: vec![LineItem {
            id: 1,
            title: "T".into(),
            variant_title: "V".into(),
            sku: "SKU".into(),
            quantity: 1,
            unit_price: 100,
            product_id: 1,
            variant_id: 1,
        }],
        tax: 0,
        total_refunded: 0,
        tags: Vec::new(),
        note: None,
    };
    let one = |kind: Kind| match kind {
        Kind::Orders => order.to_graphql(Some(&customer)),
        Kind::Products => product.to_graphql(),
        Kind::Customers => customer.to_graphql(),
    };
    let shop = Shop::empty("sample.myshopify.com", 1);
    match plan {
        Plan::Connection(kind, _) => connection(kind.type_name(), vec![("c".into(), one(*kind))], false, false),
        Plan::Single(kind, _) => one(*kind),
        Plan::Shop => shop.to_graphql(),
        Plan::OrderCancel { .. } => order_cancel_payload(Some(job("1")), Some(("m", "INVALID"))),
        Plan::DiscountCreate(_) => {
            let discount = Discount {
                id: 1,
                title: "T".into(),
                code: "C".into(),
                code_id: 1,
                value: json!({"percentage": 0.1}),
                starts_at: now,
                ends_at: Some(now),
                created_at: now,
                usage_limit: Some(1),
                applies_once_per_customer: false,
            };
            discount_payload(
                Some(discount.to_graphql(now)),
                vec![json!({"__typename": "DiscountUserError", "field": ["x"], "message": "m", "code": "INVALID",
                            "extraInfo": null})],
            )
        }
        Plan::InventoryAdjust(_) => {
            let location = location(&shop);
            let change = inventory_change("available", 1, 1, &variant, &location);
            inventory_payload(
                Some(adjustment_group(&shop, now, "correction", None, vec![change])),
                vec![user_error("InventoryAdjustQuantitiesUserError", &["input"], "m", Some("INVALID"))],
            )
        }
    }
}

// === Execution ===

fn execute(
    plan: &Plan,
    shop: &mut Shop,
    now: i64,
    webhooks: &mut Vec<(String, Value)>,
) -> Result<Value, ArgumentError> {
    match plan {
        Plan::Connection(Kind::Orders, args) => {
            let page = paginate(&shop.orders, args, ORDER_SORT_KEYS, "OrderSortKeys")?;
            let nodes = page
                .items
                .iter()
                .map(|(cursor, order)| {
                    (cursor.clone(), order.to_graphql(order.customer_id.and_then(|id| shop.customer(id))))
                })
                .collect();
            Ok(connection("Order", nodes, page.has_next, page.has_previous))
        }
        Plan::Connection(Kind::Products, args) => {
            let page = paginate(&shop.products, args, PRODUCT_SORT_KEYS, "ProductSortKeys")?;
            let nodes = page.items.iter().map(|(cursor, product)| (cursor.clone(), product.to_graphql())).collect();
            Ok(connection("Product", nodes, page.has_next, page.has_previous))
        }
        Plan::Connection(Kind::Customers, args) => {
            let page = paginate(&shop.customers, args, CUSTOMER_SORT_KEYS, "CustomerSortKeys")?;
            let nodes = page.items.iter().map(|(cursor, customer)| (cursor.clone(), customer.to_graphql())).collect();
            Ok(connection("Customer", nodes, page.has_next, page.has_previous))
        }
        Plan::Single(kind, id) => Ok(id
            .and_then(|id| match kind {
                Kind::Orders => shop.order(id).map(|o| o.to_graphql(o.customer_id.and_then(|c| shop.customer(c)))),
                Kind::Products => shop.product(id).map(Product::to_graphql),
                Kind::Customers => shop.customer(id).map(Customer::to_graphql),
            })
            .unwrap_or(Value::Null)),
        Plan::Shop => Ok(shop.to_graphql()),
        Plan::OrderCancel { order, reason, refund } => Ok(cancel_order(shop, *order, reason, *refund, now, webhooks)),
        Plan::DiscountCreate(input) => Ok(create_discount(shop, input, now)),
        Plan::InventoryAdjust(input) => Ok(adjust_inventory(shop, input, now)),
    }
}

fn cancel_order(
    shop: &mut Shop,
    id: Option<u64>,
    reason: &str,
    refund: bool,
    now: i64,
    webhooks: &mut Vec<(String, Value)>,
) -> Value {
    let job_id = shop.new_id();
    let Some(order) = id.and_then(|id| shop.order_mut(id)) else {
        return order_cancel_payload(None, Some(("Order does not exist", "NOT_FOUND")));
    };
    if order.cancelled_at.is_some() {
        return order_cancel_payload(None, Some(("Order has already been cancelled", "INVALID")));
    }
    order.cancelled_at = Some(now);
    order.cancel_reason = Some(reason.to_owned());
    order.closed_at = Some(now);
    order.updated_at = now;
    if refund && matches!(order.financial_status, "PAID" | "PARTIALLY_REFUNDED") {
        order.financial_status = "REFUNDED";
        order.total_refunded = order.total();
    } else if matches!(order.financial_status, "PENDING" | "AUTHORIZED") {
        order.financial_status = "VOIDED";
    }
    let order = order.clone();
    let customer = order.customer_id.and_then(|c| shop.customer(c));
    webhooks.push(("orders/cancelled".to_owned(), order.to_rest(customer)));
    order_cancel_payload(Some(job(&job_id.to_string())), None)
}

fn create_discount(shop: &mut Shop, input: &Value, now: i64) -> Value {
    let text = |name: &str| input.get(name).and_then(Value::as_str).map(str::trim).unwrap_or_default().to_owned();
    let (title, code) = (text("title"), text("code"));
    let mut errors = Vec::new();
    let discount_error = |field: &[&str], message: &str, code: &str| json!({"__typename": "DiscountUserError", "field": field, "message": message, "code": code, "extraInfo": null});
    if title.is_empty() {
        errors.push(discount_error(&["basicCodeDiscount", "title"], "Title can't be blank", "BLANK"));
    }
    if code.is_empty() {
        errors.push(discount_error(&["basicCodeDiscount", "code"], "Code can't be blank", "BLANK"));
    } else if shop.discounts.iter().any(|d| d.code.eq_ignore_ascii_case(&code)) {
        errors.push(discount_error(
            &["basicCodeDiscount", "code"],
            "Code must be unique. Please try a different code.",
            "TAKEN",
        ));
    }
    let value = input.pointer("/customerGets/value").cloned().unwrap_or(Value::Null);
    match (value.get("percentage"), value.get("discountAmount")) {
        (Some(p), _) if p.as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)) => {}
        (Some(_), _) => errors.push(discount_error(
            &["basicCodeDiscount", "customerGets", "value", "percentage"],
            "Value must be between 0.0 and 1.0",
            "VALUE_OUTSIDE_RANGE",
        )),
        (None, Some(_)) => {}
        (None, None) => errors.push(discount_error(
            &["basicCodeDiscount", "customerGets", "value"],
            "Value can't be blank",
            "BLANK",
        )),
    }
    let starts_at = input.get("startsAt").and_then(Value::as_str).and_then(parse_timestamp).unwrap_or(now);
    let ends_at = input.get("endsAt").and_then(Value::as_str).and_then(parse_timestamp);
    if ends_at.is_some_and(|end| end <= starts_at) {
        errors.push(discount_error(&["basicCodeDiscount", "endsAt"], "Ends at needs to be after starts_at", "INVALID"));
    }
    if !errors.is_empty() {
        return discount_payload(None, errors);
    }
    let discount = Discount {
        id: shop.new_id(),
        code_id: shop.new_id(),
        title,
        code,
        value,
        starts_at,
        ends_at,
        created_at: now,
        usage_limit: input.get("usageLimit").and_then(Value::as_i64),
        applies_once_per_customer: input.get("appliesOncePerCustomer").and_then(Value::as_bool).unwrap_or(false),
    };
    let node = discount.to_graphql(now);
    shop.discounts.push(discount);
    discount_payload(Some(node), Vec::new())
}

fn adjust_inventory(shop: &mut Shop, input: &Value, now: i64) -> Value {
    let error = |field: Vec<String>, message: &str, code: &str| json!({"__typename": "InventoryAdjustQuantitiesUserError", "field": field, "message": message, "code": code});
    let name = input.get("name").and_then(Value::as_str).unwrap_or_default();
    let reason = input.get("reason").and_then(Value::as_str).unwrap_or_default();
    let mut errors = Vec::new();
    if name != "available" && name != "on_hand" {
        errors.push(error(
            vec!["input".into(), "name".into()],
            "The quantity name must be either 'available' or 'on_hand'.",
            "INVALID_QUANTITY_NAME",
        ));
    }
    if !INVENTORY_REASONS.contains(&reason) {
        errors.push(error(vec!["input".into(), "reason".into()], "The specified reason is invalid.", "INVALID_REASON"));
    }
    let changes = input.get("changes").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut resolved = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let at = |leaf: &str| vec!["input".to_owned(), "changes".to_owned(), i.to_string(), leaf.to_owned()];
        let delta = change.get("delta").and_then(Value::as_i64);
        let item = change.get("inventoryItemId").and_then(Value::as_str).and_then(|id| parse_gid("InventoryItem", id));
        let location = change.get("locationId").and_then(Value::as_str).and_then(|id| parse_gid("Location", id));
        let found = item.and_then(|item| {
            shop.products.iter().enumerate().find_map(|(p, product)| {
                product.variants.iter().position(|v| v.inventory_item_id == item).map(|v| (p, v))
            })
        });
        match (delta, found, location) {
            (None, _, _) => errors.push(error(at("delta"), "The delta is invalid.", "INVALID_QUANTITY")),
            (_, None, _) => errors.push(error(
                at("inventoryItemId"),
                "The specified inventory item could not be found.",
                "INVALID_INVENTORY_ITEM",
            )),
            (_, _, location) if location != Some(shop.location_id) => {
                errors.push(error(at("locationId"), "The specified location could not be found.", "INVALID_LOCATION"))
            }
            (Some(delta), Some(target), _) => resolved.push((target, delta)),
        }
    }
    if !errors.is_empty() {
        return inventory_payload(None, errors);
    }
    let location = location(shop);
    let mut applied = Vec::new();
    for ((p, v), delta) in resolved {
        let product = &mut shop.products[p];
        product.updated_at = now;
        let variant = &mut product.variants[v];
        variant.inventory_quantity += delta;
        applied.push(inventory_change(name, delta, variant.inventory_quantity, variant, &location));
    }
    let reference = input.get("referenceDocumentUri").and_then(Value::as_str);
    let group = adjustment_group(shop, now, reason, reference, applied);
    shop.new_id();
    inventory_payload(Some(group), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shopify::demo::demo_shop;

    fn run(shop: &mut Shop, query: &str, variables: Value) -> (Value, Vec<Value>, Vec<(String, Value)>) {
        let document = graphql::parse(query).unwrap();
        let operation = document.operation(None).unwrap();
        let root = if operation.kind == OperationKind::Mutation { "Mutation" } else { "QueryRoot" };
        let variables = variables.as_object().cloned().unwrap_or_default();
        let projector = Projector { fragments: &document.fragments };
        let mut fields = Vec::new();
        root_fields(&operation.selections, &document.fragments, &mut fields);
        let mut data = Map::new();
        let mut errors = Vec::new();
        let mut webhooks = Vec::new();
        for field in fields {
            let args = field.arguments.iter().map(|(k, v)| (k.clone(), v.resolve(&variables))).collect();
            match plan(field, root, &args) {
                Ok(plan) => {
                    projector.project(&sample(&plan, 0), &field.selections, &mut vec![], &mut errors);
                    let full = execute(&plan, shop, 2_000_000_000, &mut webhooks).unwrap();
                    data.insert(
                        field.response_key().to_owned(),
                        projector.project(&full, &field.selections, &mut vec![], &mut errors),
                    );
                }
                Err(error) => errors.push(error),
            }
        }
        (Value::Object(data), errors, webhooks)
    }

    #[test]
    fn order_cancel_marks_the_order_and_refuses_a_second_time() {
        let mut shop = demo_shop("demo-shop.myshopify.com", 42, 1);
        let order = shop.orders.iter().find(|o| o.cancelled_at.is_none()).map(|o| o.id).unwrap();
        let mutation = "mutation($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER, refund: true, restock: true) { job { id } userErrors { field message } } }";
        let variables = json!({"id": gid("Order", order)});
        let (data, errors, webhooks) = run(&mut shop, mutation, variables.clone());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(data["orderCancel"]["userErrors"], json!([]));
        assert_eq!(webhooks[0].0, "orders/cancelled");
        let cancelled = shop.order(order).unwrap();
        assert_eq!(cancelled.cancelled_at, Some(2_000_000_000));
        assert_eq!(cancelled.updated_at, 2_000_000_000);
        let (data, _, _) = run(&mut shop, mutation, variables);
        assert_eq!(
            data["orderCancel"]["userErrors"],
            json!([{"field": ["orderId"], "message": "Order has already been cancelled"}])
        );
        assert_eq!(data["orderCancel"]["job"], Value::Null);
    }

    #[test]
    fn discounts_are_created_once_per_code() {
        let mut shop = demo_shop("demo-shop.myshopify.com", 42, 1);
        let mutation = r#"mutation($input: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $input) {
            codeDiscountNode { id codeDiscount { ... on DiscountCodeBasic { title codes(first: 1) { nodes { code } } } } }
            userErrors { field message code } } }"#;
        let input = json!({"input": {"title": "Ten off", "code": "TEN", "startsAt": "2026-11-01T00:00:00Z",
                                     "customerGets": {"value": {"percentage": 0.1}, "items": {"all": true}}}});
        let (data, errors, _) = run(&mut shop, mutation, input.clone());
        assert!(errors.is_empty(), "{errors:?}");
        let node = &data["discountCodeBasicCreate"]["codeDiscountNode"];
        assert_eq!(node["codeDiscount"]["codes"]["nodes"][0]["code"], "TEN");
        assert_eq!(node["codeDiscount"]["title"], "Ten off");
        let (data, _, _) = run(&mut shop, mutation, input);
        assert_eq!(data["discountCodeBasicCreate"]["userErrors"][0]["code"], "TAKEN");
    }

    #[test]
    fn inventory_adjustments_change_total_inventory() {
        let mut shop = demo_shop("demo-shop.myshopify.com", 42, 1);
        let (product_id, item, before) =
            (shop.products[0].id, shop.products[0].variants[0].inventory_item_id, shop.products[0].total_inventory());
        let mutation = "mutation($input: InventoryAdjustQuantitiesInput!) { inventoryAdjustQuantities(input: $input) { inventoryAdjustmentGroup { changes { delta quantityAfterChange } } userErrors { field message code } } }";
        let input = json!({"input": {"reason": "correction", "name": "available", "changes": [
            {"delta": -3, "inventoryItemId": gid("InventoryItem", item), "locationId": gid("Location", shop.location_id)}]}});
        let (data, errors, _) = run(&mut shop, mutation, input);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(data["inventoryAdjustQuantities"]["userErrors"], json!([]));
        assert_eq!(shop.product(product_id).unwrap().total_inventory(), before - 3);
        let bad = json!({"input": {"reason": "correction", "name": "available", "changes": [
            {"delta": 1, "inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": gid("Location", shop.location_id)}]}});
        let (data, _, _) = run(&mut shop, mutation, bad);
        assert_eq!(data["inventoryAdjustQuantities"]["userErrors"][0]["code"], "INVALID_INVENTORY_ITEM");
    }

    #[test]
    fn unknown_fields_and_arguments_are_errors() {
        let mut shop = demo_shop("demo-shop.myshopify.com", 42, 1);
        let (_, errors, _) = run(&mut shop, "{ orders(first: 1) { nodes { id colour } } }", json!({}));
        assert_eq!(errors[0]["extensions"]["code"], "undefinedField");
        let (_, errors, _) = run(&mut shop, "{ orders(first: 1, colour: RED) { nodes { id } } }", json!({}));
        assert_eq!(errors[0]["extensions"]["code"], "argumentNotAccepted");
        let (_, errors, _) = run(&mut shop, "{ widgets { id } }", json!({}));
        assert_eq!(errors[0]["extensions"]["typeName"], "QueryRoot");
        let (_, errors, _) = run(&mut shop, "mutation { orderCancel(orderId: \"1\") { job { id } } }", json!({}));
        assert_eq!(errors[0]["extensions"]["code"], "missingRequiredArguments");
    }

    #[test]
    fn single_objects_and_shop_resolve() {
        let mut shop = demo_shop("demo-shop.myshopify.com", 42, 1);
        let id = gid("Order", shop.orders[0].id);
        let (data, errors, _) = run(
            &mut shop,
            "query($id: ID!) { order(id: $id) { name totalPriceSet { shopMoney { amount } } } shop { name myshopifyDomain } }",
            json!({"id": id}),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(data["order"]["name"], "#1001");
        assert_eq!(data["shop"]["myshopifyDomain"], "demo-shop.myshopify.com");
    }
}
