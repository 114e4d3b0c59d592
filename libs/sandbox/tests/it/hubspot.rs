//! The HubSpot fake: OAuth with rotating refresh tokens, the demo portal joined up with the shop, objects paging,
//! search with its 10,000 cap, writes (upsert by e-mail, deals in pipeline stages, unique properties, notes,
//! associations), HubSpot's error bodies and rate-limit headers, and signed webhooks on changes.

use serde_json::{Value, json};
use switchboard_sandbox::{
    DEMO_HUBSPOT_PORTAL, DEMO_HUBSPOT_TOKEN, DEMO_STRIPE_KEY, Fault, HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, Provider,
};
use tokio_util::sync::CancellationToken;

use crate::support::{Answer, Env, answer, eventually, param, query_of, receiver, start};

const REDIRECT: &str = "https://app.example/cb";

impl Env {
    async fn hubspot(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.sandbox.hubspot_base());
        let mut request = self.http.request(method, url).bearer_auth(DEMO_HUBSPOT_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("request")).await
    }

    async fn hubspot_get(&self, path: &str) -> Answer {
        self.hubspot(reqwest::Method::GET, path, None).await
    }

    async fn hubspot_post(&self, path: &str, body: Value) -> Answer {
        self.hubspot(reqwest::Method::POST, path, Some(body)).await
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

#[tokio::test]
async fn hubspot_rotates_its_refresh_token_and_signs_v3() {
    let env = start().await;
    let redirect = env
        .http
        .get(format!(
            "{}/oauth/authorize?client_id={HUBSPOT_CLIENT_ID}&redirect_uri={REDIRECT}&scope=crm.objects.contacts.read%20oauth&state=h1",
            env.sandbox.hubspot_base()
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(redirect.status(), 302);
    let params = query_of(redirect.headers()["location"].to_str().expect("location"));
    assert_eq!(param(&params, "state"), Some("h1"));
    let token = |grant: &[(&str, &str)]| {
        let mut form: Vec<(&str, &str)> = grant.to_vec();
        form.push(("client_id", HUBSPOT_CLIENT_ID));
        form.push(("client_secret", HUBSPOT_CLIENT_SECRET));
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        env.http
            .post(format!("{}/oauth/2026-03/token", env.sandbox.hubspot_base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let code = param(&params, "code").expect("code").to_owned();
    let grant = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let tokens = answer(token(&grant).await.expect("token")).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body["expires_in"], 1800);
    assert_eq!(tokens.body["hub_id"], DEMO_HUBSPOT_PORTAL);
    let first = tokens.body["refresh_token"].as_str().expect("refresh").to_owned();
    let again = answer(token(&[("grant_type", "refresh_token"), ("refresh_token", &first)]).await.expect("t")).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let second = again.body["refresh_token"].as_str().expect("refresh").to_owned();
    assert_ne!(second, first, "rotated");
    let reused = answer(token(&[("grant_type", "refresh_token"), ("refresh_token", &first)]).await.expect("t")).await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.body["error"], "invalid_grant");
    assert_eq!(reused.body["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(env.sandbox.counts().refreshes_for(Provider::HubSpot), 1);

    let access = again.body["access_token"].as_str().expect("access");
    let details = format!("{}/account-info/v3/details", env.sandbox.hubspot_base());
    let ok = answer(env.http.get(&details).bearer_auth(access).send().await.expect("get")).await;
    assert_eq!(ok.body["portalId"], DEMO_HUBSPOT_PORTAL);
    assert_eq!(ok.header("x-hubspot-ratelimit-max"), Some("110"), "an OAuth app's burst limit");
    assert!(ok.header("x-hubspot-ratelimit-daily").is_none(), "OAuth calls carry no daily headers");
    let info = format!("{}/oauth/v1/access-tokens/{access}", env.sandbox.hubspot_base());
    let info = answer(env.http.get(&info).send().await.expect("get")).await;
    assert_eq!(info.body["hub_id"], DEMO_HUBSPOT_PORTAL);
    assert_eq!(info.body["scopes"], json!(["crm.objects.contacts.read", "oauth"]));
    let unknown = format!("{}/oauth/v1/access-tokens/CNa1-unknown", env.sandbox.hubspot_base());
    assert_eq!(env.http.get(&unknown).send().await.expect("get").status(), 404);

    let uri = "https://gateway.example/v1/webhooks/hubspot";
    let delivery = env.sandbox.hubspot_webhook(
        DEMO_HUBSPOT_PORTAL,
        uri,
        json!([{"subscriptionType": "deal.creation", "objectId": 7}]),
    );
    let headers = switchboard_signatures::hubspot::Headers {
        signature: delivery.header("X-HubSpot-Signature"),
        signature_version: delivery.header("X-HubSpot-Signature-Version"),
        signature_v3: delivery.header("X-HubSpot-Signature-v3"),
        request_timestamp: delivery.header("X-HubSpot-Request-Timestamp"),
    };
    switchboard_signatures::hubspot::verify(HUBSPOT_CLIENT_SECRET, &headers, "POST", uri, &delivery.body, now_ms())
        .expect("verifies");
}

#[tokio::test]
async fn objects_page_to_the_end_and_contacts_are_the_shops_customers() {
    let env = start().await;
    for kind in ["contacts", "companies", "deals"] {
        let mut ids = std::collections::BTreeSet::new();
        let mut after = String::new();
        let mut pages = 0;
        loop {
            let page = env
                .hubspot_get(&format!("/crm/v3/objects/{kind}?limit=100&after={after}&associations=companies,contacts"))
                .await;
            assert_eq!(page.status, 200, "{}", page.body);
            pages += 1;
            for object in page.body["results"].as_array().expect("results") {
                assert!(ids.insert(object["id"].as_str().expect("id").to_owned()), "{kind}: no repeats");
                assert!(object["updatedAt"].as_str().expect("updatedAt").ends_with('Z'));
                assert_eq!(object["archived"], false);
            }
            match page.body["paging"]["next"]["after"].as_str() {
                Some(next) => after = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(ids.len(), env.sandbox.hubspot_count(kind).expect("count"), "{kind}");
        assert!(pages > 1 || kind == "companies", "{kind} spans pages");
    }
    assert!(env.hubspot_get("/crm/v3/objects/contacts?limit=101").await.status == 400, "limit is at most 100");

    // A Stripe customer and a Shopify customer are HubSpot contacts with the same e-mail.
    let stripe = env.stripe_get(DEMO_STRIPE_KEY, "/v1/customers?limit=1").await;
    let email = stripe.body["data"][0]["email"].as_str().expect("email");
    let contact = env.hubspot_get(&format!("/crm/v3/objects/contacts/{email}?idProperty=email")).await;
    assert_eq!(contact.status, 200, "{}", contact.body);
    assert_eq!(contact.body["properties"]["email"], email);
    let shop = env
        .graphql(
            switchboard_sandbox::DEMO_SHOP,
            switchboard_sandbox::DEMO_SHOPIFY_TOKEN,
            "{ customers(first: 1) { nodes { email } } }",
            json!({}),
        )
        .await;
    let email = shop.body["data"]["customers"]["nodes"][0]["email"].as_str().expect("shop email");
    let contact =
        env.hubspot_get(&format!("/crm/v3/objects/contacts/{email}?idProperty=email&associations=deals")).await;
    assert_eq!(contact.status, 200, "{}", contact.body);

    let missing = env.hubspot_get("/crm/v3/objects/deals/1").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["status"], "error");
    assert_eq!(missing.body["category"], "OBJECT_NOT_FOUND");
    assert!(missing.body["correlationId"].is_string());
}

#[tokio::test]
async fn search_filters_sorts_and_stops_at_ten_thousand() {
    let env = start().await;
    let since = now_ms() - 60_000;
    env.sandbox.hubspot_bulk_create("contacts", 10_050).expect("bulk");
    let search = |after: &str, limit: u32| {
        json!({
            "filterGroups": [{"filters": [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": since.to_string()},
                {"propertyName": "lastmodifieddate", "operator": "LT", "value": (now_ms() + 1).to_string()},
            ]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["email", "lastmodifieddate"],
            "limit": limit,
            "after": after,
        })
    };
    let first = env.hubspot_post("/crm/v3/objects/contacts/search", search("", 200)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["total"], 10_050);
    let results = first.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 200);
    let stamps: Vec<String> =
        results.iter().map(|r| r["properties"]["lastmodifieddate"].as_str().expect("date").to_owned()).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "ascending");
    assert_eq!(first.body["paging"]["next"]["after"], "200");
    let last = env.hubspot_post("/crm/v3/objects/contacts/search", search("9800", 200)).await;
    assert_eq!(last.status, 200);
    assert_eq!(last.body["paging"]["next"]["after"], "10000", "more match, as HubSpot says");
    let capped = env.hubspot_post("/crm/v3/objects/contacts/search", search("10000", 200)).await;
    assert_eq!(capped.status, 400, "{}", capped.body);
    assert_eq!(capped.body["category"], "VALIDATION_ERROR");
    let too_many = env.hubspot_post("/crm/v3/objects/contacts/search", search("", 201)).await;
    assert_eq!(too_many.status, 400);

    // An older window holds only the demo data.
    let old = json!({"filterGroups": [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": since.to_string()}]}], "limit": 1});
    let old = env.hubspot_post("/crm/v3/objects/deals/search", old).await;
    assert_eq!(old.body["total"].as_u64(), Some(env.sandbox.hubspot_count("deals").expect("count") as u64));
}

#[tokio::test]
async fn writes_upsert_by_email_check_stages_and_unique_values() {
    let env = start().await;
    let upsert = |first: &str| {
        json!({"inputs": [{"idProperty": "email", "id": "new.lead@example.com",
            "properties": {"firstname": first, "lastname": "Lead"}}]})
    };
    let created = env.hubspot_post("/crm/v3/objects/contacts/batch/upsert", upsert("New")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["results"][0]["new"], true);
    let id = created.body["results"][0]["id"].as_str().expect("id").to_owned();
    let updated = env.hubspot_post("/crm/v3/objects/contacts/batch/upsert", upsert("Renamed")).await;
    assert_eq!(updated.body["results"][0]["new"], false);
    assert_eq!(updated.body["results"][0]["id"], id.as_str(), "the same contact");
    assert_eq!(updated.body["results"][0]["properties"]["firstname"], "Renamed");
    let duplicate =
        env.hubspot_post("/crm/v3/objects/contacts", json!({"properties": {"email": "NEW.LEAD@example.com"}})).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.body["category"], "CONFLICT");
    assert!(duplicate.body["message"].as_str().expect("message").contains(&id));

    let bad_stage = json!({"properties": {"dealname": "x", "pipeline": "default", "dealstage": "nope"}});
    let refused = env.hubspot_post("/crm/v3/objects/deals", bad_stage).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body["message"].as_str().expect("message").contains("INVALID_OPTION"), "{}", refused.body);
    let unknown = env
        .hubspot_post("/crm/v3/objects/deals", json!({"properties": {"dealstage": "closedwon", "my_key": "1"}}))
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body["message"].as_str().expect("message").contains("PROPERTY_DOESNT_EXIST"));

    let property = json!({"name": "my_key", "label": "My key", "type": "string", "fieldType": "text",
        "groupName": "dealinformation", "hasUniqueValue": true});
    assert_eq!(env.hubspot_post("/crm/v3/properties/deals", property.clone()).await.status, 201);
    assert_eq!(env.hubspot_post("/crm/v3/properties/deals", property).await.status, 409);
    let deal = json!({
        "properties": {"dealname": "Wholesale", "pipeline": "default", "dealstage": "qualifiedtobuy", "amount": "900",
            "my_key": "k-1"},
        "associations": [{"to": {"id": id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}],
    });
    let made = env.hubspot_post("/crm/v3/objects/deals", deal.clone()).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let deal_id = made.body["id"].as_str().expect("id").to_owned();
    let twice = env.hubspot_post("/crm/v3/objects/deals", deal).await;
    assert_eq!(twice.status, 409, "a used unique value: {}", twice.body);
    let found = env.hubspot_get("/crm/v3/objects/deals/k-1?idProperty=my_key").await;
    assert_eq!(found.body["id"], deal_id.as_str());
    assert_eq!(
        env.sandbox.hubspot_associations("deals", &deal_id, "contacts").expect("links"),
        std::slice::from_ref(&id)
    );

    // Notes with associations, and associating by PUT (twice: no change the second time).
    let note = json!({"properties": {"hs_note_body": "Called", "hs_timestamp": now_ms().to_string()},
        "associations": [{"to": {"id": deal_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}]}]});
    let note = env.hubspot_post("/crm/v3/objects/notes", note).await;
    assert_eq!(note.status, 201, "{}", note.body);
    let company = env.hubspot_get("/crm/v3/objects/companies?limit=1").await.body["results"][0]["id"].clone();
    let company = company.as_str().expect("company");
    for _ in 0..2 {
        let put = env
            .hubspot(
                reqwest::Method::PUT,
                &format!("/crm/v4/objects/contacts/{id}/associations/default/companies/{company}"),
                None,
            )
            .await;
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!(put.body["results"][0]["associationSpec"]["associationTypeId"], 279);
    }
    let links = env.hubspot_get(&format!("/crm/v4/objects/companies/{company}/associations/contacts")).await;
    let linked: Vec<Value> =
        links.body["results"].as_array().expect("results").iter().map(|r| r["toObjectId"].clone()).collect();
    assert!(linked.contains(&json!(id.parse::<u64>().expect("id"))));
    let batch =
        env.hubspot_post("/crm/v4/associations/deals/notes/batch/read", json!({"inputs": [{"id": deal_id}]})).await;
    assert_eq!(batch.body["results"][0]["to"][0]["toObjectId"].to_string(), note.body["id"].as_str().expect("note id"));
}

#[tokio::test]
async fn answers_carry_rate_limit_headers_and_faults_answer_as_hubspot() {
    let env = start().await;
    let one = env.hubspot_get("/crm/v3/objects/deals?limit=1").await;
    let two = env.hubspot_get("/crm/v3/objects/deals?limit=1").await;
    assert_eq!(one.header("x-hubspot-ratelimit-max"), Some("190"));
    assert_eq!(one.header("x-hubspot-ratelimit-interval-milliseconds"), Some("10000"));
    let remaining = |a: &Answer| a.header("x-hubspot-ratelimit-remaining").and_then(|v| v.parse::<u32>().ok());
    assert_eq!(remaining(&one).map(|r| r - 1), remaining(&two));
    assert!(two.header("x-hubspot-ratelimit-daily-remaining").is_some(), "private apps get the daily pair");

    env.sandbox.inject(Fault { provider: Provider::HubSpot, status: 429, count: 1, retry_after: None });
    let throttled = env.hubspot_get("/crm/v3/objects/deals?limit=1").await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.body["category"], "RATE_LIMITS");
    assert_eq!(throttled.body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(throttled.header("x-hubspot-ratelimit-remaining"), Some("0"));

    let refused = answer(
        env.http
            .get(format!("{}/crm/v3/objects/deals", env.sandbox.hubspot_base()))
            .bearer_auth("CNa1-unknown")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["category"], "INVALID_AUTHENTICATION");
}

#[tokio::test]
async fn changes_send_signed_webhooks_to_the_target() {
    let env = start().await;
    let stop = CancellationToken::new();
    let (url, received) = receiver(&stop).await;
    env.sandbox.set_webhook_target(Provider::HubSpot, url.clone());
    let deal = env.hubspot_get("/crm/v3/objects/deals?limit=1").await.body["results"][0]["id"].clone();
    let deal = deal.as_str().expect("id");
    let events = env.sandbox.hubspot_update("deals", deal, json!({"dealstage": "closedwon"})).expect("update");
    assert_eq!(events[0]["subscriptionType"], "deal.propertyChange");
    assert_eq!(events[0]["propertyName"], "dealstage");
    let deleted = env.sandbox.hubspot_delete("deals", deal).expect("delete");
    assert_eq!(deleted[0]["subscriptionType"], "deal.deletion");
    assert_eq!(env.hubspot_get(&format!("/crm/v3/objects/deals/{deal}")).await.status, 404);
    let archived = env.hubspot_get("/crm/v3/objects/deals?archived=true").await;
    assert_eq!(archived.body["results"][0]["id"], deal);

    eventually("two deliveries", || {
        let received = received.clone();
        async move { received.lock().expect("lock").len() >= 2 }
    })
    .await;
    let (headers, body) = received.lock().expect("lock")[0].clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = switchboard_signatures::hubspot::Headers {
        signature: header("x-hubspot-signature"),
        signature_version: header("x-hubspot-signature-version"),
        signature_v3: header("x-hubspot-signature-v3"),
        request_timestamp: header("x-hubspot-request-timestamp"),
    };
    switchboard_signatures::hubspot::verify(HUBSPOT_CLIENT_SECRET, &signature, "POST", &url, &body, now_ms())
        .expect("signed for the target URL");
    let batch: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(batch[0]["portalId"], DEMO_HUBSPOT_PORTAL);
    assert_eq!(batch[0]["objectId"].to_string(), deal);
    stop.cancel();
}
