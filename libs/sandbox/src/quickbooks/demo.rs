//! The demo company's books, generated from the seed. The customers are the demo shop's customers (same names,
//! same e-mail addresses) and the items are the shop's products (same titles, SKUs and prices), so "which of my
//! shop's customers owe me money?" has a true answer. Per unit of scale: 150 customers and 60 items (the shop's),
//! 12 vendors, 250 invoices numbered from 1001 in date order, 175 payments and 80 bills.
//!
//! Invoices are Net 30. Seven in ten are paid, one of those seven in part (one payment each, so the payment count
//! is exact); the rest are open, and an open invoice whose due date has passed is overdue (`DueDate` before today,
//! `Balance` above zero). Six bills in ten are paid.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Company, Entity, Kind, metadata, money, qbo_date};
use crate::clock::{DATA_WINDOW, epoch};
use crate::names::{PRODUCT_ADJECTIVES, PRODUCT_NOUNS};
use crate::prng::Rng;
use crate::shopify::Shop;

pub(crate) const INVOICES: usize = 250;
pub(crate) const BILLS: usize = 80;
pub(crate) const VENDORS: &[&str] = &[
    "Highland Green Coffee Importers",
    "Pacific Packaging Supply",
    "Cascade Roasting Equipment",
    "Riverside Dairy Co-op",
    "Portland Gas & Electric",
    "Summit Logistics",
    "Evergreen Print Shop",
    "Blue Fern Ceramics",
    "Northwest Paper Goods",
    "Willamette Property Management",
    "Ridge Line Insurance",
    "Harbor Freight Forwarding",
];

/// Invoices are due this long after their date.
const TERMS: i64 = 30 * 86_400;

const INCOME_ACCOUNT: (&str, &str) = ("79", "Sales of Product Income");
const EXPENSE_ACCOUNTS: &[(&str, &str)] =
    &[("80", "Cost of Goods Sold"), ("7", "Advertising"), ("17", "Utilities"), ("13", "Rent or Lease")];

fn entity(id: u64, created: i64, updated: i64, mut body: Value) -> Entity {
    body["Id"] = json!(id.to_string());
    body["SyncToken"] = json!(if updated > created { "1" } else { "0" });
    body["MetaData"] = metadata(created, updated);
    body["domain"] = json!("QBO");
    body["sparse"] = json!(false);
    Entity { id, updated, body }
}

fn reference(id: u64, name: &str) -> Value {
    json!({"value": id.to_string(), "name": name})
}

/// The demo company at `scale`, its customers and items the demo shop's.
pub(crate) fn demo_company(seed: u64, scale: u32, shop: &Shop) -> Company {
    let scale = scale.max(1) as usize;
    let start = epoch() - DATA_WINDOW;
    let mut company = Company::default();

    for (i, customer) in shop.customers.iter().enumerate() {
        let name = format!("{} {}", customer.first_name, customer.last_name);
        let mut body = json!({
            "DisplayName": name,
            "GivenName": customer.first_name,
            "FamilyName": customer.last_name,
            "FullyQualifiedName": name,
            "PrintOnCheckName": name,
            "PrimaryEmailAddr": {"Address": customer.email},
            "Active": customer.state != "DISABLED",
            "Job": false,
            "BillWithParent": false,
            "Taxable": true,
            "Balance": 0.0,
            "BalanceWithJobs": 0.0,
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "PreferredDeliveryMethod": "Email",
        });
        if let Some(phone) = &customer.phone {
            body["PrimaryPhone"] = json!({"FreeFormNumber": phone});
        }
        // Two customers may share a name; QuickBooks display names are unique.
        if shop.customers[..i].iter().any(|c| c.first_name == customer.first_name && c.last_name == customer.last_name)
        {
            body["DisplayName"] = json!(format!("{name} ({})", customer.email));
        }
        company.insert(Kind::Customer, entity(i as u64 + 1, customer.created_at, customer.updated_at, body));
    }

    let mut names = HashMap::new();
    for (i, product) in shop.products.iter().enumerate() {
        let Some(variant) = product.variants.first() else { continue };
        let taken = names.entry(product.title.clone()).or_insert(0);
        *taken += 1;
        let name = if *taken == 1 { product.title.clone() } else { format!("{} ({})", product.title, variant.sku) };
        let inventory = product.product_type == "Coffee" || product.product_type == "Tea";
        let mut body = json!({
            "Name": name,
            "FullyQualifiedName": name,
            "Sku": variant.sku,
            "Description": format!("{} — {}", product.title, product.product_type),
            "Active": product.status != "ARCHIVED",
            "Type": if inventory { "Inventory" } else { "NonInventory" },
            "UnitPrice": money(variant.price),
            "PurchaseCost": money(variant.price * 45 / 100),
            "Taxable": true,
            "IncomeAccountRef": {"value": INCOME_ACCOUNT.0, "name": INCOME_ACCOUNT.1},
            "ExpenseAccountRef": {"value": "80", "name": "Cost of Goods Sold"},
        });
        if inventory {
            body["TrackQtyOnHand"] = json!(true);
            body["QtyOnHand"] = json!(variant.inventory_quantity);
            body["InvStartDate"] = json!(qbo_date(product.created_at));
            body["AssetAccountRef"] = json!({"value": "81", "name": "Inventory Asset"});
        }
        company.insert(Kind::Item, entity(i as u64 + 1, product.created_at, product.updated_at, body));
    }

    let vendor_created = start - 200 * 86_400;
    for (i, name) in VENDORS.iter().enumerate() {
        let email = format!("billing@{}.example", name.to_lowercase().replace([' ', '&'], ""));
        let body = json!({
            "DisplayName": name, "CompanyName": name, "PrintOnCheckName": name, "Active": true, "Balance": 0.0,
            "PrimaryEmailAddr": {"Address": email},
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        });
        company.insert(Kind::Vendor, entity(i as u64 + 1, vendor_created, vendor_created, body));
    }

    invoices_and_payments(seed, INVOICES * scale, &mut company, start);
    bills(seed, BILLS * scale, &mut company, start);
    company
}

/// Customer `id`'s reference, or `None` when there are no customers.
fn customer_ref(company: &Company, id: u64) -> Option<Value> {
    let customer = company.get(Kind::Customer, id)?;
    Some(reference(id, customer.body["DisplayName"].as_str().unwrap_or_default()))
}

fn invoices_and_payments(seed: u64, count: usize, company: &mut Company, start: i64) {
    let mut rng = Rng::stream(seed, "quickbooks/invoices");
    let customers: Vec<(u64, i64, String)> = company
        .of(Kind::Customer)
        .map(|c| {
            (c.id, c.body["MetaData"]["CreateTime"].as_str().and_then(super::parse_time).unwrap_or(start), email(c))
        })
        .collect();
    let items: Vec<(u64, String, i64, String)> = company
        .of(Kind::Item)
        .map(|i| {
            let price = super::cents(&i.body["UnitPrice"]).unwrap_or(0);
            let name = i.body["Name"].as_str().unwrap_or_default().to_owned();
            let description = i.body["Description"].as_str().unwrap_or_default().to_owned();
            (i.id, name, price, description)
        })
        .collect();
    if customers.is_empty() || items.is_empty() {
        return;
    }
    let mut dates: Vec<i64> = (0..count).map(|_| rng.range(start, epoch() - 3_600)).collect();
    dates.sort_unstable();
    let mut payments = Vec::new();
    let mut balances: HashMap<u64, i64> = HashMap::new();
    for (i, created) in dates.into_iter().enumerate() {
        // A customer who existed by then, if any did.
        let known: Vec<&(u64, i64, String)> = customers.iter().filter(|c| c.1 <= created).collect();
        let (customer_id, _, customer_email) = if known.is_empty() { rng.pick(&customers) } else { *rng.pick(&known) };
        let mut lines = Vec::new();
        let mut total = 0;
        for n in 0..(1 + rng.below(3)) {
            let (item_id, name, price, description) = rng.pick(&items);
            // Wholesale quantities.
            let quantity = rng.range(2, 25);
            let amount = price * quantity;
            total += amount;
            lines.push(json!({
                "Id": (n + 1).to_string(), "LineNum": n + 1, "Description": description, "Amount": money(amount),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": reference(*item_id, name), "UnitPrice": money(*price),
                                        "Qty": quantity, "TaxCodeRef": {"value": "NON"}},
            }));
        }
        lines.push(json!({"Amount": money(total), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}));
        let paid = match i % 10 {
            0..6 => total,
            6 => (total / 2 / 100).max(1) * 100,
            _ => 0,
        };
        let paid_at = (paid > 0).then(|| rng.range(created + 3_600, created + 40 * 86_400).min(epoch() - 60));
        let updated = paid_at.unwrap_or(created);
        let id = i as u64 + 1;
        let Some(customer) = customer_ref(company, *customer_id) else { continue };
        let balance = total - paid;
        *balances.entry(*customer_id).or_default() += balance;
        let emailed = rng.percent(85);
        let body = json!({
            "DocNumber": (1001 + i).to_string(),
            "TxnDate": qbo_date(created),
            "DueDate": qbo_date(created + TERMS),
            "SalesTermRef": {"value": "3", "name": "Net 30"},
            "CustomerRef": customer,
            "BillEmail": {"Address": customer_email},
            "Line": lines,
            "TotalAmt": money(total),
            "Balance": money(balance),
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "EmailStatus": if emailed { "EmailSent" } else { "NotSet" },
            "PrintStatus": "NotSet",
            "ApplyTaxAfterDiscount": false,
            "LinkedTxn": [],
        });
        company.insert(Kind::Invoice, entity(id, created, updated, body));
        if let Some(at) = paid_at {
            payments.push((at, id, customer, paid));
        }
    }
    payments.sort_by_key(|p| p.0);
    for (n, (at, invoice, customer, amount)) in payments.into_iter().enumerate() {
        let id = n as u64 + 1;
        let body = json!({
            "TxnDate": qbo_date(at),
            "CustomerRef": customer,
            "TotalAmt": money(amount),
            "UnappliedAmt": 0.0,
            "ProcessPayment": false,
            "DepositToAccountRef": {"value": "35", "name": "Checking"},
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "Line": [{"Amount": money(amount), "LinkedTxn": [{"TxnId": invoice.to_string(), "TxnType": "Invoice"}]}],
        });
        company.insert(Kind::Payment, entity(id, at, at, body));
        if let Some(inv) = company.get_mut(Kind::Invoice, invoice)
            && let Some(links) = inv.body["LinkedTxn"].as_array_mut()
        {
            links.push(json!({"TxnId": id.to_string(), "TxnType": "Payment"}));
        }
    }
    for (customer, balance) in balances {
        if let Some(c) = company.get_mut(Kind::Customer, customer) {
            c.body["Balance"] = money(balance);
            c.body["BalanceWithJobs"] = money(balance);
        }
    }
}

fn email(customer: &Entity) -> String {
    customer.body["PrimaryEmailAddr"]["Address"].as_str().unwrap_or_default().to_owned()
}

fn bills(seed: u64, count: usize, company: &mut Company, start: i64) {
    let mut rng = Rng::stream(seed, "quickbooks/bills");
    let vendors: Vec<(u64, String)> = company
        .of(Kind::Vendor)
        .map(|v| (v.id, v.body["DisplayName"].as_str().unwrap_or_default().to_owned()))
        .collect();
    if vendors.is_empty() {
        return;
    }
    let mut dates: Vec<i64> = (0..count).map(|_| rng.range(start, epoch() - 3_600)).collect();
    dates.sort_unstable();
    for (i, created) in dates.into_iter().enumerate() {
        let (vendor_id, vendor) = rng.pick(&vendors);
        let (account_id, account) = *rng.pick(EXPENSE_ACCOUNTS);
        let amount = rng.range(40, 3_000) * 100 + *rng.pick(&[0, 25, 50, 99]);
        let paid_at = rng.percent(60).then(|| rng.range(created + 86_400, created + 35 * 86_400).min(epoch() - 60));
        let description = format!("{} {} — supplies", rng.pick(PRODUCT_ADJECTIVES), rng.pick(PRODUCT_NOUNS));
        let body = json!({
            "DocNumber": format!("B-{:04}", i + 1),
            "TxnDate": qbo_date(created),
            "DueDate": qbo_date(created + TERMS),
            "VendorRef": reference(*vendor_id, vendor),
            "APAccountRef": {"value": "33", "name": "Accounts Payable (A/P)"},
            "Line": [{
                "Id": "1", "LineNum": 1, "Description": description, "Amount": money(amount),
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account_id, "name": account},
                                                  "BillableStatus": "NotBillable"},
            }],
            "TotalAmt": money(amount),
            "Balance": money(if paid_at.is_some() { 0 } else { amount }),
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        });
        company.insert(Kind::Bill, entity(i as u64 + 1, created, paid_at.unwrap_or(created), body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(seed: u64, scale: u32) -> Company {
        let shopify = crate::shopify::ShopifyData::generate(seed, scale);
        let mut shopify = shopify;
        let shop = shopify.shop_mut(crate::DEMO_SHOP);
        demo_company(seed, scale, shop)
    }

    #[test]
    fn the_books_have_the_documented_sizes_and_the_shops_people() {
        let mut shopify = crate::shopify::ShopifyData::generate(42, 1);
        let shop = shopify.shop_mut(crate::DEMO_SHOP);
        let books = demo_company(42, 1, shop);
        assert_eq!(books.count(Kind::Customer), shop.customers.len());
        assert_eq!(books.count(Kind::Item), shop.products.len());
        assert_eq!(books.count(Kind::Invoice), INVOICES);
        assert_eq!(books.count(Kind::Payment), INVOICES * 7 / 10);
        assert_eq!(books.count(Kind::Bill), BILLS);
        assert_eq!(books.count(Kind::Vendor), VENDORS.len());
        let first = books.get(Kind::Customer, 1).unwrap();
        assert_eq!(first.body["PrimaryEmailAddr"]["Address"], shop.customers[0].email.as_str());
        assert_eq!(first.body["GivenName"], shop.customers[0].first_name.as_str());
        let item = books.get(Kind::Item, 1).unwrap();
        assert_eq!(item.body["Sku"], shop.products[0].variants[0].sku.as_str());
    }

    #[test]
    fn some_invoices_are_overdue_and_payments_match_balances() {
        let books = company(42, 1);
        let today = qbo_date(epoch());
        let overdue = books
            .of(Kind::Invoice)
            .filter(|i| {
                i.body["DueDate"].as_str().unwrap() < today.as_str()
                    && super::super::cents(&i.body["Balance"]).unwrap() > 0
            })
            .count();
        assert!(overdue > 20, "{overdue} overdue");
        let owed: i64 = books.of(Kind::Invoice).map(|i| super::super::cents(&i.body["Balance"]).unwrap()).sum();
        let balances: i64 = books.of(Kind::Customer).map(|c| super::super::cents(&c.body["Balance"]).unwrap()).sum();
        assert_eq!(owed, balances, "customer balances add up to what invoices are owed");
        let billed: i64 = books.of(Kind::Invoice).map(|i| super::super::cents(&i.body["TotalAmt"]).unwrap()).sum();
        let paid: i64 = books.of(Kind::Payment).map(|p| super::super::cents(&p.body["TotalAmt"]).unwrap()).sum();
        assert_eq!(billed - paid, owed);
    }

    #[test]
    fn one_seed_one_set_of_books_and_scale_multiplies() {
        let (a, b, c) = (company(5, 1), company(5, 1), company(6, 1));
        let first = |books: &Company| books.get(Kind::Invoice, 1).unwrap().body.clone();
        assert_eq!(first(&a), first(&b));
        assert_ne!(first(&a), first(&c));
        assert_eq!(company(5, 2).count(Kind::Invoice), 2 * INVOICES);
    }
}
