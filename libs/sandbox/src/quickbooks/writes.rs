//! Writes: create a customer, an invoice or a payment against invoices, and e-mail an invoice. A write with a
//! `requestid` seen before on the realm answers what the first one answered and changes nothing (Intuit's
//! idempotency key). Every change stamps a new `SyncToken` and `LastUpdatedTime` and sends a change webhook when a
//! target is set. [`change_entity`] and [`delete_entity`] change the books the way someone in the QuickBooks UI
//! would, for tests of CDC and webhooks.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::not_found;
use super::{
    Company, Deleted, Entity, Kind, admit, cents, change_delivery, metadata, money, pairs, param, qbo_date, qbo_time,
    touch, validation,
};
use crate::Provider;
use crate::clock::wall_unix;
use crate::state::{Shared, lock};

/// A write's outcome: the answer, and the changes to announce by webhook.
struct Written {
    status: StatusCode,
    body: Value,
    changes: Vec<(Kind, u64, &'static str)>,
}

impl Written {
    fn refused(response: (StatusCode, Value)) -> Self {
        Self { status: response.0, body: response.1, changes: Vec::new() }
    }
}

/// A `ValidationFault` as a status and body (for storing as a write's first answer).
fn refusal(message: &str, detail: &str, code: &str) -> (StatusCode, Value) {
    let body = json!({
        "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
                  "type": "ValidationFault"},
        "time": qbo_time(wall_unix()),
    });
    (StatusCode::BAD_REQUEST, body)
}

fn missing(field: &str) -> (StatusCode, Value) {
    refusal(
        "Required param missing, need to supply the required value for the API",
        &format!("Required parameter {field} is missing in the request"),
        "2020",
    )
}

fn invalid_reference(kind: Kind, id: &str) -> (StatusCode, Value) {
    refusal(
        "Invalid Reference Id",
        &format!("Invalid Reference Id : {} assigned is not found or deleted: {id}", kind.name()),
        "2500",
    )
}

/// The id a reference (`{"value":"12"}`) names.
fn ref_id(value: &Value) -> Option<u64> {
    value.get("value")?.as_str()?.trim().parse().ok()
}

/// Runs a write under the realm's `requestid`, answering a repeat with the first answer.
fn idempotent(
    shared: &Arc<Shared>,
    realm: &str,
    params: &[(String, String)],
    write: impl FnOnce(&mut Company, i64) -> Written,
) -> Response {
    let request_id = param(params, "requestid").map(str::to_owned).filter(|r| !r.is_empty());
    let now = shared.clock.now();
    let written = {
        let mut data = lock(&shared.quickbooks);
        let company = data.companies.entry(realm.to_owned()).or_default();
        if let Some(id) = &request_id
            && let Some((status, body)) = company.replies.get(id)
        {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            return (status, axum::Json(body.clone())).into_response();
        }
        let written = write(company, now);
        if let Some(id) = request_id {
            company.replies.insert(id, (written.status.as_u16(), written.body.clone()));
        }
        written
    };
    for (kind, id, op) in &written.changes {
        shared.send_in_background(Provider::QuickBooks, change_delivery(shared, realm, *kind, *id, op));
    }
    (written.status, axum::Json(written.body)).into_response()
}

fn answer(kind: Kind, entity: &Entity) -> Value {
    json!({kind.name(): entity.body, "time": qbo_time(wall_unix())})
}

/// `POST /v3/company/{realm}/{customer|invoice|payment}`.
pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    Path((realm, entity)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let params = pairs(raw.as_deref());
    let _admitted = match admit(&shared, &headers, &realm, &params) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let kind = match Kind::parse(&entity) {
        Some(kind @ (Kind::Customer | Kind::Invoice | Kind::Payment)) => kind,
        _ => {
            return validation(
                "Unsupported Operation",
                &format!("Operation create is not supported for {entity} in the sandbox"),
                "500",
            );
        }
    };
    let input: Value = match serde_json::from_slice(&body) {
        Ok(value @ Value::Object(_)) => value,
        _ => return validation("Request has invalid or unsupported property", "The body is not a JSON object", "2010"),
    };
    idempotent(&shared, &realm, &params, |company, now| match kind {
        Kind::Customer => create_customer(company, &input, now),
        Kind::Invoice => create_invoice(company, &input, now),
        _ => create_payment(company, &input, now),
    })
}

fn create_customer(company: &mut Company, input: &Value, now: i64) -> Written {
    let text = |name: &str| input.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let name = text("DisplayName")
        .map(str::to_owned)
        .or_else(|| {
            let given = [text("GivenName"), text("FamilyName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            (!given.is_empty()).then_some(given)
        })
        .or_else(|| text("CompanyName").map(str::to_owned));
    let Some(name) = name else { return Written::refused(missing("DisplayName")) };
    let taken = company
        .of(Kind::Customer)
        .any(|c| c.body["DisplayName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&name)));
    if taken {
        return Written::refused(refusal(
            "Duplicate Name Exists Error",
            &format!("The name supplied already exists. : {name}"),
            "6240",
        ));
    }
    let id = company.next_id(Kind::Customer);
    let mut body = json!({
        "Id": id.to_string(), "SyncToken": "0", "MetaData": metadata(now, now), "domain": "QBO", "sparse": false,
        "DisplayName": name, "FullyQualifiedName": name, "PrintOnCheckName": name, "Active": true, "Job": false,
        "BillWithParent": false, "Taxable": true, "Balance": 0.0, "BalanceWithJobs": 0.0,
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"}, "PreferredDeliveryMethod": "Email",
    });
    for field in ["GivenName", "FamilyName", "CompanyName", "Notes"] {
        if let Some(value) = text(field) {
            body[field] = json!(value);
        }
    }
    for field in ["PrimaryEmailAddr", "PrimaryPhone", "BillAddr"] {
        if let Some(value) = input.get(field).filter(|v| v.is_object()) {
            body[field] = value.clone();
        }
    }
    let entity = Entity { id, updated: now, body };
    let answer = answer(Kind::Customer, &entity);
    company.insert(Kind::Customer, entity);
    Written { status: StatusCode::OK, body: answer, changes: vec![(Kind::Customer, id, "Create")] }
}

/// Changes a customer's open balance by `delta` cents.
fn add_to_balance(company: &mut Company, customer: u64, delta: i64, now: i64) {
    if let Some(c) = company.get_mut(Kind::Customer, customer) {
        let balance = cents(&c.body["Balance"]).unwrap_or(0) + delta;
        c.body["Balance"] = money(balance);
        c.body["BalanceWithJobs"] = money(balance);
        touch(c, now);
    }
}

fn create_invoice(company: &mut Company, input: &Value, now: i64) -> Written {
    let Some(customer_id) = input.get("CustomerRef").and_then(ref_id) else {
        return Written::refused(missing("CustomerRef"));
    };
    let Some(customer) = company.get(Kind::Customer, customer_id) else {
        return Written::refused(invalid_reference(Kind::Customer, &customer_id.to_string()));
    };
    let customer_ref = json!({"value": customer_id.to_string(), "name": customer.body["DisplayName"]});
    let customer_email = customer.body["PrimaryEmailAddr"].clone();
    let Some(input_lines) = input.get("Line").and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return Written::refused(missing("Line"));
    };
    let mut lines = Vec::new();
    let mut total = 0;
    for (n, line) in input_lines.iter().enumerate() {
        let detail = &line["SalesItemLineDetail"];
        let Some(item_id) = detail.get("ItemRef").and_then(ref_id) else {
            return Written::refused(missing("Line.SalesItemLineDetail.ItemRef"));
        };
        let Some(item) = company.get(Kind::Item, item_id) else {
            return Written::refused(invalid_reference(Kind::Item, &item_id.to_string()));
        };
        let quantity = detail.get("Qty").and_then(Value::as_f64).unwrap_or(1.0);
        let unit = detail.get("UnitPrice").and_then(cents).or_else(|| cents(&item.body["UnitPrice"])).unwrap_or(0);
        let amount = line.get("Amount").and_then(cents).unwrap_or((unit as f64 * quantity).round() as i64);
        if amount < 0 || !quantity.is_finite() || quantity <= 0.0 {
            return Written::refused(refusal("Invalid Number", "Line.Amount and Qty must be positive numbers", "2040"));
        }
        total += amount;
        lines.push(json!({
            "Id": (n + 1).to_string(), "LineNum": n + 1,
            "Description": line.get("Description").cloned().unwrap_or_else(|| item.body["Description"].clone()),
            "Amount": money(amount), "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item_id.to_string(), "name": item.body["Name"]},
                                    "UnitPrice": money(unit), "Qty": quantity, "TaxCodeRef": {"value": "NON"}},
        }));
    }
    lines.push(json!({"Amount": money(total), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}));
    let due = match input.get("DueDate").and_then(Value::as_str) {
        Some(date) if super::parse_time(date).is_some() => date.to_owned(),
        Some(date) => {
            return Written::refused(refusal("Invalid Date", &format!("DueDate {date} is not a date"), "2040"));
        }
        None => qbo_date(now + 30 * 86_400),
    };
    let id = company.next_id(Kind::Invoice);
    let doc = company
        .of(Kind::Invoice)
        .filter_map(|i| i.body["DocNumber"].as_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(1000)
        + 1;
    let bill_email = input.get("BillEmail").filter(|v| v.is_object()).cloned().unwrap_or(customer_email);
    let body = json!({
        "Id": id.to_string(), "SyncToken": "0", "MetaData": metadata(now, now), "domain": "QBO", "sparse": false,
        "DocNumber": doc.to_string(), "TxnDate": qbo_date(now), "DueDate": due,
        "CustomerRef": customer_ref, "BillEmail": bill_email, "Line": lines,
        "TotalAmt": money(total), "Balance": money(total),
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        "EmailStatus": "NotSet", "PrintStatus": "NotSet", "ApplyTaxAfterDiscount": false, "LinkedTxn": [],
    });
    let entity = Entity { id, updated: now, body };
    let answer = answer(Kind::Invoice, &entity);
    company.insert(Kind::Invoice, entity);
    add_to_balance(company, customer_id, total, now);
    Written {
        status: StatusCode::OK,
        body: answer,
        changes: vec![(Kind::Invoice, id, "Create"), (Kind::Customer, customer_id, "Update")],
    }
}

fn create_payment(company: &mut Company, input: &Value, now: i64) -> Written {
    let Some(customer_id) = input.get("CustomerRef").and_then(ref_id) else {
        return Written::refused(missing("CustomerRef"));
    };
    let Some(customer) = company.get(Kind::Customer, customer_id) else {
        return Written::refused(invalid_reference(Kind::Customer, &customer_id.to_string()));
    };
    let customer_ref = json!({"value": customer_id.to_string(), "name": customer.body["DisplayName"]});
    let Some(total) = input.get("TotalAmt").and_then(cents).filter(|t| *t > 0) else {
        return Written::refused(missing("TotalAmt"));
    };
    // (invoice id, amount applied)
    let mut applied = Vec::new();
    for line in input.get("Line").and_then(Value::as_array).into_iter().flatten() {
        let Some(amount) = line.get("Amount").and_then(cents).filter(|a| *a > 0) else {
            return Written::refused(missing("Line.Amount"));
        };
        for link in line.get("LinkedTxn").and_then(Value::as_array).into_iter().flatten() {
            if link.get("TxnType").and_then(Value::as_str) != Some("Invoice") {
                continue;
            }
            let id = link.get("TxnId").and_then(Value::as_str).unwrap_or_default();
            let Some(invoice) = id.parse().ok().and_then(|n| company.get(Kind::Invoice, n)) else {
                return Written::refused(invalid_reference(Kind::Invoice, id));
            };
            if ref_id(&invoice.body["CustomerRef"]) != Some(customer_id) {
                return Written::refused(refusal(
                    "Business Validation Error",
                    &format!("Invoice {id} belongs to another customer than the payment's"),
                    "6000",
                ));
            }
            let balance = cents(&invoice.body["Balance"]).unwrap_or(0);
            if amount > balance {
                return Written::refused(refusal(
                    "Business Validation Error",
                    &format!(
                        "The payment applies {} to invoice {id}, whose balance is {}",
                        money(amount),
                        money(balance)
                    ),
                    "6000",
                ));
            }
            applied.push((invoice.id, amount));
        }
    }
    let applied_total: i64 = applied.iter().map(|(_, a)| a).sum();
    if applied_total > total {
        return Written::refused(refusal(
            "Business Validation Error",
            "The amounts applied to invoices exceed the payment's TotalAmt",
            "6000",
        ));
    }
    let id = company.next_id(Kind::Payment);
    let lines: Vec<Value> = applied
        .iter()
        .map(|(invoice, amount)| {
            json!({"Amount": money(*amount), "LinkedTxn": [{"TxnId": invoice.to_string(), "TxnType": "Invoice"}]})
        })
        .collect();
    let body = json!({
        "Id": id.to_string(), "SyncToken": "0", "MetaData": metadata(now, now), "domain": "QBO", "sparse": false,
        "TxnDate": input.get("TxnDate").and_then(Value::as_str).map_or_else(|| qbo_date(now), str::to_owned),
        "CustomerRef": customer_ref, "TotalAmt": money(total), "UnappliedAmt": money(total - applied_total),
        "ProcessPayment": false, "DepositToAccountRef": {"value": "35", "name": "Checking"},
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"}, "Line": lines,
    });
    let entity = Entity { id, updated: now, body };
    let answer = answer(Kind::Payment, &entity);
    company.insert(Kind::Payment, entity);
    let mut changes = vec![(Kind::Payment, id, "Create")];
    for (invoice, amount) in &applied {
        if let Some(inv) = company.get_mut(Kind::Invoice, *invoice) {
            let balance = cents(&inv.body["Balance"]).unwrap_or(0) - amount;
            inv.body["Balance"] = money(balance);
            if let Some(links) = inv.body["LinkedTxn"].as_array_mut() {
                links.push(json!({"TxnId": id.to_string(), "TxnType": "Payment"}));
            }
            touch(inv, now);
            changes.push((Kind::Invoice, *invoice, "Update"));
        }
    }
    add_to_balance(company, customer_id, -applied_total, now);
    changes.push((Kind::Customer, customer_id, "Update"));
    Written { status: StatusCode::OK, body: answer, changes }
}

/// `POST /v3/company/{realm}/invoice/{id}/send?sendTo=`: e-mails the invoice (to `sendTo`, else its `BillEmail`).
pub(super) async fn send_invoice(
    State(shared): State<Arc<Shared>>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = pairs(raw.as_deref());
    let _admitted = match admit(&shared, &headers, &realm, &params) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let send_to = param(&params, "sendTo").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(address) = &send_to
        && !address.contains('@')
    {
        return validation("Invalid Email Address", &format!("sendTo {address} is not an e-mail address"), "2050");
    }
    let Some(number) = id.parse::<u64>().ok() else { return not_found(Kind::Invoice, &id) };
    if lock(&shared.quickbooks).companies.get(&realm).and_then(|c| c.get(Kind::Invoice, number)).is_none() {
        return not_found(Kind::Invoice, &id);
    }
    idempotent(&shared, &realm, &params, |company, now| {
        let Some(invoice) = company.get_mut(Kind::Invoice, number) else {
            return Written::refused(invalid_reference(Kind::Invoice, &id));
        };
        if let Some(address) = &send_to {
            invoice.body["BillEmail"] = json!({"Address": address});
        }
        if invoice.body["BillEmail"]["Address"].as_str().is_none_or(str::is_empty) {
            return Written::refused(refusal(
                "Missing Email Address",
                "The invoice has no BillEmail to send to",
                "6030",
            ));
        }
        invoice.body["EmailStatus"] = json!("EmailSent");
        invoice.body["DeliveryInfo"] = json!({"DeliveryType": "Email", "DeliveryTime": qbo_time(now)});
        touch(invoice, now);
        let answer = answer(Kind::Invoice, invoice);
        Written { status: StatusCode::OK, body: answer, changes: vec![(Kind::Invoice, number, "Emailed")] }
    })
}

/// Why a change made through the handle failed.
#[derive(Debug)]
pub(crate) enum ChangeError {
    NoSuchEntity(String),
    NotFound(&'static str, String),
}

fn find<'a>(
    data: &'a mut super::QuickBooksData,
    realm: &str,
    entity: &str,
    id: &str,
) -> Result<(Kind, u64, &'a mut Company), ChangeError> {
    let kind = Kind::parse(entity).ok_or_else(|| ChangeError::NoSuchEntity(entity.to_owned()))?;
    let not_found = || ChangeError::NotFound(kind.name(), id.to_owned());
    let number: u64 = id.parse().map_err(|_| not_found())?;
    let company = data.companies.get_mut(realm).ok_or_else(not_found)?;
    company.get(kind, number).ok_or_else(not_found)?;
    Ok((kind, number, company))
}

/// Sets the top-level fields of `patch` on `entity` `id`, as an edit in QuickBooks would (new `SyncToken` and
/// `LastUpdatedTime`), and sends the change webhook if a target is set.
pub(crate) fn change_entity(
    shared: &Shared,
    realm: &str,
    entity: &str,
    id: &str,
    patch: &Value,
) -> Result<(), ChangeError> {
    let now = shared.clock.now();
    let (kind, number) = {
        let mut data = lock(&shared.quickbooks);
        let (kind, number, company) = find(&mut data, realm, entity, id)?;
        if let (Some(target), Some(fields)) = (company.get_mut(kind, number), patch.as_object()) {
            for (key, value) in fields {
                if !matches!(key.as_str(), "Id" | "SyncToken" | "MetaData") {
                    target.body[key] = value.clone();
                }
            }
            touch(target, now);
        }
        (kind, number)
    };
    shared.send_in_background(Provider::QuickBooks, change_delivery(shared, realm, kind, number, "Update"));
    Ok(())
}

/// Deletes `entity` `id` (CDC then reports it as `"status":"Deleted"`) and sends the change webhook if a target is
/// set.
pub(crate) fn delete_entity(shared: &Shared, realm: &str, entity: &str, id: &str) -> Result<(), ChangeError> {
    let now = shared.clock.now();
    let (kind, number) = {
        let mut data = lock(&shared.quickbooks);
        let (kind, number, company) = find(&mut data, realm, entity, id)?;
        if let Some(objects) = company.entities.get_mut(&kind) {
            objects.remove(&number);
        }
        company.deleted.push(Deleted { kind, id: number, at: now });
        (kind, number)
    };
    shared.send_in_background(Provider::QuickBooks, change_delivery(shared, realm, kind, number, "Delete"));
    Ok(())
}
