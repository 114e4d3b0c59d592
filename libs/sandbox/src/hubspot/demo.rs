//! The demo portal's CRM, generated from the seed. Its contacts are the shop's people: every demo Shopify customer
//! and every demo Stripe customer (same names, same e-mails, created when they were), so "which HubSpot contacts
//! bought in the shop?" has a true answer; plus, per unit of scale, 50 leads who never bought, 40 companies (the
//! leads' employers and some customers'), 120 deals in the default pipeline's stages, each with a contact and that
//! contact's company, and 80 notes on contacts or deals. About one object in ten was changed again long after it
//! was created, so incremental syncs have something to find.

use std::collections::BTreeMap;

use super::objects::{Associations, CrmObject, ObjectType};
use crate::clock::{DATA_WINDOW, epoch};
use crate::names::{FIRST_NAMES, LAST_NAMES, PRODUCT_ADJECTIVES, PRODUCT_NOUNS};
use crate::prng::Rng;

pub(crate) const LEADS: usize = 50;
pub(crate) const COMPANIES: usize = 40;
pub(crate) const DEALS: usize = 120;
pub(crate) const NOTES: usize = 80;

/// The default sales pipeline's stages, in order, with their win probability.
pub(crate) const DEAL_STAGES: [(&str, &str); 7] = [
    ("appointmentscheduled", "0.2"),
    ("qualifiedtobuy", "0.4"),
    ("presentationscheduled", "0.6"),
    ("decisionmakerboughtin", "0.8"),
    ("contractsent", "0.9"),
    ("closedwon", "1.0"),
    ("closedlost", "0.0"),
];

/// The one pipeline of a new portal.
pub(crate) const DEFAULT_PIPELINE: &str = "default";

const COMPANY_WORDS: &[&str] =
    &["Cafe", "Coffee House", "Bistro", "Bakery", "Roastery", "Deli", "Market", "Hotel", "Kitchen", "Espresso Bar"];
const INDUSTRIES: &[&str] = &["FOOD_BEVERAGES", "RESTAURANTS", "HOSPITALITY", "RETAIL", "WHOLESALE"];
const CITIES: &[&str] = &["Portland", "Austin", "Denver", "Chicago", "Boston", "Seattle", "Oakland", "Madison"];
const NOTE_BODIES: &[&str] = &[
    "Called about a standing wholesale order; wants a sample box first.",
    "Asked for the decaf range and pricing for 5 kg bags.",
    "Visited the shop, liked the single-origin tasting. Follow up next week.",
    "Prefers e-mail. Monthly delivery on the first Tuesday.",
    "Complained about a late delivery; offered 10% off the next order.",
];

/// Someone who already is a customer elsewhere in the demo (a Shopify or Stripe customer).
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) first: String,
    pub(crate) last: String,
    pub(crate) email: String,
    pub(crate) phone: Option<String>,
    /// Unix seconds.
    pub(crate) created: i64,
}

/// The generated portal.
#[derive(Debug, Default)]
pub(crate) struct Portal {
    pub(crate) objects: [BTreeMap<u64, CrmObject>; 4],
    pub(crate) associations: Associations,
}

/// `count` ascending ids from `base`, with random gaps (ids grow with creation time, as HubSpot's do).
fn ids(rng: &mut Rng, base: u64, count: usize) -> Vec<u64> {
    let mut next = base;
    (0..count)
        .map(|_| {
            next += 1 + rng.below(50);
            next
        })
        .collect()
}

/// A last change after `created_ms`: usually soon after, one time in ten much later; before the epoch.
fn later(rng: &mut Rng, created_ms: i64) -> i64 {
    let soon = created_ms + rng.range(0, 2 * 86_400_000);
    let updated = if rng.percent(10) { rng.range(soon, epoch() * 1000) } else { soon };
    updated.min(epoch() * 1000 - 1)
}

fn props(pairs: &[(&str, Option<String>)]) -> BTreeMap<String, String> {
    pairs.iter().filter_map(|(k, v)| Some(((*k).to_owned(), v.clone()?))).collect()
}

/// Generates the demo portal at `scale` around `people` (the shop's customers, in any order).
pub(crate) fn demo_portal(seed: u64, scale: u32, people: &[Person]) -> Portal {
    let scale = scale.max(1) as usize;
    let start_ms = (epoch() - DATA_WINDOW) * 1000;
    let mut portal = Portal::default();

    // Companies first: leads work somewhere.
    let mut rng = Rng::stream(seed, "hubspot/companies");
    let company_ids = ids(&mut rng, 20_000_000_000, COMPANIES * scale);
    let mut company_created: Vec<i64> =
        (0..company_ids.len()).map(|_| rng.range(start_ms - 200 * 86_400_000, start_ms)).collect();
    company_created.sort_unstable();
    let mut companies = Vec::with_capacity(company_ids.len());
    for (i, (id, created)) in company_ids.into_iter().zip(company_created).enumerate() {
        let name = format!("{} {}", rng.pick(LAST_NAMES), rng.pick(COMPANY_WORDS));
        let slug: String = name.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let domain = format!("{slug}{}.example", i + 1);
        let properties = props(&[
            ("name", Some(name.clone())),
            ("domain", Some(domain.clone())),
            ("industry", Some((*rng.pick(INDUSTRIES)).to_owned())),
            ("city", Some((*rng.pick(CITIES)).to_owned())),
            ("phone", rng.percent(70).then(|| format!("+1555{:07}", rng.below(10_000_000)))),
            ("lifecyclestage", Some((*rng.pick(&["customer", "opportunity", "lead"])).to_owned())),
        ]);
        let updated = later(&mut rng, created);
        portal.objects[ObjectType::Companies.index()].insert(id, CrmObject::new(id, created, updated, properties));
        companies.push((id, name, domain, created));
    }

    // Contacts: the shop's people, then leads, in creation order.
    let mut rng = Rng::stream(seed, "hubspot/contacts");
    struct Draft {
        person: Person,
        created_ms: i64,
        lead: bool,
        company: Option<usize>,
    }
    let mut drafts: Vec<Draft> = people
        .iter()
        .map(|p| {
            let company =
                (!companies.is_empty() && rng.percent(20)).then(|| rng.below(companies.len() as u64) as usize);
            Draft { person: p.clone(), created_ms: p.created * 1000 + rng.range(0, 1000), lead: false, company }
        })
        .collect();
    for i in 0..LEADS * scale {
        let first = *rng.pick(FIRST_NAMES);
        let last = *rng.pick(LAST_NAMES);
        let company = (!companies.is_empty()).then(|| rng.below(companies.len() as u64) as usize);
        let domain = company.map(|c| companies[c].2.clone()).unwrap_or_else(|| "example.com".to_owned());
        let created_ms = rng.range(start_ms, epoch() * 1000 - 3_600_000);
        drafts.push(Draft {
            person: Person {
                first: first.to_owned(),
                last: last.to_owned(),
                email: format!("{}.{}.lead{}@{domain}", first.to_lowercase(), last.to_lowercase(), i + 1),
                phone: rng.percent(40).then(|| format!("+1555{:07}", rng.below(10_000_000))),
                created: created_ms / 1000,
            },
            created_ms,
            lead: true,
            company,
        });
    }
    drafts.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then_with(|| a.person.email.cmp(&b.person.email)));
    let contact_ids = ids(&mut rng, 100, drafts.len());
    let mut contacts = Vec::with_capacity(drafts.len());
    for (draft, id) in drafts.into_iter().zip(contact_ids) {
        let stage = if draft.lead {
            *rng.pick(&["lead", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity"])
        } else {
            "customer"
        };
        let company = draft.company.map(|c| &companies[c]);
        let properties = props(&[
            ("email", Some(draft.person.email.clone())),
            ("firstname", Some(draft.person.first.clone())),
            ("lastname", Some(draft.person.last.clone())),
            ("phone", draft.person.phone.clone()),
            ("lifecyclestage", Some(stage.to_owned())),
            ("company", company.map(|c| c.1.clone())),
            (
                "hs_lead_status",
                draft.lead.then(|| (*rng.pick(&["NEW", "OPEN", "IN_PROGRESS", "CONNECTED"])).to_owned()),
            ),
        ]);
        let updated = later(&mut rng, draft.created_ms);
        portal.objects[ObjectType::Contacts.index()]
            .insert(id, CrmObject::new(id, draft.created_ms, updated, properties));
        if let Some(company) = company {
            portal.associations.add(ObjectType::Contacts, id, ObjectType::Companies, company.0);
        }
        contacts.push((id, format!("{} {}", draft.person.first, draft.person.last), draft.created_ms, company));
    }

    // Deals: each with a contact, and the contact's company when there is one.
    let mut rng = Rng::stream(seed, "hubspot/deals");
    let deal_ids = ids(&mut rng, 30_000_000_000, if contacts.is_empty() { 0 } else { DEALS * scale });
    let mut deals = Vec::with_capacity(deal_ids.len());
    for id in deal_ids {
        let (contact_id, contact_name, contact_created, company) = rng.pick(&contacts).clone();
        let created = rng.range(contact_created.max(start_ms), epoch() * 1000 - 3_600_000);
        let (stage, probability) = *rng.pick(&DEAL_STAGES);
        let closed = stage.starts_with("closed");
        let close = if closed {
            rng.range(created, epoch() * 1000 - 1)
        } else {
            epoch() * 1000 + rng.range(86_400_000, 60 * 86_400_000)
        };
        let who = company.map(|c| c.1.clone()).unwrap_or(contact_name);
        let properties = props(&[
            ("dealname", Some(format!("{who} - {} {}", rng.pick(PRODUCT_ADJECTIVES), rng.pick(PRODUCT_NOUNS)))),
            ("amount", Some((rng.range(4, 400) * 50).to_string())),
            ("pipeline", Some(DEFAULT_PIPELINE.to_owned())),
            ("dealstage", Some(stage.to_owned())),
            ("hs_deal_stage_probability", Some(probability.to_owned())),
            ("closedate", Some(super::objects::iso_ms(close))),
            ("dealtype", Some((*rng.pick(&["newbusiness", "existingbusiness"])).to_owned())),
        ]);
        let updated = later(&mut rng, created);
        portal.objects[ObjectType::Deals.index()].insert(id, CrmObject::new(id, created, updated, properties));
        portal.associations.add(ObjectType::Deals, id, ObjectType::Contacts, contact_id);
        if let Some(company) = company {
            portal.associations.add(ObjectType::Deals, id, ObjectType::Companies, company.0);
        }
        deals.push((id, created));
    }

    // Notes on contacts or deals.
    let mut rng = Rng::stream(seed, "hubspot/notes");
    let note_ids = ids(&mut rng, 40_000_000_000, if contacts.is_empty() { 0 } else { NOTES * scale });
    for id in note_ids {
        let (kind, about, after) = if deals.is_empty() || rng.percent(60) {
            let contact = rng.pick(&contacts);
            (ObjectType::Contacts, contact.0, contact.2)
        } else {
            let deal = rng.pick(&deals);
            (ObjectType::Deals, deal.0, deal.1)
        };
        let created = rng.range(after.max(start_ms), epoch() * 1000 - 60_000);
        let properties = props(&[("hs_note_body", Some((*rng.pick(NOTE_BODIES)).to_owned()))]);
        portal.objects[ObjectType::Notes.index()].insert(id, CrmObject::new(id, created, created, properties));
        portal.associations.add(ObjectType::Notes, id, kind, about);
    }
    portal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> Vec<Person> {
        (0..30)
            .map(|i| Person {
                first: "Ava".into(),
                last: "Smith".into(),
                email: format!("ava.smith{i}@example.com"),
                phone: None,
                created: epoch() - 10 * 86_400 + i,
            })
            .collect()
    }

    #[test]
    fn the_portal_has_the_documented_sizes_and_joins_up() {
        let portal = demo_portal(42, 1, &people());
        let count = |kind: ObjectType| portal.objects[kind.index()].len();
        assert_eq!(count(ObjectType::Contacts), 30 + LEADS);
        assert_eq!(count(ObjectType::Companies), COMPANIES);
        assert_eq!(count(ObjectType::Deals), DEALS);
        assert_eq!(count(ObjectType::Notes), NOTES);
        let contacts = &portal.objects[ObjectType::Contacts.index()];
        assert!(contacts.values().any(|c| c.properties["email"] == "ava.smith7@example.com"));
        for deal in portal.objects[ObjectType::Deals.index()].values() {
            assert_eq!(portal.associations.of(ObjectType::Deals, deal.id, Some(ObjectType::Contacts)).len(), 1);
            assert!(deal.updated_ms >= deal.created_ms && deal.updated_ms < epoch() * 1000);
        }
        let ids: Vec<u64> = contacts.values().map(|c| c.id).collect();
        assert!(ids.windows(2).all(|w| contacts[&w[0]].created_ms <= contacts[&w[1]].created_ms), "ids grow with time");
    }

    #[test]
    fn one_seed_one_portal() {
        let a = demo_portal(5, 2, &people());
        let b = demo_portal(5, 2, &people());
        let first = |p: &Portal| p.objects[ObjectType::Deals.index()].values().next().map(|d| d.properties.clone());
        assert_eq!(first(&a), first(&b));
        assert_eq!(a.objects[ObjectType::Deals.index()].len(), 2 * DEALS);
    }
}
