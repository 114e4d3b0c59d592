//! HubSpot actions: upsert a contact by e-mail, create a deal in a pipeline stage, add a note to a contact or deal,
//! associate two objects. Each is safe to retry, although HubSpot takes no idempotency keys:
//!
//! - a contact is upserted by its e-mail (`batch/upsert` with `idProperty: email`): the same input twice is one
//!   contact;
//! - deals and notes carry the engine's idempotency key in a custom property with unique values
//!   ([`KEY_PROPERTY`], created on first need): a retried create is refused with 409 `CONFLICT`, and the first
//!   object is then read back by that property (`GET .../{key}?idProperty=`), so a retry answers what the first
//!   attempt made;
//! - associating uses the default association type (`PUT .../associations/default/...`), which is idempotent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ID, api_error, send};
use crate::error::ProviderError;
use crate::provider::{ActionSpec, Call, action, parse_input};

/// The custom property (unique values) that holds an action's idempotency key on the deals and notes it creates.
pub(crate) const KEY_PROPERTY: &str = "switchboard_idempotency_key";

/// Input of `hubspot.contact.upsert`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactInput {
    /// The contact's e-mail address: the contact with this address is updated, or created.
    #[schemars(length(min = 3, max = 254))]
    email: String,
    firstname: Option<String>,
    lastname: Option<String>,
    phone: Option<String>,
    /// The company name as text (associate a company object with `hubspot.association.create`).
    company: Option<String>,
    /// `subscriber`, `lead`, `marketingqualifiedlead`, `salesqualifiedlead`, `opportunity`, `customer`, ...
    lifecyclestage: Option<String>,
}

/// Output of `hubspot.contact.upsert`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ContactOutput {
    id: String,
    email: String,
    /// Whether the contact was created (false: an existing contact was updated).
    created: bool,
}

/// Input of `hubspot.deal.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DealInput {
    #[schemars(length(min = 1, max = 500))]
    dealname: String,
    /// The pipeline's id (`default` is the sales pipeline every portal has).
    #[serde(default = "default_pipeline")]
    pipeline: String,
    /// The stage's id in that pipeline (`appointmentscheduled`, `qualifiedtobuy`, ..., `closedwon`).
    dealstage: String,
    /// The deal's amount in the portal's currency.
    #[schemars(range(min = 0.0))]
    amount: Option<f64>,
    /// Expected close date (RFC 3339 or `YYYY-MM-DD`).
    closedate: Option<String>,
    /// A contact to associate the deal with.
    contact_id: Option<String>,
    /// A company to associate the deal with.
    company_id: Option<String>,
}

fn default_pipeline() -> String {
    "default".to_owned()
}

/// Output of `hubspot.deal.create`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DealOutput {
    id: String,
    dealname: String,
    pipeline: String,
    dealstage: String,
}

/// Input of `hubspot.note.create`: the note goes on a contact, a deal, or both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteInput {
    /// The note's text (HTML allowed, as in HubSpot).
    #[schemars(length(min = 1, max = 65536))]
    body: String,
    contact_id: Option<String>,
    deal_id: Option<String>,
}

/// Output of `hubspot.note.create`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct NoteOutput {
    id: String,
}

/// An object type that can be associated.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ObjectKind {
    Contact,
    Company,
    Deal,
}

impl ObjectKind {
    fn plural(self) -> &'static str {
        match self {
            Self::Contact => "contacts",
            Self::Company => "companies",
            Self::Deal => "deals",
        }
    }
}

/// Input of `hubspot.association.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssociationInput {
    from_type: ObjectKind,
    from_id: String,
    to_type: ObjectKind,
    to_id: String,
}

/// Output of `hubspot.association.create`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct AssociationOutput {
    from_id: String,
    to_id: String,
    /// HubSpot's association type id (the default one for the pair).
    association_type_id: i64,
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        action::<AssociationInput, AssociationOutput>(
            "hubspot.association.create",
            "Associates two HubSpot objects (contact, company, deal) with their default association type.",
            true,
            &["crm.objects.contacts.write"],
        ),
        action::<ContactInput, ContactOutput>(
            "hubspot.contact.upsert",
            "Creates a HubSpot contact, or updates the one with this e-mail address.",
            true,
            &["crm.objects.contacts.write"],
        ),
        action::<DealInput, DealOutput>(
            "hubspot.deal.create",
            "Creates a HubSpot deal in a pipeline stage, optionally associated with a contact and a company.",
            true,
            &["crm.objects.deals.write"],
        ),
        action::<NoteInput, NoteOutput>(
            "hubspot.note.create",
            "Adds a note to a HubSpot contact or deal.",
            true,
            &["crm.objects.contacts.write"],
        ),
    ]
}

/// A HubSpot object id: digits only, so it is safe in a path.
fn object_id(value: &str, field: &str) -> Result<(), ProviderError> {
    if !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ProviderError::Rejected { provider: ID, message: format!("{field}: not a HubSpot object id (digits)") })
    }
}

fn url(call: &Call<'_>, path: &str) -> String {
    format!("{}{path}", call.settings.hubspot_api_base.trim_end_matches('/'))
}

fn text(object: &Value, name: &str) -> String {
    object.pointer(&format!("/properties/{name}")).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn output<T: Serialize>(value: T) -> Result<Value, ProviderError> {
    serde_json::to_value(value).map_err(|e| ProviderError::Invalid(e.to_string()))
}

pub(crate) async fn invoke(call: &Call<'_>, name: &str, input: &Value, key: &str) -> Result<Value, ProviderError> {
    let invalid = |m: String| ProviderError::Rejected { provider: ID, message: m };
    match name {
        "hubspot.contact.upsert" => {
            let input: ContactInput = parse_input(input).map_err(invalid)?;
            let mut properties = serde_json::Map::new();
            let optional = [
                ("firstname", &input.firstname),
                ("lastname", &input.lastname),
                ("phone", &input.phone),
                ("company", &input.company),
                ("lifecyclestage", &input.lifecyclestage),
            ];
            for (name, value) in optional {
                if let Some(value) = value {
                    properties.insert(name.to_owned(), json!(value));
                }
            }
            let body = json!({"inputs": [{"idProperty": "email", "id": input.email, "properties": properties}]});
            let target = url(call, "/crm/v3/objects/contacts/batch/upsert");
            let response = send(call, |c| c.post(&target).bearer_auth(call.token).json(&body)).await?;
            if !response.status.is_success() {
                return Err(api_error(&response));
            }
            let answer = response.json()?;
            let contact =
                answer.pointer("/results/0").ok_or_else(|| ProviderError::Invalid("upsert without results".into()))?;
            output(ContactOutput {
                id: contact.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                email: input.email,
                created: contact.get("new").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        "hubspot.deal.create" => {
            let input: DealInput = parse_input(input).map_err(invalid)?;
            let mut associations = Vec::new();
            if let Some(contact) = &input.contact_id {
                object_id(contact, "contact_id")?;
                associations.push(association(contact, 3));
            }
            if let Some(company) = &input.company_id {
                object_id(company, "company_id")?;
                associations.push(association(company, 341));
            }
            let mut properties = json!({
                "dealname": input.dealname,
                "pipeline": input.pipeline,
                "dealstage": input.dealstage,
            });
            if let Some(amount) = input.amount {
                properties["amount"] = json!(amount.to_string());
            }
            if let Some(close) = &input.closedate {
                properties["closedate"] = json!(close);
            }
            let deal = create_once(call, "deals", properties, associations, key).await?;
            output(DealOutput {
                id: deal.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                dealname: text(&deal, "dealname"),
                pipeline: text(&deal, "pipeline"),
                dealstage: text(&deal, "dealstage"),
            })
        }
        "hubspot.note.create" => {
            let input: NoteInput = parse_input(input).map_err(invalid)?;
            let mut associations = Vec::new();
            if let Some(contact) = &input.contact_id {
                object_id(contact, "contact_id")?;
                associations.push(association(contact, 202));
            }
            if let Some(deal) = &input.deal_id {
                object_id(deal, "deal_id")?;
                associations.push(association(deal, 214));
            }
            if associations.is_empty() {
                return Err(invalid("contact_id or deal_id: a note goes on a contact or a deal".into()));
            }
            let now_ms = switchboard_types::now_unix_micros() / 1000;
            let properties = json!({"hs_note_body": input.body, "hs_timestamp": now_ms.to_string()});
            let note = create_once(call, "notes", properties, associations, key).await?;
            output(NoteOutput { id: note.get("id").and_then(Value::as_str).unwrap_or_default().to_owned() })
        }
        "hubspot.association.create" => {
            let input: AssociationInput = parse_input(input).map_err(invalid)?;
            object_id(&input.from_id, "from_id")?;
            object_id(&input.to_id, "to_id")?;
            let target = url(
                call,
                &format!(
                    "/crm/v4/objects/{}/{}/associations/default/{}/{}",
                    input.from_type.plural(),
                    input.from_id,
                    input.to_type.plural(),
                    input.to_id
                ),
            );
            let response = send(call, |c| c.put(&target).bearer_auth(call.token)).await?;
            if !response.status.is_success() {
                return Err(api_error(&response));
            }
            let answer = response.json()?;
            output(AssociationOutput {
                from_id: input.from_id,
                to_id: input.to_id,
                association_type_id: answer
                    .pointer("/results/0/associationSpec/associationTypeId")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            })
        }
        other => Err(invalid(format!("HubSpot has no action {other:?}"))),
    }
}

fn association(id: &str, type_id: u32) -> Value {
    json!({"to": {"id": id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]})
}

/// Creates an object of `object_type` carrying `key` in [`KEY_PROPERTY`], or returns the one an earlier attempt with
/// the same key created.
async fn create_once(
    call: &Call<'_>,
    object_type: &str,
    mut properties: Value,
    associations: Vec<Value>,
    key: &str,
) -> Result<Value, ProviderError> {
    properties[KEY_PROPERTY] = json!(key);
    let body = json!({"properties": properties, "associations": associations});
    let target = url(call, &format!("/crm/v3/objects/{object_type}"));
    let mut defined = false;
    loop {
        let response = send(call, |c| c.post(&target).bearer_auth(call.token).json(&body)).await?;
        if response.status.is_success() {
            return response.json();
        }
        let answer = response.json().unwrap_or(Value::Null);
        let message = answer.get("message").and_then(Value::as_str).unwrap_or_default();
        if response.status == reqwest::StatusCode::CONFLICT && message.contains(KEY_PROPERTY) {
            return existing(call, object_type, key).await;
        }
        if response.status == reqwest::StatusCode::BAD_REQUEST
            && !defined
            && message.contains("PROPERTY_DOESNT_EXIST")
            && message.contains(KEY_PROPERTY)
        {
            define_key_property(call, object_type).await?;
            defined = true;
            continue;
        }
        return Err(api_error(&response));
    }
}

/// The object whose [`KEY_PROPERTY`] is `key`.
async fn existing(call: &Call<'_>, object_type: &str, key: &str) -> Result<Value, ProviderError> {
    let target = url(call, &format!("/crm/v3/objects/{object_type}/{}", urlencoding_path(key)));
    let properties = match object_type {
        "deals" => "dealname,pipeline,dealstage",
        _ => "hs_note_body",
    };
    let query = [("idProperty", KEY_PROPERTY), ("properties", properties)];
    let response = send(call, |c| c.get(&target).bearer_auth(call.token).query(&query)).await?;
    if !response.status.is_success() {
        return Err(api_error(&response));
    }
    response.json()
}

/// Creates [`KEY_PROPERTY`] on `object_type` (a hidden text property with unique values); one that exists is fine.
async fn define_key_property(call: &Call<'_>, object_type: &str) -> Result<(), ProviderError> {
    let group = if object_type == "deals" { "dealinformation" } else { "engagement" };
    let body = json!({
        "name": KEY_PROPERTY,
        "label": "Switchboard idempotency key",
        "description": "Set by Switchboard so that a retried create is recognized; do not edit.",
        "type": "string",
        "fieldType": "text",
        "groupName": group,
        "hasUniqueValue": true,
        "hidden": true,
    });
    let target = url(call, &format!("/crm/v3/properties/{object_type}"));
    let response = send(call, |c| c.post(&target).bearer_auth(call.token).json(&body)).await?;
    if response.status.is_success() || response.status == reqwest::StatusCode::CONFLICT {
        Ok(())
    } else {
        Err(api_error(&response))
    }
}

/// Percent-encodes a path segment (idempotency keys are the caller's text).
fn urlencoding_path(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_inputs_are_checked_against_their_types() {
        let specs = specs();
        let deal = specs.iter().find(|a| a.name == "hubspot.deal.create").unwrap();
        assert!(deal.needs_approval);
        assert_eq!((deal.validate)(&json!({"dealname": "x", "dealstage": "qualifiedtobuy"})), Ok(()));
        assert!((deal.validate)(&json!({"dealname": "x"})).unwrap_err().contains("dealstage"));
        assert!(
            (deal.validate)(&json!({"dealname": "x", "dealstage": "s", "amount": "lots"}))
                .unwrap_err()
                .starts_with("amount")
        );
        let link = specs.iter().find(|a| a.name == "hubspot.association.create").unwrap();
        assert!(
            (link.validate)(&json!({"from_type": "ticket", "from_id": "1", "to_type": "deal", "to_id": "2"})).is_err()
        );
        assert_eq!(
            (link.validate)(&json!({"from_type": "company", "from_id": "1", "to_type": "deal", "to_id": "2"})),
            Ok(())
        );
        assert!(object_id("123", "id").is_ok());
        assert!(object_id("12/../3", "id").is_err());
        assert_eq!(urlencoding_path("a b/c"), "a%20b%2Fc");
    }
}
