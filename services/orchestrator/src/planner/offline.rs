//! The offline planner: plans from the router's intent and rules over the question's words, and writes answers
//! from templates over the steps' outputs. No model, no network, no tokens — the default when no model provider
//! is configured, so a fresh install answers questions about its synced data. Its answers say so.
//!
//! What it understands:
//! - data: a metric (revenue, total, how much → `records.sum` of the amount; how many → `records.count`; by
//!   status → `records.group_by`; list, show, which → `records.query`), over a record kind named in the question
//!   (charges by default), in a time range ("last week", "yesterday", "last 30 days", ...); overdue invoices.
//! - action: refund the last charge of an e-mail address (find it, then refund it, with approval) or a charge by
//!   id; send an invoice by id; create a Stripe customer.
//! - knowledge: one `knowledge.search` step with the question as the query, when the knowledge base is configured;
//!   the answer quotes the closest passages, each cited with its document and chunk.
//! - help, unsupported: no steps, and an answer that says what it can do.
//!
//! Only the question is read when planning. Step outputs (text of synced records and of documents included) are
//! quoted in answers, never followed.

use serde_json::{Value, json};
use switchboard_proto::orchestrator::v1::{Citation, StepStatus};

use super::router::Intent;
use super::time::{self, TimeRange};
use super::{AnswerRequest, Answered, PlanRequest, Planned, Planner, PlannerFuture, StepResult, Usage};
use crate::plan::{PlanDraft, PlannedStep};

/// The offline planner.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflinePlanner;

/// The model name runs planned offline carry.
pub const MODEL: &str = "offline/rules";

/// The line every offline answer ends with.
const SIGNATURE: &str = "_Written by the offline assistant (offline/rules) from your synced records; no language \
                         model was used._";

impl Planner for OfflinePlanner {
    fn model(&self) -> String {
        MODEL.to_owned()
    }

    fn plan<'a>(&'a self, request: &'a PlanRequest) -> PlannerFuture<'a, Planned> {
        Box::pin(async move { Ok(Planned { plan: plan(request), usage: Usage::default(), model: None }) })
    }

    fn answer<'a>(&'a self, request: &'a AnswerRequest) -> PlannerFuture<'a, Answered> {
        Box::pin(async move { Ok(answer(request)) })
    }
}

// === record kinds ===

/// How a kind's amounts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Money {
    /// Integer minor units (Stripe).
    Cents,
    /// Decimal strings in major units (Shopify).
    Decimal,
}

/// How a kind's creation time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// Unix seconds (Stripe `created`).
    Unix,
    /// RFC 3339 (Shopify `createdAt`, HubSpot `createdate`).
    Rfc3339,
    /// A calendar date, `YYYY-MM-DD` (QuickBooks `TxnDate`).
    Date,
}

/// A record kind the connectors store, and its fields.
#[derive(Debug)]
struct Kind {
    kind: &'static str,
    provider: &'static str,
    /// Words that name it in a question.
    words: &'static [&'static str],
    /// Words that name it when the question also names its provider ("QuickBooks invoices", "Shopify customers").
    also: &'static [&'static str],
    plural: &'static str,
    time_field: &'static str,
    clock: Clock,
    amount: Option<(&'static str, Money)>,
    email_field: Option<&'static str>,
    /// The filter of records that count as money in (for revenue).
    settled: Option<&'static str>,
    /// The field a breakdown "by status" groups on.
    status_field: &'static str,
}

const KINDS: [Kind; 16] = [
    Kind {
        kind: "payment_intent",
        provider: "stripe",
        words: &["intent", "intents"],
        also: &[],
        plural: "Stripe payment intents",
        time_field: "created",
        clock: Clock::Unix,
        amount: Some(("amount", Money::Cents)),
        email_field: None,
        settled: Some("status = \"succeeded\""),
        status_field: "status",
    },
    Kind {
        kind: "refund",
        provider: "stripe",
        words: &["refund", "refunds", "refunded"],
        also: &[],
        plural: "Stripe refunds",
        time_field: "created",
        clock: Clock::Unix,
        amount: Some(("amount", Money::Cents)),
        email_field: None,
        settled: Some("status = \"succeeded\""),
        status_field: "status",
    },
    Kind {
        kind: "invoice",
        provider: "stripe",
        words: &["invoice", "invoices"],
        also: &[],
        plural: "Stripe invoices",
        time_field: "created",
        clock: Clock::Unix,
        amount: Some(("amount_due", Money::Cents)),
        email_field: Some("customer_email"),
        settled: Some("status = \"paid\""),
        status_field: "status",
    },
    Kind {
        kind: "order",
        provider: "shopify",
        words: &["order", "orders"],
        also: &[],
        plural: "Shopify orders",
        time_field: "createdAt",
        clock: Clock::Rfc3339,
        amount: Some(("totalPriceSet.shopMoney.amount", Money::Decimal)),
        email_field: Some("email"),
        settled: None,
        status_field: "status",
    },
    Kind {
        kind: "product",
        provider: "shopify",
        words: &["product", "products"],
        also: &[],
        plural: "Shopify products",
        time_field: "createdAt",
        clock: Clock::Rfc3339,
        amount: None,
        email_field: None,
        settled: None,
        status_field: "status",
    },
    Kind {
        kind: "customer",
        provider: "shopify",
        words: &[],
        also: &["customer", "customers", "client", "clients"],
        plural: "Shopify customers",
        time_field: "createdAt",
        clock: Clock::Rfc3339,
        amount: None,
        email_field: Some("email"),
        settled: None,
        status_field: "status",
    },
    Kind {
        kind: "customer",
        provider: "stripe",
        words: &["customer", "customers", "client", "clients", "signups", "signed"],
        also: &[],
        plural: "Stripe customers",
        time_field: "created",
        clock: Clock::Unix,
        amount: None,
        email_field: Some("email"),
        settled: None,
        status_field: "status",
    },
    Kind {
        kind: "charge",
        provider: "stripe",
        words: &["charge", "charges", "payment", "payments", "transaction", "transactions", "revenue", "sales"],
        also: &[],
        plural: "Stripe charges",
        time_field: "created",
        clock: Clock::Unix,
        amount: Some(("amount", Money::Cents)),
        email_field: Some("receipt_email"),
        settled: Some("status = \"succeeded\""),
        status_field: "status",
    },
    // QuickBooks: "invoices", "customers" and "payments" alone still mean Stripe's; bills are the books' only.
    Kind {
        kind: "invoice",
        provider: "quickbooks",
        words: &[],
        also: &["invoice", "invoices"],
        plural: "QuickBooks invoices",
        time_field: "TxnDate",
        clock: Clock::Date,
        amount: Some(("TotalAmt", Money::Decimal)),
        email_field: Some("BillEmail.Address"),
        settled: None,
        status_field: "EmailStatus",
    },
    Kind {
        kind: "bill",
        provider: "quickbooks",
        words: &["bill", "bills"],
        also: &[],
        plural: "QuickBooks bills",
        time_field: "TxnDate",
        clock: Clock::Date,
        amount: Some(("TotalAmt", Money::Decimal)),
        email_field: None,
        settled: None,
        status_field: "status",
    },
    Kind {
        kind: "payment",
        provider: "quickbooks",
        words: &[],
        also: &["payment", "payments"],
        plural: "QuickBooks payments",
        time_field: "TxnDate",
        clock: Clock::Date,
        amount: Some(("TotalAmt", Money::Decimal)),
        email_field: None,
        settled: None,
        status_field: "status",
    },
    Kind {
        kind: "customer",
        provider: "quickbooks",
        words: &[],
        also: &["customer", "customers", "client", "clients"],
        plural: "QuickBooks customers",
        time_field: "MetaData.CreateTime",
        clock: Clock::Rfc3339,
        amount: Some(("Balance", Money::Decimal)),
        email_field: Some("PrimaryEmailAddr.Address"),
        settled: None,
        status_field: "Active",
    },
    Kind {
        kind: "item",
        provider: "quickbooks",
        words: &["item", "items"],
        also: &["product", "products"],
        plural: "QuickBooks items",
        time_field: "MetaData.CreateTime",
        clock: Clock::Rfc3339,
        amount: Some(("UnitPrice", Money::Decimal)),
        email_field: None,
        settled: None,
        status_field: "Type",
    },
    // HubSpot's CRM.
    Kind {
        kind: "deal",
        provider: "hubspot",
        words: &["deal", "deals", "pipeline", "opportunities"],
        also: &[],
        plural: "HubSpot deals",
        time_field: "createdate",
        clock: Clock::Rfc3339,
        amount: Some(("amount", Money::Decimal)),
        email_field: None,
        settled: Some("dealstage = \"closedwon\""),
        status_field: "dealstage",
    },
    Kind {
        kind: "contact",
        provider: "hubspot",
        words: &["contact", "contacts", "lead", "leads"],
        also: &[],
        plural: "HubSpot contacts",
        time_field: "createdate",
        clock: Clock::Rfc3339,
        amount: None,
        email_field: Some("email"),
        settled: None,
        status_field: "lifecyclestage",
    },
    Kind {
        kind: "company",
        provider: "hubspot",
        words: &["company", "companies"],
        also: &[],
        plural: "HubSpot companies",
        time_field: "createdate",
        clock: Clock::Rfc3339,
        amount: None,
        email_field: None,
        settled: None,
        status_field: "lifecyclestage",
    },
];

fn kind_named(kind: &str, provider: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.kind == kind && k.provider == provider)
}

// === reading the question ===

/// The question, lowercased and split into words (letters, digits, `@._-+` kept inside words).
struct Words {
    words: Vec<String>,
}

impl Words {
    fn new(question: &str) -> Self {
        let words = question
            .to_lowercase()
            .split(|c: char| !(c.is_alphanumeric() || "@._-+%".contains(c)))
            .map(|w| w.trim_matches(|c: char| ".-_".contains(c)).to_owned())
            .filter(|w| !w.is_empty())
            .collect();
        Self { words }
    }

    fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    fn any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.has(w))
    }

    fn phrase(&self, phrase: &str) -> bool {
        let parts: Vec<&str> = phrase.split(' ').collect();
        self.words.windows(parts.len()).any(|w| w.iter().zip(&parts).all(|(a, b)| a == b))
    }

    /// The first e-mail address.
    fn email(&self) -> Option<String> {
        self.words.iter().find_map(|w| {
            let (local, domain) = w.split_once('@')?;
            let ok = !local.is_empty()
                && domain.contains('.')
                && w.chars().all(|c| c.is_ascii_alphanumeric() || "@._-+%".contains(c));
            ok.then(|| w.clone())
        })
    }

    /// The first provider id with `prefix` (`ch_`, `in_`).
    fn id_with(&self, prefix: &str) -> Option<String> {
        self.words.iter().find_map(|w| {
            let rest = w.strip_prefix(prefix)?;
            (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric())).then(|| w.clone())
        })
    }

    /// "last 5", "top 20", "10 newest" → the number.
    fn count(&self) -> Option<u64> {
        self.words.windows(2).find_map(|w| {
            let lead = matches!(w[0].as_str(), "last" | "top" | "first" | "latest" | "recent" | "newest" | "biggest");
            if lead { w[1].parse().ok().filter(|n| (1..=100).contains(n)) } else { None }
        })
    }
}

/// The kind the question is about. An original (the question's) id is matched in the question's own case, which
/// `Words` lowercases; ids are matched on prefix only.
fn kind_of(words: &Words) -> Option<&'static Kind> {
    if words.phrase("payment intent") || words.phrase("payment intents") {
        return kind_named("payment_intent", "stripe");
    }
    // A named provider picks among the kinds a word could mean ("QuickBooks invoices", "Shopify customers").
    let named = |provider: &str| match provider {
        "quickbooks" => words.any(&["quickbooks", "qbo", "books"]),
        other => words.has(other),
    };
    KINDS
        .iter()
        .find(|k| named(k.provider) && (words.any(k.words) || words.any(k.also)))
        .or_else(|| KINDS.iter().find(|k| words.any(k.words)))
}

fn time_filter(kind: &Kind, range: &TimeRange) -> String {
    match kind.clock {
        // Whole days: the range's end is midnight, so its date is the first day not included.
        Clock::Date => format!(
            "{f} >= \"{}\" AND {f} < \"{}\"",
            time::date(range.start),
            time::date(range.end),
            f = kind.time_field
        ),
        Clock::Unix => format!("{f} >= {} AND {f} < {}", range.start, range.end, f = kind.time_field),
        Clock::Rfc3339 => format!(
            "{f} >= \"{}\" AND {f} < \"{}\"",
            time::rfc3339(range.start),
            time::rfc3339(range.end),
            f = kind.time_field
        ),
    }
}

fn and(parts: &[Option<String>]) -> String {
    parts.iter().flatten().filter(|p| !p.is_empty()).map(|p| format!("({p})")).collect::<Vec<_>>().join(" AND ")
}

/// A filter on the question's status words, for kinds with a `status`.
fn status_filter(words: &Words, kind: &Kind) -> Option<String> {
    if kind.provider != "stripe" {
        return None;
    }
    if words.any(&["failed", "declined", "failing"]) {
        return Some("status = \"failed\"".into());
    }
    if words.any(&["succeeded", "successful", "successfully"]) {
        return Some("status = \"succeeded\"".into());
    }
    if kind.kind == "invoice" && words.any(&["unpaid", "open", "outstanding"]) {
        return Some("status = \"open\"".into());
    }
    if kind.kind == "invoice" && words.has("paid") {
        return Some("status = \"paid\"".into());
    }
    None
}

// === planning ===

fn no_steps(summary: impl Into<String>) -> PlanDraft {
    PlanDraft { summary: summary.into(), steps: Vec::new() }
}

fn read_step(id: &str, description: String, tool: &str, kind: &Kind, input: Value) -> PlannedStep {
    let mut input = input;
    if let Some(map) = input.as_object_mut() {
        map.insert("kind".into(), json!(kind.kind));
        map.insert("provider".into(), json!(kind.provider));
    }
    PlannedStep {
        id: id.to_owned(),
        description,
        tool: tool.to_owned(),
        connection: String::new(),
        input,
        needs_approval: false,
        depends_on: Vec::new(),
    }
}

fn plan(request: &PlanRequest) -> PlanDraft {
    let words = Words::new(&request.question);
    match request.routed.intent {
        Intent::Data => plan_data(request, &words),
        // A request the router took for an action but that names no change the offline assistant can make is
        // read as a question about the data ("show customers of jane@example.com" is near "create a customer").
        Intent::Action if !words.any(WRITE_VERBS) => plan_data(request, &words),
        Intent::Action => plan_action(request, &words),
        Intent::Knowledge => plan_knowledge(request),
        Intent::Help => no_steps("How to use the assistant."),
        Intent::Unsupported => no_steps("This is not something the assistant can help with."),
    }
}

/// Passages a knowledge question retrieves.
const KNOWLEDGE_PASSAGES: u64 = 5;
/// Passages the answer quotes.
const QUOTED_PASSAGES: usize = 3;

fn plan_knowledge(request: &PlanRequest) -> PlanDraft {
    if !request.tools.iter().any(|t| t.name == "knowledge.search") {
        return no_steps("Questions about your documents need a knowledge base, and none is configured.");
    }
    let step = PlannedStep {
        id: "1".to_owned(),
        description: "Search your documents for the passages closest to the question".to_owned(),
        tool: "knowledge.search".to_owned(),
        connection: String::new(),
        input: json!({"query": request.question, "limit": KNOWLEDGE_PASSAGES}),
        needs_approval: false,
        depends_on: Vec::new(),
    };
    PlanDraft { summary: "Look the question up in your documents.".into(), steps: vec![step] }
}

/// Words that ask for a change.
const WRITE_VERBS: &[&str] =
    &["refund", "refunds", "send", "resend", "create", "add", "new", "cancel", "delete", "remove", "update", "give"];

fn has_connection(request: &PlanRequest, provider: &str) -> bool {
    request.connections.iter().any(|c| c.provider == provider)
}

fn plan_data(request: &PlanRequest, words: &Words) -> PlanDraft {
    let range = time::parse(&request.question, request.now);
    let during = range.as_ref().map(|r| format!(" in {}", r.label)).unwrap_or_default();
    if words.has("overdue") || (words.any(&["unpaid", "outstanding"]) && words.any(&["invoice", "invoices"])) {
        let Some(kind) = kind_named("invoice", "stripe") else { return no_steps("no invoice kind") };
        let filter = and(&[
            Some("status = \"open\"".into()),
            words.has("overdue").then(|| format!("due_date < {}", request.now)),
            range.as_ref().map(|r| time_filter(kind, r)),
        ]);
        let step = read_step(
            "1",
            format!(
                "List open Stripe invoices{}{during}",
                if words.has("overdue") { " past their due date" } else { "" }
            ),
            "records.query",
            kind,
            json!({"filter": filter, "order_by": "due_date", "limit": 50}),
        );
        let mut steps = vec![step];
        // The books: an invoice is overdue while it has a balance after its due date (QuickBooks has no status).
        if let Some(books) = kind_named("invoice", "quickbooks").filter(|_| has_connection(request, "quickbooks")) {
            let filter = and(&[
                Some("Balance > 0".into()),
                words.has("overdue").then(|| format!("DueDate < \"{}\"", time::date(request.now))),
                range.as_ref().map(|r| time_filter(books, r)),
            ]);
            steps.push(read_step(
                "2",
                format!(
                    "List QuickBooks invoices with a balance{}{during}",
                    if words.has("overdue") { " past their due date" } else { "" }
                ),
                "records.query",
                books,
                json!({"filter": filter, "order_by": "DueDate", "limit": 50}),
            ));
        }
        let summary = if steps.len() > 1 {
            "Find the overdue invoices in the synced Stripe and QuickBooks data."
        } else {
            "Find the overdue invoices in the synced Stripe data."
        };
        return PlanDraft { summary: summary.into(), steps };
    }
    let money = words.any(&["revenue", "sales", "earn", "earned", "made", "make", "income", "total", "sum", "gross"])
        || words.phrase("how much");
    let counting = words.phrase("how many") || words.phrase("number of") || words.any(&["count"]);
    let grouping = words.phrase("by status") || words.phrase("per status") || words.any(&["breakdown"]);
    let kind = kind_of(words).or_else(|| if money { kind_named("charge", "stripe") } else { None });
    let Some(kind) = kind else {
        return no_steps(
            "I could not tell which records the question is about: name charges, refunds, invoices, customers, \
             orders or products.",
        );
    };
    if !has_connection(request, kind.provider) {
        return no_steps(format!(
            "There is no {} connection this run may use, so there are no {} to read.",
            kind.provider, kind.plural
        ));
    }
    let time = range.as_ref().map(|r| time_filter(kind, r));
    let status = status_filter(words, kind);
    let email = words.email().and_then(|e| kind.email_field.map(|f| format!("{f} = \"{e}\"")));
    if grouping {
        let amount = kind.amount.map(|(field, _)| field);
        let mut input = json!({"field": kind.status_field, "filter": and(&[time, email])});
        if let (Some(field), Some(map)) = (amount, input.as_object_mut()) {
            map.insert("sum_field".into(), json!(field));
        }
        let step = read_step("1", format!("Group {} by status{during}", kind.plural), "records.group_by", kind, input);
        return PlanDraft { summary: format!("Break down {} by status{during}.", kind.plural), steps: vec![step] };
    }
    if counting {
        let step = read_step(
            "1",
            format!("Count {}{during}", kind.plural),
            "records.count",
            kind,
            json!({"filter": and(&[status, time, email])}),
        );
        return PlanDraft { summary: format!("Count {}{during}.", kind.plural), steps: vec![step] };
    }
    if money && let Some((field, _)) = kind.amount {
        let settled = status.or_else(|| kind.settled.map(str::to_owned));
        let what = if kind.kind == "charge" {
            "revenue (succeeded Stripe charges)".to_owned()
        } else {
            format!("the total of {}", kind.plural)
        };
        let step = read_step(
            "1",
            format!("Sum {field} over {}{during}", kind.plural),
            "records.sum",
            kind,
            json!({"field": field, "filter": and(&[settled, time, email])}),
        );
        return PlanDraft { summary: format!("Add up {what}{during}."), steps: vec![step] };
    }
    let limit = words.count().unwrap_or(10);
    let order = if words.any(&["biggest", "largest", "top"]) {
        kind.amount.map(|(field, _)| format!("{field} desc")).unwrap_or_else(|| format!("{} desc", kind.time_field))
    } else {
        format!("{} desc", kind.time_field)
    };
    let step = read_step(
        "1",
        format!("List {}{during}", kind.plural),
        "records.query",
        kind,
        json!({"filter": and(&[status, time, email]), "order_by": order, "limit": limit}),
    );
    PlanDraft { summary: format!("List {}{during}.", kind.plural), steps: vec![step] }
}

fn plan_action(request: &PlanRequest, words: &Words) -> PlanDraft {
    let Some(stripe) = request.connections.iter().find(|c| c.provider == "stripe") else {
        return no_steps(
            "The offline assistant's actions are Stripe actions, and there is no Stripe connection this run may use.",
        );
    };
    let write = |id: &str, description: String, tool: &str, input: Value, depends_on: Vec<String>| PlannedStep {
        id: id.to_owned(),
        description,
        tool: tool.to_owned(),
        connection: stripe.name.clone(),
        input,
        needs_approval: true,
        depends_on,
    };
    if words.any(&["refund", "refunds"]) {
        // A charge named by id is taken as written (in the question's case: ids are case-sensitive).
        if let Some(charge) = words.id_with("ch_").and_then(|id| original_case(&request.question, &id)) {
            let step = write(
                "1",
                format!("Refund Stripe charge {charge}"),
                "stripe.refund.create",
                json!({"charge": charge}),
                vec![],
            );
            return PlanDraft { summary: format!("Refund charge {charge}, after your approval."), steps: vec![step] };
        }
        let Some(email) = words.email() else {
            return no_steps("To refund, name the charge (ch_...) or the customer's e-mail address.");
        };
        let Some(kind) = kind_named("charge", "stripe") else { return no_steps("no charge kind") };
        let find = read_step(
            "1",
            format!("Find the last refundable Stripe charge of {email}"),
            "records.query",
            kind,
            json!({
                "filter": format!("receipt_email = \"{email}\" AND status = \"succeeded\" AND refunded = false"),
                "order_by": "created desc",
                "limit": 1,
            }),
        );
        let refund = write(
            "2",
            format!("Refund that charge of {email} in full"),
            "stripe.refund.create",
            json!({"charge": {"$ref": "steps.1.output.records.0.id"}}),
            vec!["1".into()],
        );
        return PlanDraft {
            summary: format!("Find the last charge of {email}, then refund it after your approval."),
            steps: vec![find, refund],
        };
    }
    if words.has("invoice") && words.any(&["send", "resend", "email"]) {
        if let Some(invoice) = words.id_with("in_").and_then(|id| original_case(&request.question, &id)) {
            let step = write(
                "1",
                format!("Email Stripe invoice {invoice} to its customer"),
                "stripe.invoice.send",
                json!({"invoice": invoice}),
                vec![],
            );
            return PlanDraft { summary: format!("Send invoice {invoice}, after your approval."), steps: vec![step] };
        }
        return no_steps("To send an invoice, name it by id (in_...).");
    }
    if words.has("customer") && words.any(&["create", "add", "new"]) {
        if let Some(email) = words.email() {
            let step = write(
                "1",
                format!("Create a Stripe customer for {email}"),
                "stripe.customer.create",
                json!({"email": email}),
                vec![],
            );
            return PlanDraft {
                summary: format!("Create a Stripe customer for {email}, after your approval."),
                steps: vec![step],
            };
        }
        return no_steps("To create a customer, give their e-mail address.");
    }
    no_steps(
        "The offline assistant can refund a charge, send an invoice and create a Stripe customer; this request is \
         none of those.",
    )
}

/// `lower` (a lowercased word of `question`) as written in `question`.
fn original_case(question: &str, lower: &str) -> Option<String> {
    question
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.to_lowercase() == lower)
        .map(str::to_owned)
}

// === answering ===

fn money(amount: &Value, how: Money) -> String {
    let major = match how {
        Money::Cents => amount.as_f64().map(|c| c / 100.0),
        Money::Decimal => amount.as_f64().or_else(|| amount.as_str().and_then(|s| s.parse().ok())),
    }
    .unwrap_or(0.0);
    let cents = (major * 100.0).round() as i64;
    let (whole, frac) = (cents.abs() / 100, cents.abs() % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}.{frac:02}", if cents < 0 { "-" } else { "" })
}

/// Writes the answer for the steps: each finished step becomes a sentence or a list, with citations.
struct Writer {
    text: String,
    citations: Vec<Citation>,
}

impl Writer {
    fn cite(&mut self, step: &StepResult, title: String, record_id: &str, snippet: String) -> String {
        self.citations.push(Citation {
            title,
            step: step.name.clone(),
            record_id: record_id.to_owned(),
            url: String::new(),
            snippet: snippet.chars().take(300).collect(),
        });
        format!("[{}]", self.citations.len())
    }

    fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
    }
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn step_kind(step: &StepResult) -> Option<&'static Kind> {
    let input = step.input.as_ref()?;
    let kind = input.get("kind")?.as_str()?;
    let provider = input.get("provider").and_then(Value::as_str).unwrap_or("stripe");
    kind_named(kind, provider).or_else(|| KINDS.iter().find(|k| k.kind == kind))
}

/// One line about a record, from the fields a person recognises; free text is quoted as data.
fn describe(kind: Option<&Kind>, record: &Value) -> String {
    let data = record.get("data").unwrap_or(&Value::Null);
    let id = text_of(record.get("id"));
    let mut parts = vec![format!("`{id}`")];
    if let Some(kind) = kind {
        if let Some((field, how)) = kind.amount {
            let path: Vec<&str> = field.split('.').collect();
            if let Some(amount) = path.iter().try_fold(data, |v, k| v.get(k)) {
                parts.push(money(amount, how));
            }
        }
        match kind.clock {
            Clock::Unix => {
                if let Some(at) = data.get(kind.time_field).and_then(Value::as_i64) {
                    parts.push(time::date(at));
                }
            }
            Clock::Rfc3339 | Clock::Date => {
                let path = format!("/{}", kind.time_field.replace('.', "/"));
                parts.push(text_of(data.pointer(&path)).chars().take(10).collect());
            }
        }
        if let Some(field) = kind.email_field {
            let email = text_of(data.get(field));
            if !email.is_empty() {
                parts.push(email);
            }
        }
    }
    for field in ["status", "name", "title", "displayFinancialStatus", "DisplayName", "Name", "dealname", "dealstage"] {
        let value = text_of(data.get(field));
        if !value.is_empty() {
            parts.push(value.chars().take(80).collect());
        }
    }
    if let Some(due) = data.get("due_date").and_then(Value::as_i64) {
        parts.push(format!("due {}", time::date(due)));
    }
    // QuickBooks: the customer, what is still owed, and the due date (dates, not timestamps).
    let customer = text_of(data.pointer("/CustomerRef/name"));
    if !customer.is_empty() {
        parts.push(customer.chars().take(80).collect());
    }
    if let Some(balance) = data.get("Balance") {
        parts.push(format!("balance {}", money(balance, Money::Decimal)));
    }
    if let Some(due) = data.get("DueDate").and_then(Value::as_str) {
        parts.push(format!("due {}", due.chars().take(10).collect::<String>()));
    }
    parts.join(", ")
}

fn answer_step(writer: &mut Writer, step: &StepResult) {
    let kind = step_kind(step);
    let plural = kind.map_or("records", |k| k.plural);
    match step.status {
        StepStatus::Succeeded => {}
        StepStatus::Rejected => {
            let why =
                if step.review_comment.is_empty() { String::new() } else { format!(" (\"{}\")", step.review_comment) };
            writer.line(&format!("- **Not done:** {} — rejected by the reviewer{why}.", step.description));
            return;
        }
        StepStatus::Skipped => {
            writer.line(&format!(
                "- **Not done:** {} — skipped: {}.",
                step.description,
                step.error.as_deref().unwrap_or("a step it needed did not succeed")
            ));
            return;
        }
        StepStatus::Cancelled => {
            writer.line(&format!("- **Not done:** {} — the run was cancelled.", step.description));
            return;
        }
        _ => {
            writer.line(&format!(
                "- **Failed:** {} — {}.",
                step.description,
                step.error.as_deref().unwrap_or("the tool reported an error")
            ));
            return;
        }
    }
    let output = step.output.clone().unwrap_or(Value::Null);
    match step.tool.as_str() {
        "records.sum" => {
            let how = kind.and_then(|k| k.amount).map_or(Money::Decimal, |(_, how)| how);
            let sum = output.get("sum").cloned().unwrap_or(json!(0));
            let count = output.get("count").and_then(Value::as_u64).unwrap_or(0);
            let shown = if kind.is_some_and(|k| k.amount.is_some()) { money(&sum, how) } else { text_of(Some(&sum)) };
            let cite = writer.cite(step, format!("Sum over {plural}"), "", output.to_string());
            writer.line(&format!("**{shown}** from {count} {plural} ({}) {cite}.", step.description));
        }
        "records.count" => {
            let count = output.get("count").and_then(Value::as_u64).unwrap_or(0);
            let cite = writer.cite(step, format!("Count of {plural}"), "", output.to_string());
            writer.line(&format!("**{count}** {plural} ({}) {cite}.", step.description));
        }
        "records.group_by" => {
            let groups = output.get("groups").and_then(Value::as_array).cloned().unwrap_or_default();
            let cite = writer.cite(step, format!("{plural} grouped"), "", output.to_string());
            writer.line(&format!("{} {cite}:", step.description));
            let how = kind.and_then(|k| k.amount).map(|(_, how)| how);
            for group in groups.iter().take(20) {
                let sum = match (group.get("sum"), how) {
                    (Some(sum), Some(how)) => format!(", {}", money(sum, how)),
                    _ => String::new(),
                };
                writer.line(&format!(
                    "- {}: {}{sum}",
                    text_of(group.get("key")),
                    group.get("count").and_then(Value::as_u64).unwrap_or(0)
                ));
            }
        }
        "records.query" => {
            let records = output.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
            if records.is_empty() {
                writer.line(&format!("No {plural} matched ({}).", step.description));
                return;
            }
            writer.line(&format!("{} — {} found:", step.description, records.len()));
            for record in &records {
                let id = text_of(record.get("id"));
                let line = describe(kind, record);
                let title = format!("{} {}", plural.trim_end_matches('s'), id);
                let cite = writer.cite(step, title, &id, line.clone());
                writer.line(&format!("- {line} {cite}"));
            }
        }
        "knowledge.search" => answer_passages(writer, step, &output),
        "stripe.refund.create" => {
            let amount = output.get("amount").map(|a| money(a, Money::Cents)).unwrap_or_default();
            let id = text_of(output.get("id"));
            let cite = writer.cite(step, format!("Stripe refund {id}"), &id, output.to_string());
            writer.line(&format!(
                "**Done:** refunded {amount} on charge `{}` (refund `{id}`, {}) {cite}.",
                text_of(output.get("charge")),
                text_of(output.get("status"))
            ));
        }
        _ => {
            let id = text_of(output.get("id"));
            let cite = writer.cite(step, format!("{} {id}", step.tool), &id, output.to_string());
            writer.line(&format!("**Done:** {} {cite}.", step.description));
        }
    }
}

/// Quotes the closest passages as Markdown block quotes, each cited with its chunk: the text is shown as written,
/// as data, whatever it says.
fn answer_passages(writer: &mut Writer, step: &StepResult, output: &Value) {
    let passages = output.get("passages").and_then(Value::as_array).cloned().unwrap_or_default();
    if passages.is_empty() {
        writer.line(
            "None of your documents has a passage close to the question. Admins can add documents (IngestDocument, \
             `POST /v1/documents`).",
        );
        return;
    }
    writer.line("From your documents, the closest passages:");
    for passage in passages.iter().take(QUOTED_PASSAGES) {
        let text = text_of(passage.get("text"));
        let title = text_of(passage.get("title"));
        let heading = text_of(passage.get("heading"));
        let label = if heading.is_empty() { title } else { format!("{title} › {heading}") };
        let quoted: String = text.chars().take(800).collect();
        let more = if quoted.len() < text.len() { " …" } else { "" };
        let cite = writer.cite(step, label.clone(), &text_of(passage.get("chunk")), text.clone());
        writer.line("");
        for line in quoted.lines() {
            writer.line(&format!("> {line}"));
        }
        if !more.is_empty() {
            writer.line(">");
            writer.line(&format!(">{more}"));
        }
        writer.line("");
        writer.line(&format!("— *{label}* {cite}"));
    }
}

const HELP: &str = "I answer questions about the data synced from your connected accounts (\"How much revenue did we \
                    make last week?\", \"How many orders today?\", \"Which invoices are overdue?\") and carry out \
                    actions such as \"Refund the last charge of jane@example.com\" — every change waits for your \
                    approval first.";

fn answer(request: &AnswerRequest) -> Answered {
    let mut writer = Writer { text: String::new(), citations: Vec::new() };
    if request.steps.is_empty() {
        writer.line(&request.summary);
        if matches!(request.routed.intent, Intent::Help | Intent::Unsupported | Intent::Knowledge | Intent::Action) {
            writer.line("");
            writer.line(HELP);
        }
    } else {
        for step in &request.steps {
            answer_step(&mut writer, step);
        }
    }
    writer.line("");
    writer.line(SIGNATURE);
    Answered { text: writer.text, citations: writer.citations, usage: Usage::default(), model: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::UsableConnection;
    use crate::planner::router::Routed;

    fn request(question: &str, intent: Intent) -> PlanRequest {
        PlanRequest {
            tenant: switchboard_types::TenantId::generate(),
            question: question.into(),
            routed: Routed {
                intent,
                confidence: 1.0,
                runner_up: Intent::Help,
                runner_up_confidence: 0.0,
                by_model: false,
            },
            tools: Vec::new(),
            connections: vec![
                UsableConnection { name: "connections/s".into(), provider: "stripe".into() },
                UsableConnection { name: "connections/p".into(), provider: "shopify".into() },
            ],
            now: 1_793_892_600,
            previous: None,
        }
    }

    #[test]
    fn revenue_last_week_sums_succeeded_charges_in_that_week() {
        let plan = plan(&request("How much revenue did we make last week?", Intent::Data));
        assert_eq!(plan.steps.len(), 1);
        let step = &plan.steps[0];
        assert_eq!(step.tool, "records.sum");
        assert_eq!(step.input["kind"], "charge");
        assert_eq!(step.input["field"], "amount");
        assert_eq!(
            step.input["filter"],
            "(status = \"succeeded\") AND (created >= 1792972800 AND created < 1793577600)"
        );
    }

    #[test]
    fn a_refund_by_email_finds_the_charge_then_refunds_it_with_approval() {
        let plan = plan(&request("Refund the last charge of Jane.Doe@example.com", Intent::Action));
        assert_eq!(plan.steps.len(), 2);
        assert_eq!(plan.steps[0].tool, "records.query");
        assert!(plan.steps[0].input["filter"].as_str().unwrap().contains("receipt_email = \"jane.doe@example.com\""));
        assert_eq!(plan.steps[1].tool, "stripe.refund.create");
        assert!(plan.steps[1].needs_approval);
        assert_eq!(plan.steps[1].connection, "connections/s");
        assert_eq!(plan.steps[1].input, json!({"charge": {"$ref": "steps.1.output.records.0.id"}}));
        let by_id = plan_action(&request("refund ch_AbC123", Intent::Action), &Words::new("refund ch_AbC123"));
        assert_eq!(by_id.steps[0].input, json!({"charge": "ch_AbC123"}));
    }

    #[test]
    fn other_questions_plan_counts_lists_and_nothing() {
        let count = plan(&request("How many orders did we get yesterday?", Intent::Data));
        assert_eq!(count.steps[0].tool, "records.count");
        assert_eq!(count.steps[0].input["kind"], "order");
        assert!(count.steps[0].input["filter"].as_str().unwrap().contains("createdAt >= \"2026-11-04T00:00:00Z\""));
        let overdue = plan(&request("Which invoices are overdue?", Intent::Data));
        assert_eq!(overdue.steps[0].input["filter"], "(status = \"open\") AND (due_date < 1793892600)");
        assert!(plan(&request("Tell me a joke", Intent::Unsupported)).steps.is_empty());
    }

    #[test]
    fn overdue_invoices_include_the_books_when_quickbooks_is_connected() {
        let mut with_books = request("Which invoices are overdue?", Intent::Data);
        with_books.connections.push(UsableConnection { name: "connections/q".into(), provider: "quickbooks".into() });
        let overdue = plan(&with_books);
        assert_eq!(overdue.steps.len(), 2, "{overdue:?}");
        let books = &overdue.steps[1];
        assert_eq!(
            (books.input["kind"].as_str(), books.input["provider"].as_str()),
            (Some("invoice"), Some("quickbooks"))
        );
        assert_eq!(books.input["filter"], "(Balance > 0) AND (DueDate < \"2026-11-05\")");
        assert!(books.depends_on.is_empty(), "read in parallel with Stripe's");
        assert_eq!(plan(&request("Which invoices are overdue?", Intent::Data)).steps.len(), 1, "no books, no step");
        let line = describe(
            kind_named("invoice", "quickbooks"),
            &json!({"id": "130", "data": {"TotalAmt": 920.16, "Balance": 920.16, "DueDate": "2026-10-23",
                     "TxnDate": "2026-09-23", "CustomerRef": {"value": "12", "name": "Yara Patel"}}}),
        );
        assert_eq!(line, "`130`, $920.16, 2026-09-23, Yara Patel, balance $920.16, due 2026-10-23");
    }

    #[test]
    fn money_is_grouped_and_signed() {
        assert_eq!(money(&json!(123456789), Money::Cents), "$1,234,567.89");
        assert_eq!(money(&json!("12.5"), Money::Decimal), "$12.50");
        assert_eq!(money(&json!(-500), Money::Cents), "-$5.00");
    }
}
