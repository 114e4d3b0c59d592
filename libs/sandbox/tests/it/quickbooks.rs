//! The QuickBooks Online fake over HTTP: the query language and its pages, CDC, reads, idempotent writes, Fault
//! bodies, `minorversion`, the per-realm throttle, change webhooks in both shapes, and books that share the demo
//! shop's customers.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_sandbox::{
    DEMO_QUICKBOOKS_REALM as REALM, DEMO_SHOP, DEMO_SHOPIFY_TOKEN, Provider, QUICKBOOKS_CLIENT_ID,
    QUICKBOOKS_CLIENT_SECRET, QUICKBOOKS_VERIFIER_TOKEN, SandboxConfig,
};
use tokio_util::sync::CancellationToken;

use crate::support::{Answer, Env, answer, eventually, param, query_of, receiver, start, start_with};

const REDIRECT: &str = "https://app.example/cb";

/// An access token for the demo realm, through the OAuth dance.
async fn token(env: &Env) -> String {
    let url = format!(
        "{}/connect/oauth2?client_id={QUICKBOOKS_CLIENT_ID}&scope=com.intuit.quickbooks.accounting&redirect_uri={REDIRECT}&state=s&response_type=code",
        env.sandbox.quickbooks_base()
    );
    let redirect = env.http.get(url).send().await.expect("authorize");
    let params = query_of(redirect.headers()["location"].to_str().expect("location"));
    let code = param(&params, "code").expect("code").to_owned();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let response = env
        .http
        .post(format!("{}/oauth2/v1/tokens/bearer", env.sandbox.quickbooks_base()))
        .basic_auth(QUICKBOOKS_CLIENT_ID, Some(QUICKBOOKS_CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-include-refresh-token-hard-expires-in", "true")
        .body(body)
        .send()
        .await
        .expect("token");
    let answer = answer(response).await;
    assert_eq!(answer.body["x_refresh_token_expires_in"], 8_726_400);
    assert_eq!(answer.body["x_refresh_token_hard_expires_in"], 157_680_000, "asked for with the header");
    answer.body["access_token"].as_str().expect("access_token").to_owned()
}

fn api(env: &Env, path: &str) -> String {
    format!("{}/v3/company/{REALM}{path}", env.sandbox.quickbooks_base())
}

async fn get(env: &Env, token: &str, path: &str, query: &[(&str, &str)]) -> Answer {
    answer(env.http.get(api(env, path)).bearer_auth(token).query(query).send().await.expect("get")).await
}

async fn query(env: &Env, token: &str, statement: &str) -> Answer {
    get(env, token, "/query", &[("query", statement), ("minorversion", "75")]).await
}

async fn post(env: &Env, token: &str, path: &str, request_id: &str, body: Value) -> Answer {
    let url = api(env, path);
    let query = [("minorversion", "75"), ("requestid", request_id)];
    answer(env.http.post(url).bearer_auth(token).query(&query).json(&body).send().await.expect("post")).await
}

fn fault_code(answer: &Answer) -> String {
    answer.body["Fault"]["Error"][0]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_query_language_pages_filters_counts_and_refuses() {
    let env = start().await;
    let token = token(&env).await;
    let first = query(&env, &token, "SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 100").await;
    assert_eq!(first.status, 200);
    assert!(first.header("intuit_tid").is_some(), "every answer carries intuit_tid");
    let page = &first.body["QueryResponse"];
    assert_eq!(page["Invoice"].as_array().unwrap().len(), 100);
    assert_eq!((page["startPosition"].as_u64(), page["maxResults"].as_u64()), (Some(1), Some(100)));
    let invoice = &page["Invoice"][0];
    for field in ["Id", "SyncToken", "DocNumber", "TxnDate", "DueDate", "CustomerRef", "Line", "TotalAmt", "Balance"] {
        assert!(!invoice[field].is_null(), "{field}");
    }
    assert!(invoice["MetaData"]["LastUpdatedTime"].as_str().unwrap().ends_with("-07:00"));
    let last = query(&env, &token, "select * from Invoice startposition 201 maxresults 100").await;
    assert_eq!(last.body["QueryResponse"]["Invoice"].as_array().unwrap().len(), 50, "a short last page");
    let past = query(&env, &token, "SELECT * FROM Invoice STARTPOSITION 251 MAXRESULTS 100").await;
    assert_eq!(past.body["QueryResponse"], json!({}), "no entity key when nothing matched");
    let capped = query(&env, &token, "SELECT * FROM Invoice MAXRESULTS 5000").await;
    assert_eq!(capped.body["QueryResponse"]["maxResults"], 250, "MAXRESULTS is capped at 1000");
    let newest = query(&env, &token, "SELECT * FROM Invoice ORDERBY Id DESC MAXRESULTS 1").await;
    assert_eq!(newest.body["QueryResponse"]["Invoice"][0]["Id"], "250");
    let count = query(&env, &token, "SELECT COUNT(*) FROM Payment").await;
    assert_eq!(count.body["QueryResponse"]["totalCount"], 175);

    // Incremental: changed at or after a time, newest first; POST with the statement as the body says the same.
    let since = "2026-10-15T00:00:00Z";
    let statement = format!(
        "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '{since}' ORDERBY Metadata.LastUpdatedTime DESC MAXRESULTS 1000"
    );
    let changed = query(&env, &token, &statement).await;
    let rows = changed.body["QueryResponse"]["Invoice"].as_array().unwrap().clone();
    assert!(!rows.is_empty() && rows.len() < 250, "{}", rows.len());
    let times: Vec<&str> = rows.iter().map(|r| r["MetaData"]["LastUpdatedTime"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let posted = env
        .http
        .post(api(&env, "/query"))
        .bearer_auth(&token)
        .query(&[("minorversion", "75")])
        .header("content-type", "application/text")
        .body(statement.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer(posted).await.body["QueryResponse"], changed.body["QueryResponse"]);
    let overdue =
        query(&env, &token, "SELECT * FROM Invoice WHERE Balance > '0' AND DueDate < '2026-11-01' MAXRESULTS 1000")
            .await;
    assert!(overdue.body["QueryResponse"]["Invoice"].as_array().is_some_and(|r| !r.is_empty()), "some are overdue");

    let bad = query(&env, &token, "SELECT * FROM Invoice LIMIT 10").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["Fault"]["type"], "ValidationFault");
    assert!(bad.body["Fault"]["Error"][0]["Detail"].as_str().unwrap().starts_with("QueryParserError"));
    let unknown = query(&env, &token, "SELECT * FROM Spaceship").await;
    assert_eq!(unknown.status, 400);

    let statement = [("query", "SELECT * FROM Invoice")];
    assert_eq!(get(&env, &token, "/query", &statement).await.status, 400, "minorversion is required");
    let old = get(&env, &token, "/query", &[statement[0], ("minorversion", "70")]).await;
    assert_eq!(old.status, 400, "older than 75");
    let anonymous = get(&env, "not-a-token", "/query", &[statement[0], ("minorversion", "75")]).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["fault"]["type"], "AUTHENTICATION");
    let elsewhere = env
        .http
        .get(format!("{}/v3/company/123/query", env.sandbox.quickbooks_base()))
        .bearer_auth(&token)
        .query(&[statement[0], ("minorversion", "75")])
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 403, "the token is the demo realm's");
}

#[tokio::test]
async fn the_books_sell_to_the_demo_shops_customers() {
    let env = start().await;
    let people = "{ customers(first: 50) { nodes { firstName lastName email } } }";
    let shop = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, people, json!({})).await;
    let books = env.sandbox.quickbooks_entities(REALM, "Customer");
    assert_eq!(books.len(), 150);
    for node in shop.body["data"]["customers"]["nodes"].as_array().unwrap() {
        let email = node["email"].as_str().unwrap();
        let customer = books.iter().find(|c| c["PrimaryEmailAddr"]["Address"] == email).expect(email);
        assert_eq!(customer["GivenName"], node["firstName"]);
        assert_eq!(customer["FamilyName"], node["lastName"]);
    }
}

#[tokio::test]
async fn reads_and_cdc_show_changes_and_deletions_within_their_limits() {
    let env = start_with(SandboxConfig { scale: 2, ..SandboxConfig::default() }).await;
    let token = token(&env).await;
    let read = get(&env, &token, "/invoice/3", &[("minorversion", "75")]).await;
    assert_eq!(read.body["Invoice"]["Id"], "3");

    let before = get(&env, &token, "/customer/4", &[("minorversion", "75")]).await.body["Customer"].clone();
    env.sandbox.quickbooks_delete(REALM, "Invoice", "3").unwrap();
    env.sandbox.quickbooks_update(REALM, "Customer", "4", &json!({"Notes": "VIP"})).unwrap();
    let gone = get(&env, &token, "/invoice/3", &[("minorversion", "75")]).await;
    assert_eq!((gone.status.as_u16(), fault_code(&gone)), (400, "610".to_owned()), "Object Not Found");
    let after = get(&env, &token, "/customer/4", &[("minorversion", "75")]).await.body["Customer"].clone();
    let version = |c: &Value| c["SyncToken"].as_str().unwrap().parse::<u32>().unwrap();
    assert_eq!(version(&after), version(&before) + 1, "an edit is a new SyncToken");
    assert_eq!(after["Notes"], "VIP");
    assert!(after["MetaData"]["LastUpdatedTime"].as_str() > before["MetaData"]["LastUpdatedTime"].as_str());

    let now = time::OffsetDateTime::now_utc();
    let hour_ago = (now - time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let cdc = |since: String, entities: &'static str| {
        let (env, token) = (&env, &token);
        async move {
            get(env, token, "/cdc", &[("entities", entities), ("changedSince", &since), ("minorversion", "75")]).await
        }
    };
    let changes = cdc(hour_ago.clone(), "Invoice,Customer").await;
    let responses = changes.body["CDCResponse"][0]["QueryResponse"].as_array().unwrap().clone();
    assert_eq!(
        responses[0]["Invoice"],
        json!([{"domain": "QBO", "status": "Deleted", "Id": "3",
        "MetaData": responses[0]["Invoice"][0]["MetaData"].clone()}])
    );
    assert_eq!(responses[1]["Customer"][0]["Notes"], "VIP");
    let too_old = (now - time::Duration::days(31)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let refused = cdc(too_old, "Invoice").await;
    assert_eq!(refused.status, 400, "30 days back at most");
    assert_eq!(refused.body["Fault"]["type"], "ValidationFault");

    // 1,000 objects at most, all entities together.
    for (entity, count) in [("Invoice", 500), ("Customer", 300), ("Payment", 350)] {
        for id in 1..=count {
            let _ = env.sandbox.quickbooks_update(REALM, entity, &id.to_string(), &json!({"PrivateNote": "touched"}));
        }
    }
    let capped = cdc(hour_ago, "Invoice,Customer,Payment").await;
    let total: usize = capped.body["CDCResponse"][0]["QueryResponse"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_object().unwrap().iter())
        .filter_map(|(_, v)| v.as_array().map(Vec::len))
        .sum();
    assert_eq!(total, 1000);
}

#[tokio::test]
async fn writes_answer_a_repeated_requestid_with_the_first_answer() {
    let env = start().await;
    let token = token(&env).await;
    let customer = json!({"DisplayName": "Corner Cafe", "PrimaryEmailAddr": {"Address": "ap@corner.example"}});
    let first = post(&env, &token, "/customer", "r-1", customer.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = post(&env, &token, "/customer", "r-1", customer.clone()).await;
    assert_eq!(again.body["Customer"], first.body["Customer"]);
    assert_eq!(env.sandbox.quickbooks_entities(REALM, "Customer").len(), 151, "one customer");
    let duplicate = post(&env, &token, "/customer", "r-2", customer).await;
    assert_eq!((duplicate.status.as_u16(), fault_code(&duplicate)), (400, "6240".to_owned()));
    let customer_id = first.body["Customer"]["Id"].as_str().unwrap().to_owned();

    let invoice = json!({"CustomerRef": {"value": customer_id},
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 90.0,
                  "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 3, "UnitPrice": 30.0}}]});
    let created = post(&env, &token, "/invoice", "r-3", invoice).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        (created.body["Invoice"]["TotalAmt"].as_f64(), created.body["Invoice"]["Balance"].as_f64()),
        (Some(90.0), Some(90.0))
    );
    let invoice_id = created.body["Invoice"]["Id"].as_str().unwrap().to_owned();
    let missing = post(&env, &token, "/invoice", "r-4", json!({"CustomerRef": {"value": "99999"}, "Line": [{}]})).await;
    assert_eq!(fault_code(&missing), "2500", "an unknown customer");

    let payment = |amount: f64| {
        json!({"CustomerRef": {"value": customer_id}, "TotalAmt": amount,
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}]})
    };
    let paid = post(&env, &token, "/payment", "r-5", payment(40.0)).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    post(&env, &token, "/payment", "r-5", payment(40.0)).await;
    let after = get(&env, &token, &format!("/invoice/{invoice_id}"), &[("minorversion", "75")]).await;
    assert_eq!(after.body["Invoice"]["Balance"].as_f64(), Some(50.0), "paid once");
    let over = post(&env, &token, "/payment", "r-6", payment(60.0)).await;
    assert_eq!(over.status, 400, "more than the balance");

    let url = format!(
        "{}?minorversion=75&requestid=r-7&sendTo=books%40corner.example",
        api(&env, &format!("/invoice/{invoice_id}/send"))
    );
    let sent = answer(env.http.post(url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(sent.body["Invoice"]["EmailStatus"], "EmailSent");
    assert_eq!(sent.body["Invoice"]["BillEmail"]["Address"], "books@corner.example");
}

#[tokio::test]
async fn a_realm_gets_500_calls_a_minute() {
    let env = start().await;
    let token = token(&env).await;
    for n in 0..500 {
        let read = get(&env, &token, "/item/1", &[("minorversion", "75")]).await;
        assert_eq!(read.status, 200, "call {n}");
    }
    let throttled = get(&env, &token, "/item/1", &[("minorversion", "75")]).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.body["fault"]["error"][0]["code"], "3001");
    let wait: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(env.sandbox.counts().throttled_for(Provider::QuickBooks), 1);
}

#[tokio::test]
async fn changes_send_signed_webhooks_in_either_shape() {
    let env = start().await;
    let token = token(&env).await;
    let stop = CancellationToken::new();
    let (url, received) = receiver(&stop).await;
    env.sandbox.set_webhook_target(Provider::QuickBooks, url);

    let created = post(&env, &token, "/customer", "w-1", json!({"DisplayName": "Hook Customer"})).await;
    let id = created.body["Customer"]["Id"].as_str().unwrap().to_owned();
    eventually("a CloudEvents delivery", || async { !received.lock().unwrap().is_empty() }).await;
    {
        let (headers, body) = received.lock().unwrap()[0].clone();
        let signature = headers["intuit-signature"].to_str().unwrap();
        switchboard_signatures::quickbooks::verify(QUICKBOOKS_VERIFIER_TOKEN, signature, &body).expect("verifies");
        let events: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(events[0]["type"], "qbo.customer.created.v1");
        assert_eq!(events[0]["intuitentityid"], id.as_str());
        assert_eq!(events[0]["intuitaccountid"], REALM);
    }

    env.sandbox.set_quickbooks_legacy_webhooks(true);
    env.sandbox.quickbooks_delete(REALM, "Customer", &id).unwrap();
    eventually("a legacy delivery", || async { received.lock().unwrap().len() >= 2 }).await;
    let (headers, body) = received.lock().unwrap()[1].clone();
    let signature = headers["intuit-signature"].to_str().unwrap();
    switchboard_signatures::quickbooks::verify(QUICKBOOKS_VERIFIER_TOKEN, signature, &body).expect("verifies");
    let notification: Value = serde_json::from_slice(&body).unwrap();
    let entity = &notification["eventNotifications"][0]["dataChangeEvent"]["entities"][0];
    assert_eq!(
        (entity["name"].as_str(), entity["id"].as_str(), entity["operation"].as_str()),
        (Some("Customer"), Some(id.as_str()), Some("Delete"))
    );
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
