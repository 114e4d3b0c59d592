//! The QuickBooks actions: create a customer, create an invoice, e-mail an invoice, record a payment against an
//! invoice. Each write carries `requestid`, Intuit's idempotency key, derived from the engine's key and the action
//! (the same invocation retried is the same request at Intuit; two actions never share one), and every `Fault` is
//! read into an error that says what Intuit refused.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ID;
use super::api::{self, Limiter, Method};
use crate::error::ProviderError;
use crate::provider::{ActionSpec, Call, action, parse_input};

const SCOPES: &[&str] = &["com.intuit.quickbooks.accounting"];

/// Input of `quickbooks.customer.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CustomerCreateInput {
    /// The name shown in QuickBooks; unique among customers.
    #[schemars(length(min = 1, max = 500))]
    display_name: String,
    /// The customer's e-mail address (invoices are sent there).
    #[schemars(length(min = 3, max = 100))]
    email: Option<String>,
    /// First name.
    given_name: Option<String>,
    /// Last name.
    family_name: Option<String>,
    /// The business's name.
    company_name: Option<String>,
    /// A phone number, as written.
    phone: Option<String>,
}

/// Output of `quickbooks.customer.create`.
#[derive(Debug, Serialize, JsonSchema)]
struct CustomerOutput {
    id: String,
    display_name: String,
    email: Option<String>,
}

/// One line of an invoice.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InvoiceLineInput {
    /// The QuickBooks item sold (its `Id`).
    item_id: String,
    /// How many; 1 when absent.
    #[schemars(range(min = 0.0001))]
    quantity: Option<f64>,
    /// Price of one, in the company's currency (e.g. 12.50); the item's own price when absent.
    #[schemars(range(min = 0.0))]
    unit_price: Option<f64>,
    /// What the line says; the item's description when absent.
    description: Option<String>,
}

/// Input of `quickbooks.invoice.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InvoiceCreateInput {
    /// The customer billed (their QuickBooks `Id`).
    customer_id: String,
    /// What is sold, at least one line.
    #[schemars(length(min = 1, max = 250))]
    lines: Vec<InvoiceLineInput>,
    /// When payment is due, `YYYY-MM-DD`; the company's terms when absent.
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    due_date: Option<String>,
    /// Where the invoice is e-mailed; the customer's address when absent.
    email: Option<String>,
}

/// Output of `quickbooks.invoice.create` and `quickbooks.invoice.send`.
#[derive(Debug, Serialize, JsonSchema)]
struct InvoiceOutput {
    id: String,
    doc_number: String,
    customer_id: String,
    total: f64,
    balance: f64,
    due_date: String,
    /// `NotSet`, `NeedToSend` or `EmailSent`.
    email_status: String,
    email: Option<String>,
}

/// Input of `quickbooks.invoice.send`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InvoiceSendInput {
    /// The invoice to e-mail (its QuickBooks `Id`).
    invoice_id: String,
    /// Send to this address instead of the invoice's billing e-mail (which it then becomes).
    #[schemars(length(min = 3, max = 100))]
    send_to: Option<String>,
}

/// Input of `quickbooks.payment.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PaymentCreateInput {
    /// The invoice paid (its QuickBooks `Id`); the payment is the invoice's customer's.
    invoice_id: String,
    /// The amount received, in the company's currency (e.g. 120.00); at most the invoice's balance.
    #[schemars(range(min = 0.01))]
    amount: f64,
    /// The day it was received, `YYYY-MM-DD`; today when absent.
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    date: Option<String>,
}

/// Output of `quickbooks.payment.create`.
#[derive(Debug, Serialize, JsonSchema)]
struct PaymentOutput {
    id: String,
    invoice_id: String,
    customer_id: String,
    amount: f64,
    /// What the invoice still owes after this payment.
    invoice_balance: f64,
}

/// The QuickBooks actions.
pub(super) fn specs() -> Vec<ActionSpec> {
    vec![
        action::<CustomerCreateInput, CustomerOutput>(
            "quickbooks.customer.create",
            "Creates a QuickBooks customer with a unique display name, and optionally an e-mail address, names and a \
             phone number.",
            true,
            SCOPES,
        ),
        action::<InvoiceCreateInput, InvoiceOutput>(
            "quickbooks.invoice.create",
            "Creates a QuickBooks invoice for a customer from item lines (quantity and unit price default to the \
             item's), due on a date or by the company's terms.",
            true,
            SCOPES,
        ),
        action::<InvoiceSendInput, InvoiceOutput>(
            "quickbooks.invoice.send",
            "E-mails a QuickBooks invoice to its billing address, or to another address given.",
            true,
            SCOPES,
        ),
        action::<PaymentCreateInput, PaymentOutput>(
            "quickbooks.payment.create",
            "Records a payment received against a QuickBooks invoice (at most its balance), reducing what it owes.",
            true,
            SCOPES,
        ),
    ]
}

/// A QuickBooks id: digits only, so it is safe in a path.
fn qbo_id(value: &str, field: &str) -> Result<(), ProviderError> {
    if !value.is_empty() && value.len() <= 32 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ProviderError::Rejected { provider: ID, message: format!("{field}: not a QuickBooks id (digits)") })
    }
}

/// Intuit's `requestid` for an invocation: a digest of the action and the engine's (tenant-scoped) key.
pub(super) fn request_id(action: &str, idempotency_key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{action}\n{idempotency_key}").as_bytes());
    hex::encode(&digest.as_ref()[..16])
}

fn text(object: &Value, pointer: &str) -> String {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn amount(object: &Value, field: &str) -> f64 {
    object.get(field).and_then(Value::as_f64).unwrap_or(0.0)
}

fn invoice_output(invoice: &Value) -> InvoiceOutput {
    InvoiceOutput {
        id: text(invoice, "/Id"),
        doc_number: text(invoice, "/DocNumber"),
        customer_id: text(invoice, "/CustomerRef/value"),
        total: amount(invoice, "TotalAmt"),
        balance: amount(invoice, "Balance"),
        due_date: text(invoice, "/DueDate"),
        email_status: text(invoice, "/EmailStatus"),
        email: invoice.pointer("/BillEmail/Address").and_then(Value::as_str).map(str::to_owned),
    }
}

/// Reads invoice `id`.
async fn invoice(call: &Call<'_>, limiter: &Limiter, id: &str) -> Result<Value, ProviderError> {
    let response = api::request(call, limiter, Method::Get, &format!("/invoice/{id}"), &[]).await?;
    if api::is_not_found(&response) {
        return Err(ProviderError::Rejected {
            provider: ID,
            message: format!("invoice_id: QuickBooks has no invoice {id}"),
        });
    }
    let body = api::read(&response, &format!("reading QuickBooks invoice {id}"))?;
    body.get("Invoice").cloned().ok_or_else(|| ProviderError::Invalid("no Invoice in the answer".into()))
}

/// A write: `POST path` with `query` (which carries `requestid`), returning the answer's `entity`.
async fn write(
    call: &Call<'_>,
    limiter: &Limiter,
    path: &str,
    body: Option<&Value>,
    query: Vec<(&str, String)>,
    entity: &str,
    what: &str,
) -> Result<Value, ProviderError> {
    let empty = json!({});
    let response = api::request(call, limiter, Method::Post(body.unwrap_or(&empty)), path, &query).await?;
    let answer = api::read(&response, what)?;
    answer.get(entity).cloned().ok_or_else(|| ProviderError::Invalid(format!("no {entity} in the answer to {what}")))
}

pub(super) async fn invoke(
    call: &Call<'_>,
    limiter: &Limiter,
    action: &str,
    input: &Value,
    idempotency_key: &str,
) -> Result<Value, ProviderError> {
    let invalid = |m: String| ProviderError::Rejected { provider: ID, message: m };
    let request_id = request_id(action, idempotency_key);
    let output = match action {
        "quickbooks.customer.create" => {
            let input: CustomerCreateInput = parse_input(input).map_err(invalid)?;
            let mut body = json!({"DisplayName": input.display_name});
            if let Some(email) = &input.email {
                body["PrimaryEmailAddr"] = json!({"Address": email});
            }
            if let Some(phone) = &input.phone {
                body["PrimaryPhone"] = json!({"FreeFormNumber": phone});
            }
            for (field, value) in [
                ("GivenName", &input.given_name),
                ("FamilyName", &input.family_name),
                ("CompanyName", &input.company_name),
            ] {
                if let Some(value) = value {
                    body[field] = json!(value);
                }
            }
            let customer = write(
                call,
                limiter,
                "/customer",
                Some(&body),
                vec![("requestid", request_id.clone())],
                "Customer",
                "creating a QuickBooks customer",
            )
            .await?;
            serde_json::to_value(CustomerOutput {
                id: text(&customer, "/Id"),
                display_name: text(&customer, "/DisplayName"),
                email: customer.pointer("/PrimaryEmailAddr/Address").and_then(Value::as_str).map(str::to_owned),
            })
        }
        "quickbooks.invoice.create" => {
            let input: InvoiceCreateInput = parse_input(input).map_err(invalid)?;
            qbo_id(&input.customer_id, "customer_id")?;
            let mut lines = Vec::new();
            for (n, line) in input.lines.iter().enumerate() {
                qbo_id(&line.item_id, &format!("lines[{n}].item_id"))?;
                let mut detail = json!({"ItemRef": {"value": line.item_id}, "Qty": line.quantity.unwrap_or(1.0)});
                if let Some(price) = line.unit_price {
                    detail["UnitPrice"] = json!(price);
                }
                let mut wire = json!({"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail});
                if let Some(price) = line.unit_price {
                    let total = (price * line.quantity.unwrap_or(1.0) * 100.0).round() / 100.0;
                    wire["Amount"] = json!(total);
                }
                if let Some(description) = &line.description {
                    wire["Description"] = json!(description);
                }
                lines.push(wire);
            }
            let mut body = json!({"CustomerRef": {"value": input.customer_id}, "Line": lines});
            if let Some(due) = &input.due_date {
                body["DueDate"] = json!(due);
            }
            if let Some(email) = &input.email {
                body["BillEmail"] = json!({"Address": email});
            }
            let invoice = write(
                call,
                limiter,
                "/invoice",
                Some(&body),
                vec![("requestid", request_id.clone())],
                "Invoice",
                "creating a QuickBooks invoice",
            )
            .await?;
            serde_json::to_value(invoice_output(&invoice))
        }
        "quickbooks.invoice.send" => {
            let input: InvoiceSendInput = parse_input(input).map_err(invalid)?;
            qbo_id(&input.invoice_id, "invoice_id")?;
            let mut query: Vec<(&str, String)> = input.send_to.iter().map(|to| ("sendTo", to.clone())).collect();
            query.push(("requestid", request_id.clone()));
            let path = format!("/invoice/{}/send", input.invoice_id);
            let invoice = write(call, limiter, &path, None, query, "Invoice", "e-mailing a QuickBooks invoice").await?;
            serde_json::to_value(invoice_output(&invoice))
        }
        "quickbooks.payment.create" => {
            let input: PaymentCreateInput = parse_input(input).map_err(invalid)?;
            qbo_id(&input.invoice_id, "invoice_id")?;
            if !input.amount.is_finite() || input.amount <= 0.0 {
                return Err(invalid("amount: must be a positive amount".into()));
            }
            let before = invoice(call, limiter, &input.invoice_id).await?;
            let customer = text(&before, "/CustomerRef/value");
            let mut body = json!({
                "CustomerRef": {"value": customer},
                "TotalAmt": input.amount,
                "Line": [{"Amount": input.amount, "LinkedTxn": [{"TxnId": input.invoice_id, "TxnType": "Invoice"}]}],
            });
            if let Some(date) = &input.date {
                body["TxnDate"] = json!(date);
            }
            let payment = write(
                call,
                limiter,
                "/payment",
                Some(&body),
                vec![("requestid", request_id.clone())],
                "Payment",
                "recording a QuickBooks payment",
            )
            .await?;
            // Read back: on a retried request Intuit answers the first payment, and the invoice already shows it.
            let after = invoice(call, limiter, &input.invoice_id).await?;
            serde_json::to_value(PaymentOutput {
                id: text(&payment, "/Id"),
                invoice_id: input.invoice_id,
                customer_id: customer,
                amount: amount(&payment, "TotalAmt"),
                invoice_balance: amount(&after, "Balance"),
            })
        }
        other => return Err(invalid(format!("QuickBooks has no action {other:?}"))),
    };
    output.map_err(|e| ProviderError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_against_their_types() {
        let specs = specs();
        let spec = |name: &str| specs.iter().find(|s| s.name == name).unwrap();
        let invoice = spec("quickbooks.invoice.create");
        assert_eq!(
            (invoice.validate)(&json!({"customer_id": "3", "lines": [{"item_id": "1", "quantity": 2}]})),
            Ok(())
        );
        assert!((invoice.validate)(&json!({"customer_id": "3"})).unwrap_err().contains("lines"));
        let err = (invoice.validate)(&json!({"customer_id": "3", "lines": [{"item_id": 1}]})).unwrap_err();
        assert!(err.starts_with("lines[0].item_id"), "{err}");
        let payment = spec("quickbooks.payment.create");
        assert!((payment.validate)(&json!({"invoice_id": "3", "amount": "lots"})).unwrap_err().starts_with("amount"));
        assert!((payment.validate)(&json!({"invoice_id": "3", "amount": 5, "tip": 1})).unwrap_err().contains("tip"));
        assert_eq!(payment.input_schema["required"], json!(["invoice_id", "amount"]));
        assert!(specs.iter().all(|s| s.needs_approval && s.name.starts_with("quickbooks.")));
    }

    #[test]
    fn ids_in_paths_are_digits_and_request_ids_are_stable_per_action() {
        assert!(qbo_id("130", "invoice_id").is_ok());
        assert!(qbo_id("1/../query", "invoice_id").is_err());
        assert!(qbo_id("", "invoice_id").is_err());
        let a = request_id("quickbooks.invoice.create", "t:k1");
        assert_eq!(a, request_id("quickbooks.invoice.create", "t:k1"));
        assert_ne!(a, request_id("quickbooks.customer.create", "t:k1"));
        assert_eq!(a.len(), 32);
    }
}
