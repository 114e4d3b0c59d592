//! HubSpot CRM objects as the sandbox keeps them: one shape for every object type (an id, string properties, the
//! created and modified instants in milliseconds, an archived flag), associations as pairs stored in both
//! directions, and the JSON HubSpot renders them as (CRM v3 objects, v4 associations).
//!
//! Dates live outside the property map (`createdate`, `lastmodifieddate`, `hs_lastmodifieddate` and `hs_object_id`
//! are rendered from the fields), so they can never disagree with `createdAt` / `updatedAt`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;

/// The CRM object types the sandbox serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ObjectType {
    Contacts,
    Companies,
    Deals,
    Notes,
}

impl ObjectType {
    pub(crate) const ALL: [ObjectType; 4] =
        [ObjectType::Contacts, ObjectType::Companies, ObjectType::Deals, ObjectType::Notes];

    /// A path segment: the plural name, the singular, or the object type id (`0-1`), as HubSpot accepts.
    pub(crate) fn parse(segment: &str) -> Option<Self> {
        match segment.to_ascii_lowercase().as_str() {
            "contacts" | "contact" | "0-1" => Some(Self::Contacts),
            "companies" | "company" | "0-2" => Some(Self::Companies),
            "deals" | "deal" | "0-3" => Some(Self::Deals),
            "notes" | "note" | "0-46" => Some(Self::Notes),
            _ => None,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Contacts => 0,
            Self::Companies => 1,
            Self::Deals => 2,
            Self::Notes => 3,
        }
    }

    pub(crate) fn plural(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Companies => "companies",
            Self::Deals => "deals",
            Self::Notes => "notes",
        }
    }

    /// The singular name webhooks' `subscriptionType` and v3 association types use (`contact`, `deal`).
    pub(crate) fn singular(self) -> &'static str {
        match self {
            Self::Contacts => "contact",
            Self::Companies => "company",
            Self::Deals => "deal",
            Self::Notes => "note",
        }
    }

    /// The property holding the last change: `lastmodifieddate` for contacts, `hs_lastmodifieddate` for the others
    /// (contacts answer to both here, as they do at HubSpot).
    pub(crate) fn modified_property(self) -> &'static str {
        match self {
            Self::Contacts => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// What a read returns when it names no `properties`.
    pub(crate) fn default_properties(self) -> &'static [&'static str] {
        match self {
            Self::Contacts => &["firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"],
            Self::Companies => &["name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"],
            Self::Deals => &[
                "dealname",
                "amount",
                "dealstage",
                "pipeline",
                "closedate",
                "createdate",
                "hs_lastmodifieddate",
                "hs_object_id",
            ],
            Self::Notes => &["hs_note_body", "hs_timestamp", "hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        }
    }
}

/// HubSpot-defined association type ids for `from` → `to` (the default, unlabeled or primary one), and the v3 name.
pub(crate) fn association_type(from: ObjectType, to: ObjectType) -> Option<(u32, String)> {
    use ObjectType::*;
    let id = match (from, to) {
        (Contacts, Companies) => 279,
        (Companies, Contacts) => 280,
        (Deals, Contacts) => 3,
        (Contacts, Deals) => 4,
        (Deals, Companies) => 341,
        (Companies, Deals) => 342,
        (Contacts, Notes) => 201,
        (Notes, Contacts) => 202,
        (Companies, Notes) => 189,
        (Notes, Companies) => 190,
        (Deals, Notes) => 213,
        (Notes, Deals) => 214,
        _ => return None,
    };
    Some((id, format!("{}_to_{}", from.singular(), to.singular())))
}

/// One CRM object.
#[derive(Clone, Debug)]
pub(crate) struct CrmObject {
    pub(crate) id: u64,
    pub(crate) properties: BTreeMap<String, String>,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) archived_ms: Option<i64>,
}

impl CrmObject {
    pub(crate) fn new(id: u64, created_ms: i64, updated_ms: i64, properties: BTreeMap<String, String>) -> Self {
        Self { id, properties, created_ms, updated_ms, archived_ms: None }
    }

    /// A property's value as HubSpot reads it, the dates included.
    pub(crate) fn property(&self, kind: ObjectType, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(self.id.to_string()),
            "createdate" | "hs_createdate" => Some(iso_ms(self.created_ms)),
            "lastmodifieddate" | "hs_lastmodifieddate" => Some(iso_ms(self.updated_ms)),
            "hs_timestamp" if kind == ObjectType::Notes && !self.properties.contains_key(name) => {
                Some(iso_ms(self.created_ms))
            }
            _ => self.properties.get(name).cloned(),
        }
    }

    /// A date property in milliseconds, read from the fields rather than parsed back from text (searches compare
    /// thousands of them).
    pub(crate) fn date_ms(&self, kind: ObjectType, name: &str) -> Option<i64> {
        match name {
            "createdate" | "hs_createdate" => Some(self.created_ms),
            "lastmodifieddate" | "hs_lastmodifieddate" => Some(self.updated_ms),
            _ => self.property(kind, name).and_then(|v| parse_ms(&v)),
        }
    }

    /// The v3 rendering; `properties` names what to include (`None`: the type's defaults). Requested properties
    /// without a value are `null`, as at HubSpot.
    pub(crate) fn to_json(&self, kind: ObjectType, properties: Option<&[String]>) -> Value {
        let mut rendered = Map::new();
        let mut put = |name: &str| {
            rendered.insert(name.to_owned(), self.property(kind, name).map(Value::String).unwrap_or(Value::Null));
        };
        match properties {
            Some(names) => {
                for name in names {
                    put(name);
                }
                // HubSpot always includes these three.
                for name in ["createdate", kind.modified_property(), "hs_object_id"] {
                    put(name);
                }
            }
            None => {
                for name in kind.default_properties() {
                    put(name);
                }
            }
        }
        let mut object = json!({
            "id": self.id.to_string(),
            "properties": rendered,
            "createdAt": iso_ms(self.created_ms),
            "updatedAt": iso_ms(self.updated_ms),
            "archived": self.archived_ms.is_some(),
        });
        if let Some(at) = self.archived_ms {
            object["archivedAt"] = json!(iso_ms(at));
        }
        object
    }
}

/// Associations, each stored in both directions.
#[derive(Debug, Default)]
pub(crate) struct Associations {
    pairs: BTreeSet<(ObjectType, u64, ObjectType, u64)>,
}

impl Associations {
    /// Associates two objects; false if they already were.
    pub(crate) fn add(&mut self, from: ObjectType, from_id: u64, to: ObjectType, to_id: u64) -> bool {
        let new = self.pairs.insert((from, from_id, to, to_id));
        self.pairs.insert((to, to_id, from, from_id));
        new
    }

    /// Drops every association of an object (it was archived).
    pub(crate) fn remove_all(&mut self, kind: ObjectType, id: u64) {
        let linked: Vec<(ObjectType, u64)> = self.of(kind, id, None);
        for (to, to_id) in linked {
            self.pairs.remove(&(kind, id, to, to_id));
            self.pairs.remove(&(to, to_id, kind, id));
        }
    }

    /// The objects `kind`/`id` is associated with, of type `to` if given, in id order.
    pub(crate) fn of(&self, kind: ObjectType, id: u64, to: Option<ObjectType>) -> Vec<(ObjectType, u64)> {
        let start = (kind, id, to.unwrap_or(ObjectType::Contacts), 0);
        self.pairs
            .range(start..)
            .take_while(|(k, i, t, _)| *k == kind && *i == id && to.is_none_or(|to| *t == to))
            .map(|(_, _, t, to_id)| (*t, *to_id))
            .collect()
    }
}

/// The `associations` member of a v3 object: `{"companies":{"results":[{"id":"7","type":"contact_to_company"}]}}`.
pub(crate) fn v3_associations(links: &Associations, kind: ObjectType, id: u64, types: &[ObjectType]) -> Value {
    let mut member = Map::new();
    for to in types {
        let results: Vec<Value> = links
            .of(kind, id, Some(*to))
            .into_iter()
            .filter_map(|(t, to_id)| {
                let (_, name) = association_type(kind, t)?;
                Some(json!({"id": to_id.to_string(), "type": name}))
            })
            .collect();
        if !results.is_empty() {
            member.insert(to.plural().to_owned(), json!({"results": results}));
        }
    }
    Value::Object(member)
}

/// One v4 association target: `{"toObjectId":7,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":279}]}`.
pub(crate) fn v4_target(from: ObjectType, to: ObjectType, to_id: u64) -> Value {
    let type_id = association_type(from, to).map(|(id, _)| id).unwrap_or(0);
    json!({
        "toObjectId": to_id,
        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null}],
    })
}

/// `2026-10-01T12:00:00.123Z`: HubSpot's timestamps carry milliseconds.
pub(crate) fn iso_ms(ms: i64) -> String {
    let seconds = rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// Milliseconds since the epoch of a filter value or date property: a number of milliseconds, an RFC 3339 time
/// (fractions allowed) or a date.
pub(crate) fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    crate::clock::parse_timestamp(text).map(|s| s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_carry_milliseconds_both_ways() {
        let ms = crate::clock::epoch() * 1000 + 42;
        assert_eq!(iso_ms(ms), "2026-11-01T00:00:00.042Z");
        assert_eq!(parse_ms(&iso_ms(ms)), Some(ms));
        assert_eq!(parse_ms(&ms.to_string()), Some(ms));
    }

    #[test]
    fn associations_go_both_ways_and_are_grouped_by_type() {
        let mut links = Associations::default();
        assert!(links.add(ObjectType::Contacts, 1, ObjectType::Companies, 9));
        assert!(!links.add(ObjectType::Companies, 9, ObjectType::Contacts, 1), "already associated");
        links.add(ObjectType::Deals, 5, ObjectType::Contacts, 1);
        assert_eq!(links.of(ObjectType::Contacts, 1, None), [(ObjectType::Companies, 9), (ObjectType::Deals, 5)]);
        assert_eq!(links.of(ObjectType::Contacts, 1, Some(ObjectType::Deals)), [(ObjectType::Deals, 5)]);
        let member = v3_associations(&links, ObjectType::Contacts, 1, &[ObjectType::Companies, ObjectType::Notes]);
        assert_eq!(member, json!({"companies": {"results": [{"id": "9", "type": "contact_to_company"}]}}));
        links.remove_all(ObjectType::Contacts, 1);
        assert!(links.of(ObjectType::Companies, 9, None).is_empty());
    }
}
