//! Shopify's objects as the sandbox keeps them — a shop with orders, products (with variants), customers and code
//! discounts — and their two renderings: GraphQL Admin API nodes (`gid://shopify/Order/123`, camelCase, `MoneyBag`s,
//! `__typename` on every object so fragments and errors can name types) and REST/webhook JSON (numeric ids,
//! snake_case, decimal strings).

use serde_json::{Map, Value, json};

use super::bucket::Bucket;
use super::search::{Searchable, SortValue};
use crate::clock::rfc3339;

/// One shop and everything in it.
#[derive(Debug)]
pub(crate) struct Shop {
    pub(crate) domain: String,
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) location_id: u64,
    /// In id order (ids grow with creation time).
    pub(crate) orders: Vec<Order>,
    pub(crate) products: Vec<Product>,
    pub(crate) customers: Vec<Customer>,
    pub(crate) discounts: Vec<Discount>,
    /// Ids for objects created while running.
    pub(crate) next_id: u64,
    /// The GraphQL cost bucket (1000 points, 100/s).
    pub(crate) graphql_bucket: Bucket,
    /// The REST call bucket (40 calls, 2/s).
    pub(crate) rest_bucket: Bucket,
}

impl Shop {
    pub(crate) fn empty(domain: &str, id: u64) -> Self {
        let name = domain.split('.').next().unwrap_or(domain).replace('-', " ");
        Self {
            domain: domain.to_owned(),
            id,
            email: format!("owner@{domain}"),
            name,
            location_id: id * 10 + 1,
            orders: Vec::new(),
            products: Vec::new(),
            customers: Vec::new(),
            discounts: Vec::new(),
            next_id: 9_000_000_000_000,
            graphql_bucket: Bucket::graphql(),
            rest_bucket: Bucket::rest(),
        }
    }

    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn order(&self, id: u64) -> Option<&Order> {
        self.orders.binary_search_by_key(&id, |o| o.id).ok().map(|at| &self.orders[at])
    }

    pub(crate) fn order_mut(&mut self, id: u64) -> Option<&mut Order> {
        self.orders.binary_search_by_key(&id, |o| o.id).ok().map(|at| &mut self.orders[at])
    }

    pub(crate) fn customer(&self, id: u64) -> Option<&Customer> {
        self.customers.binary_search_by_key(&id, |c| c.id).ok().map(|at| &self.customers[at])
    }

    pub(crate) fn product(&self, id: u64) -> Option<&Product> {
        self.products.binary_search_by_key(&id, |p| p.id).ok().map(|at| &self.products[at])
    }

    pub(crate) fn to_graphql(&self) -> Value {
        json!({
            "__typename": "Shop",
            "id": gid("Shop", self.id),
            "name": self.name,
            "email": self.email,
            "contactEmail": self.email,
            "myshopifyDomain": self.domain,
            "primaryDomain": {"__typename": "Domain", "host": self.domain, "url": format!("https://{}", self.domain)},
            "currencyCode": "USD",
            "ianaTimezone": "America/New_York",
            "timezoneAbbreviation": "EST",
            "weightUnit": "KILOGRAMS",
            "plan": {"__typename": "ShopPlan", "displayName": "Basic", "partnerDevelopment": false, "shopifyPlus": false},
            "billingAddress": {"__typename": "ShopAddress", "country": "United States", "countryCodeV2": "US"},
        })
    }
}

/// `gid://shopify/Order/123`.
pub(crate) fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of a gid of `kind` (also accepts the bare number).
pub(crate) fn parse_gid(kind: &str, text: &str) -> Option<u64> {
    let number = match text.strip_prefix("gid://shopify/") {
        Some(rest) => rest.strip_prefix(kind)?.strip_prefix('/')?,
        None => text,
    };
    number.split('?').next()?.parse().ok()
}

/// A GraphQL `Decimal`: `12.5`, `12.0`.
pub(crate) fn decimal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let (units, fraction) = (cents / 100, cents % 100);
    match fraction {
        0 => format!("{sign}{units}.0"),
        f if f % 10 == 0 => format!("{sign}{units}.{}", f / 10),
        f => format!("{sign}{units}.{f:02}"),
    }
}

/// A REST price: `12.50`.
pub(crate) fn rest_price(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

pub(crate) fn money(cents: i64) -> Value {
    json!({"__typename": "MoneyV2", "amount": decimal(cents), "currencyCode": "USD"})
}

pub(crate) fn money_bag(cents: i64) -> Value {
    json!({"__typename": "MoneyBag", "shopMoney": money(cents), "presentmentMoney": money(cents)})
}

/// A connection with every node on one page (for nested connections like `lineItems`).
pub(crate) fn full_connection(type_name: &str, nodes: Vec<Value>) -> Value {
    let cursors: Vec<String> = (0..nodes.len()).map(|i| super::search::index_cursor(i as u64)).collect();
    connection(type_name, nodes.into_iter().zip(cursors).map(|(n, c)| (c, n)).collect(), false, false)
}

/// A connection value: `nodes`, `edges { cursor node }`, `pageInfo`.
pub(crate) fn connection(type_name: &str, page: Vec<(String, Value)>, has_next: bool, has_previous: bool) -> Value {
    let start = page.first().map(|(c, _)| c.clone());
    let end = page.last().map(|(c, _)| c.clone());
    let edges: Vec<Value> = page
        .iter()
        .map(|(cursor, node)| json!({"__typename": format!("{type_name}Edge"), "cursor": cursor, "node": node}))
        .collect();
    let nodes: Vec<Value> = page.into_iter().map(|(_, node)| node).collect();
    json!({
        "__typename": format!("{type_name}Connection"),
        "edges": edges,
        "nodes": nodes,
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": start,
            "endCursor": end,
        },
    })
}

#[derive(Clone, Debug)]
pub(crate) struct Customer {
    pub(crate) id: u64,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) email: String,
    pub(crate) phone: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// `ENABLED`, `DISABLED`, `INVITED` or `DECLINED`.
    pub(crate) state: &'static str,
    pub(crate) tags: Vec<String>,
    pub(crate) verified_email: bool,
    pub(crate) orders_count: u64,
    pub(crate) amount_spent: i64,
}

impl Customer {
    pub(crate) fn to_graphql(&self) -> Value {
        json!({
            "__typename": "Customer",
            "id": gid("Customer", self.id),
            "legacyResourceId": self.id.to_string(),
            "firstName": self.first_name,
            "lastName": self.last_name,
            "displayName": format!("{} {}", self.first_name, self.last_name),
            "email": self.email,
            "phone": self.phone,
            "defaultEmailAddress": {"__typename": "CustomerEmailAddress", "emailAddress": self.email,
                                    "marketingState": "NOT_SUBSCRIBED"},
            "defaultPhoneNumber": self.phone.as_ref().map(|p| json!({"__typename": "CustomerPhoneNumber", "phoneNumber": p})),
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "state": self.state,
            "tags": self.tags,
            "note": null,
            "verifiedEmail": self.verified_email,
            "taxExempt": false,
            "numberOfOrders": self.orders_count.to_string(),
            "amountSpent": money(self.amount_spent),
        })
    }

    pub(crate) fn to_rest(&self) -> Value {
        json!({
            "id": self.id,
            "admin_graphql_api_id": gid("Customer", self.id),
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "state": self.state.to_lowercase(),
            "tags": self.tags.join(", "),
            "verified_email": self.verified_email,
            "currency": "USD",
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Variant {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) sku: String,
    pub(crate) price: i64,
    pub(crate) inventory_quantity: i64,
    pub(crate) inventory_item_id: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Product {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) handle: String,
    pub(crate) vendor: String,
    pub(crate) product_type: String,
    /// `ACTIVE`, `DRAFT` or `ARCHIVED`.
    pub(crate) status: &'static str,
    pub(crate) tags: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) published_at: Option<i64>,
    pub(crate) variants: Vec<Variant>,
}

impl Product {
    pub(crate) fn total_inventory(&self) -> i64 {
        self.variants.iter().map(|v| v.inventory_quantity).sum()
    }

    pub(crate) fn to_graphql(&self) -> Value {
        let min = self.variants.iter().map(|v| v.price).min().unwrap_or(0);
        let max = self.variants.iter().map(|v| v.price).max().unwrap_or(0);
        let variants = self
            .variants
            .iter()
            .map(|v| {
                json!({
                    "__typename": "ProductVariant",
                    "id": gid("ProductVariant", v.id),
                    "legacyResourceId": v.id.to_string(),
                    "title": v.title,
                    "displayName": format!("{} - {}", self.title, v.title),
                    "sku": v.sku,
                    "price": decimal(v.price),
                    "compareAtPrice": null,
                    "inventoryQuantity": v.inventory_quantity,
                    "availableForSale": self.status == "ACTIVE" && v.inventory_quantity > 0,
                    "inventoryItem": {
                        "__typename": "InventoryItem",
                        "id": gid("InventoryItem", v.inventory_item_id),
                        "sku": v.sku,
                        "tracked": true,
                    },
                })
            })
            .collect();
        json!({
            "__typename": "Product",
            "id": gid("Product", self.id),
            "legacyResourceId": self.id.to_string(),
            "title": self.title,
            "handle": self.handle,
            "description": format!("{}, roasted and packed to order.", self.title),
            "descriptionHtml": format!("<p>{}, roasted and packed to order.</p>", self.title),
            "vendor": self.vendor,
            "productType": self.product_type,
            "status": self.status,
            "tags": self.tags,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "publishedAt": self.published_at.map(rfc3339),
            "onlineStoreUrl": null,
            "totalInventory": self.total_inventory(),
            "tracksInventory": true,
            "hasOnlyDefaultVariant": self.variants.len() == 1,
            "priceRangeV2": {"__typename": "ProductPriceRangeV2", "minVariantPrice": money(min), "maxVariantPrice": money(max)},
            "featuredImage": null,
            "variants": full_connection("ProductVariant", variants),
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct LineItem {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) variant_title: String,
    pub(crate) sku: String,
    pub(crate) quantity: i64,
    pub(crate) unit_price: i64,
    pub(crate) product_id: u64,
    pub(crate) variant_id: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) number: u64,
    pub(crate) email: Option<String>,
    pub(crate) customer_id: Option<u64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) cancelled_at: Option<i64>,
    /// `CUSTOMER`, `DECLINED`, `FRAUD`, `INVENTORY`, `OTHER` or `STAFF`.
    pub(crate) cancel_reason: Option<String>,
    pub(crate) closed_at: Option<i64>,
    /// GraphQL `OrderDisplayFinancialStatus`: `PAID`, `PENDING`, `REFUNDED`, ...
    pub(crate) financial_status: &'static str,
    /// GraphQL `OrderDisplayFulfillmentStatus`: `FULFILLED`, `UNFULFILLED`, ...
    pub(crate) fulfillment_status: &'static str,
    pub(crate) line_items: Vec<LineItem>,
    pub(crate) tax: i64,
    pub(crate) total_refunded: i64,
    pub(crate) tags: Vec<String>,
    pub(crate) note: Option<String>,
}

impl Order {
    pub(crate) fn subtotal(&self) -> i64 {
        self.line_items.iter().map(|l| l.unit_price * l.quantity).sum()
    }

    pub(crate) fn total(&self) -> i64 {
        self.subtotal() + self.tax
    }

    pub(crate) fn name(&self) -> String {
        format!("#{}", self.number)
    }

    pub(crate) fn to_graphql(&self, customer: Option<&Customer>) -> Value {
        let line_items = self
            .line_items
            .iter()
            .map(|l| {
                json!({
                    "__typename": "LineItem",
                    "id": gid("LineItem", l.id),
                    "title": l.title,
                    "name": format!("{} - {}", l.title, l.variant_title),
                    "variantTitle": l.variant_title,
                    "sku": l.sku,
                    "quantity": l.quantity,
                    "currentQuantity": if self.cancelled_at.is_some() { 0 } else { l.quantity },
                    "originalUnitPriceSet": money_bag(l.unit_price),
                    "discountedUnitPriceSet": money_bag(l.unit_price),
                    "originalTotalSet": money_bag(l.unit_price * l.quantity),
                    "product": {"__typename": "Product", "id": gid("Product", l.product_id)},
                    "variant": {"__typename": "ProductVariant", "id": gid("ProductVariant", l.variant_id), "sku": l.sku},
                })
            })
            .collect();
        json!({
            "__typename": "Order",
            "id": gid("Order", self.id),
            "legacyResourceId": self.id.to_string(),
            "name": self.name(),
            "email": self.email,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "processedAt": rfc3339(self.created_at),
            "cancelledAt": self.cancelled_at.map(rfc3339),
            "cancelReason": self.cancel_reason,
            "closed": self.closed_at.is_some(),
            "closedAt": self.closed_at.map(rfc3339),
            "confirmed": true,
            "test": false,
            "displayFinancialStatus": self.financial_status,
            "displayFulfillmentStatus": self.fulfillment_status,
            "currencyCode": "USD",
            "presentmentCurrencyCode": "USD",
            "subtotalPriceSet": money_bag(self.subtotal()),
            "totalTaxSet": money_bag(self.tax),
            "totalDiscountsSet": money_bag(0),
            "totalShippingPriceSet": money_bag(0),
            "totalPriceSet": money_bag(self.total()),
            "currentTotalPriceSet": money_bag(self.total() - self.total_refunded),
            "totalRefundedSet": money_bag(self.total_refunded),
            "customer": customer.map(Customer::to_graphql),
            "tags": self.tags,
            "note": self.note,
            "sourceName": "web",
            "lineItems": full_connection("LineItem", line_items),
        })
    }

    pub(crate) fn to_rest(&self, customer: Option<&Customer>) -> Value {
        let financial = self.financial_status.to_lowercase();
        let fulfillment = match self.fulfillment_status {
            "FULFILLED" => Some("fulfilled"),
            "PARTIALLY_FULFILLED" => Some("partial"),
            _ => None,
        };
        let line_items: Vec<Value> = self
            .line_items
            .iter()
            .map(|l| {
                json!({
                    "id": l.id,
                    "admin_graphql_api_id": gid("LineItem", l.id),
                    "title": l.title,
                    "variant_title": l.variant_title,
                    "name": format!("{} - {}", l.title, l.variant_title),
                    "sku": l.sku,
                    "quantity": l.quantity,
                    "price": rest_price(l.unit_price),
                    "product_id": l.product_id,
                    "variant_id": l.variant_id,
                })
            })
            .collect();
        let mut order = Map::new();
        for (key, value) in [
            ("id", json!(self.id)),
            ("admin_graphql_api_id", json!(gid("Order", self.id))),
            ("name", json!(self.name())),
            ("order_number", json!(self.number)),
            ("number", json!(self.number - 1000)),
            ("email", json!(self.email)),
            ("contact_email", json!(self.email)),
            ("created_at", json!(rfc3339(self.created_at))),
            ("updated_at", json!(rfc3339(self.updated_at))),
            ("processed_at", json!(rfc3339(self.created_at))),
            ("cancelled_at", json!(self.cancelled_at.map(rfc3339))),
            ("cancel_reason", json!(self.cancel_reason.as_ref().map(|r| r.to_lowercase()))),
            ("closed_at", json!(self.closed_at.map(rfc3339))),
            ("financial_status", json!(financial)),
            ("fulfillment_status", json!(fulfillment)),
            ("currency", json!("USD")),
            ("subtotal_price", json!(rest_price(self.subtotal()))),
            ("total_tax", json!(rest_price(self.tax))),
            ("total_discounts", json!("0.00")),
            ("total_price", json!(rest_price(self.total()))),
            ("current_total_price", json!(rest_price(self.total() - self.total_refunded))),
            ("test", json!(false)),
            ("tags", json!(self.tags.join(", "))),
            ("note", json!(self.note)),
            ("source_name", json!("web")),
            ("customer", json!(customer.map(Customer::to_rest))),
            ("line_items", json!(line_items)),
        ] {
            order.insert(key.to_owned(), value);
        }
        Value::Object(order)
    }
}

/// A code discount created with `discountCodeBasicCreate`.
#[derive(Clone, Debug)]
pub(crate) struct Discount {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) code: String,
    pub(crate) code_id: u64,
    /// `customerGets.value` as given (`{"percentage": 0.1}` or `{"discountAmount": {...}}`).
    pub(crate) value: Value,
    pub(crate) starts_at: i64,
    pub(crate) ends_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) usage_limit: Option<i64>,
    pub(crate) applies_once_per_customer: bool,
}

impl Discount {
    pub(crate) fn to_graphql(&self, now: i64) -> Value {
        let status = if self.ends_at.is_some_and(|end| end <= now) {
            "EXPIRED"
        } else if self.starts_at > now {
            "SCHEDULED"
        } else {
            "ACTIVE"
        };
        let (value, summary) = if let Some(percentage) = self.value.get("percentage").and_then(Value::as_f64) {
            (
                json!({"__typename": "DiscountPercentage", "percentage": percentage}),
                format!("{}% off entire order", (percentage * 100.0).round()),
            )
        } else {
            let amount = self.value.pointer("/discountAmount/amount").cloned().unwrap_or(json!("0.0"));
            let amount_text = amount.as_str().map(str::to_owned).unwrap_or_else(|| amount.to_string());
            (
                json!({
                    "__typename": "DiscountAmount",
                    "amount": {"__typename": "MoneyV2", "amount": amount_text, "currencyCode": "USD"},
                    "appliesOnEachItem": self.value.pointer("/discountAmount/appliesOnEachItem").cloned().unwrap_or(json!(false)),
                }),
                format!("${amount_text} off entire order"),
            )
        };
        let codes = full_connection(
            "DiscountRedeemCode",
            vec![json!({"__typename": "DiscountRedeemCode", "id": gid("DiscountRedeemCode", self.code_id),
                        "code": self.code, "asyncUsageCount": 0})],
        );
        json!({
            "__typename": "DiscountCodeNode",
            "id": gid("DiscountCodeNode", self.id),
            "codeDiscount": {
                "__typename": "DiscountCodeBasic",
                "title": self.title,
                "status": status,
                "summary": summary,
                "startsAt": rfc3339(self.starts_at),
                "endsAt": self.ends_at.map(rfc3339),
                "createdAt": rfc3339(self.created_at),
                "updatedAt": rfc3339(self.created_at),
                "usageLimit": self.usage_limit,
                "appliesOncePerCustomer": self.applies_once_per_customer,
                "asyncUsageCount": 0,
                "codesCount": {"__typename": "Count", "count": 1, "precision": "EXACT"},
                "codes": codes,
                "customerGets": {
                    "__typename": "DiscountCustomerGets",
                    "value": value,
                    "items": {"__typename": "AllDiscountItems", "allItems": true},
                },
            },
        })
    }
}

// === Search and sort keys (see `search`) ===

impl Searchable for Order {
    fn id(&self) -> u64 {
        self.id
    }

    fn sort_value(&self, key: &str) -> Option<SortValue> {
        Some(match key {
            "ID" | "RELEVANCE" => SortValue::Int(self.id as i64),
            "CREATED_AT" | "PROCESSED_AT" => SortValue::Int(self.created_at),
            "UPDATED_AT" => SortValue::Int(self.updated_at),
            "ORDER_NUMBER" => SortValue::Int(self.number as i64),
            "TOTAL_PRICE" => SortValue::Int(self.total()),
            "FINANCIAL_STATUS" => SortValue::Text(self.financial_status.to_owned()),
            "FULFILLMENT_STATUS" => SortValue::Text(self.fulfillment_status.to_owned()),
            _ => return None,
        })
    }

    fn timestamp(&self, field: &str) -> Option<i64> {
        match field {
            "created_at" | "processed_at" => Some(self.created_at),
            "updated_at" => Some(self.updated_at),
            _ => None,
        }
    }

    fn text(&self, field: &str) -> Option<Vec<String>> {
        Some(match field {
            "status" => {
                let state = if self.cancelled_at.is_some() {
                    "cancelled"
                } else if self.closed_at.is_some() {
                    "closed"
                } else {
                    "open"
                };
                vec![state.to_owned(), "any".to_owned()]
            }
            "financial_status" => vec![self.financial_status.to_lowercase()],
            "fulfillment_status" => match self.fulfillment_status {
                "FULFILLED" => vec!["fulfilled".into(), "shipped".into()],
                _ => vec!["unfulfilled".into(), "unshipped".into()],
            },
            "email" => self.email.iter().cloned().collect(),
            "name" => vec![self.name(), self.number.to_string()],
            "id" => vec![self.id.to_string()],
            "customer_id" => self.customer_id.iter().map(u64::to_string).collect(),
            "tag" => self.tags.clone(),
            _ => return None,
        })
    }
}

impl Searchable for Product {
    fn id(&self) -> u64 {
        self.id
    }

    fn sort_value(&self, key: &str) -> Option<SortValue> {
        Some(match key {
            "ID" | "RELEVANCE" => SortValue::Int(self.id as i64),
            "CREATED_AT" => SortValue::Int(self.created_at),
            "UPDATED_AT" => SortValue::Int(self.updated_at),
            "PUBLISHED_AT" => SortValue::Int(self.published_at.unwrap_or(0)),
            "INVENTORY_TOTAL" => SortValue::Int(self.total_inventory()),
            "TITLE" => SortValue::Text(self.title.to_lowercase()),
            "PRODUCT_TYPE" => SortValue::Text(self.product_type.to_lowercase()),
            "VENDOR" => SortValue::Text(self.vendor.to_lowercase()),
            _ => return None,
        })
    }

    fn timestamp(&self, field: &str) -> Option<i64> {
        match field {
            "created_at" => Some(self.created_at),
            "updated_at" => Some(self.updated_at),
            "published_at" => Some(self.published_at.unwrap_or(0)),
            _ => None,
        }
    }

    fn text(&self, field: &str) -> Option<Vec<String>> {
        Some(match field {
            "status" => vec![self.status.to_lowercase()],
            "title" => vec![self.title.clone()],
            "product_type" => vec![self.product_type.clone()],
            "vendor" => vec![self.vendor.clone()],
            "handle" => vec![self.handle.clone()],
            "id" => vec![self.id.to_string()],
            "sku" => self.variants.iter().map(|v| v.sku.clone()).collect(),
            "tag" => self.tags.clone(),
            _ => return None,
        })
    }
}

impl Searchable for Customer {
    fn id(&self) -> u64 {
        self.id
    }

    fn sort_value(&self, key: &str) -> Option<SortValue> {
        Some(match key {
            "ID" | "RELEVANCE" => SortValue::Int(self.id as i64),
            "CREATED_AT" => SortValue::Int(self.created_at),
            "UPDATED_AT" => SortValue::Int(self.updated_at),
            "NAME" => SortValue::Text(format!("{} {}", self.first_name, self.last_name).to_lowercase()),
            _ => return None,
        })
    }

    fn timestamp(&self, field: &str) -> Option<i64> {
        match field {
            "created_at" => Some(self.created_at),
            "updated_at" => Some(self.updated_at),
            _ => None,
        }
    }

    fn text(&self, field: &str) -> Option<Vec<String>> {
        Some(match field {
            "email" => vec![self.email.clone()],
            "state" | "customer_account_state" => vec![self.state.to_lowercase()],
            "first_name" => vec![self.first_name.clone()],
            "last_name" => vec![self.last_name.clone()],
            "phone" => self.phone.iter().cloned().collect(),
            "id" => vec![self.id.to_string()],
            "tag" => self.tags.clone(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_renders_like_shopify() {
        assert_eq!(decimal(1250), "12.5");
        assert_eq!(decimal(1200), "12.0");
        assert_eq!(decimal(1299), "12.99");
        assert_eq!(decimal(5), "0.05");
        assert_eq!(rest_price(1250), "12.50");
        assert_eq!(rest_price(-5), "-0.05");
    }

    #[test]
    fn gids_round_trip() {
        assert_eq!(gid("Order", 12), "gid://shopify/Order/12");
        assert_eq!(parse_gid("Order", "gid://shopify/Order/12"), Some(12));
        assert_eq!(parse_gid("Order", "12"), Some(12));
        assert_eq!(parse_gid("Order", "gid://shopify/Product/12"), None);
    }
}
