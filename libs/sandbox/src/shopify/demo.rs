//! The demo shop's data, generated from the seed: per unit of scale 60 products (one to three variants each),
//! 150 customers and 300 orders numbered from #1001 in creation order, with Shopify-sized ids that grow with time.
//! About one order in ten was changed again later (its `updatedAt` moves toward the epoch), so incremental syncs
//! have something to find.

use super::objects::{Customer, LineItem, Order, Product, Shop, Variant};
use crate::clock::{DATA_WINDOW, epoch};
use crate::names::{FIRST_NAMES, LAST_NAMES, PRODUCT_ADJECTIVES, PRODUCT_NOUNS, PRODUCT_TYPES, TAGS, VARIANT_TITLES};
use crate::prng::Rng;

pub(crate) const PRODUCTS: usize = 60;
pub(crate) const CUSTOMERS: usize = 150;
pub(crate) const ORDERS: usize = 300;

/// The demo shop's id (`gid://shopify/Shop/...`).
const DEMO_SHOP_ID: u64 = 68_123_456_789;

/// Generates the demo shop `domain` at `scale`.
pub(crate) fn demo_shop(domain: &str, seed: u64, scale: u32) -> Shop {
    let scale = scale.max(1) as usize;
    let start = epoch() - DATA_WINDOW;
    let mut shop = Shop::empty(domain, DEMO_SHOP_ID);
    shop.name = "Demo Coffee Roasters".to_owned();
    shop.email = "owner@demo-coffee.example".to_owned();
    shop.location_id = 71_234_567_001;
    shop.products = products(seed, PRODUCTS * scale, start);
    shop.customers = customers(seed, CUSTOMERS * scale, start);
    shop.orders = orders(seed, ORDERS * scale, &shop.products, &mut shop.customers, start);
    shop
}

/// Ascending ids from `base`, `count` of them, spaced by random gaps (like Shopify's).
fn ids(rng: &mut Rng, base: u64, count: usize) -> Vec<u64> {
    let mut next = base + rng.below(1_000_000);
    (0..count)
        .map(|_| {
            next += 1 + rng.below(5_000);
            next
        })
        .collect()
}

/// `count` creation times in the window, ascending.
fn times(rng: &mut Rng, count: usize, start: i64) -> Vec<i64> {
    let mut times: Vec<i64> = (0..count).map(|_| rng.range(start, epoch() - 3_600)).collect();
    times.sort_unstable();
    times
}

/// An `updatedAt` after `at`: usually soon after, one time in ten much later.
fn later(rng: &mut Rng, at: i64) -> i64 {
    let soon = at + rng.range(0, 2 * 86_400);
    let updated = if rng.percent(10) { rng.range(soon, epoch()) } else { soon };
    updated.min(epoch() - 1)
}

fn products(seed: u64, count: usize, start: i64) -> Vec<Product> {
    let mut rng = Rng::stream(seed, "shopify/products");
    let product_ids = ids(&mut rng, 8_000_000_000_000, count);
    let created = times(&mut rng, count, start);
    let mut variant_ids = ids(&mut rng, 45_000_000_000_000, count * 3).into_iter();
    let mut item_ids = ids(&mut rng, 47_000_000_000_000, count * 3).into_iter();
    product_ids
        .into_iter()
        .zip(created)
        .enumerate()
        .map(|(i, (id, created_at))| {
            let title = format!("{} {}", rng.pick(PRODUCT_ADJECTIVES), rng.pick(PRODUCT_NOUNS));
            let handle = format!("{}-{}", title.to_lowercase().replace(' ', "-"), i + 1);
            let status = match rng.below(100) {
                0..80 => "ACTIVE",
                80..95 => "DRAFT",
                _ => "ARCHIVED",
            };
            let base_price = rng.range(5, 80) * 100 + *rng.pick(&[0, 50, 95, 99]);
            let variant_count = 1 + rng.below(3) as usize;
            let variants = (0..variant_count)
                .map(|v| Variant {
                    id: variant_ids.next().unwrap_or_default(),
                    title: if variant_count == 1 {
                        "Default Title".to_owned()
                    } else {
                        VARIANT_TITLES[v * 2].to_owned()
                    },
                    sku: format!("DCR-{:04}-{}", i + 1, v + 1),
                    price: base_price + v as i64 * 500,
                    inventory_quantity: rng.range(0, 200),
                    inventory_item_id: item_ids.next().unwrap_or_default(),
                })
                .collect();
            Product {
                id,
                handle,
                vendor: "Demo Coffee Roasters".to_owned(),
                product_type: (*rng.pick(PRODUCT_TYPES)).to_owned(),
                status,
                tags: if rng.percent(40) { vec![(*rng.pick(TAGS)).to_owned()] } else { Vec::new() },
                created_at,
                updated_at: later(&mut rng, created_at),
                published_at: (status == "ACTIVE").then_some(created_at + 600),
                title,
                variants,
            }
        })
        .collect()
}

fn customers(seed: u64, count: usize, start: i64) -> Vec<Customer> {
    let mut rng = Rng::stream(seed, "shopify/customers");
    let customer_ids = ids(&mut rng, 7_000_000_000_000, count);
    let created = times(&mut rng, count, start);
    customer_ids
        .into_iter()
        .zip(created)
        .enumerate()
        .map(|(i, (id, created_at))| {
            let first = *rng.pick(FIRST_NAMES);
            let last = *rng.pick(LAST_NAMES);
            Customer {
                id,
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                email: format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), i + 1),
                phone: rng.percent(50).then(|| format!("+1555{:07}", rng.below(10_000_000))),
                created_at,
                updated_at: later(&mut rng, created_at),
                state: if rng.percent(85) { "ENABLED" } else { "DISABLED" },
                tags: if rng.percent(30) { vec![(*rng.pick(TAGS)).to_owned()] } else { Vec::new() },
                verified_email: rng.percent(90),
                orders_count: 0,
                amount_spent: 0,
            }
        })
        .collect()
}

fn orders(seed: u64, count: usize, products: &[Product], customers: &mut [Customer], start: i64) -> Vec<Order> {
    let mut rng = Rng::stream(seed, "shopify/orders");
    let order_ids = ids(&mut rng, 6_000_000_000_000, count);
    let created = times(&mut rng, count, start);
    let mut line_ids = 16_000_000_000_000 + rng.below(1_000_000);
    let mut orders = Vec::with_capacity(count);
    for (i, (id, created_at)) in order_ids.into_iter().zip(created).enumerate() {
        // A customer who existed when the order was placed, if any did.
        let known = customers.partition_point(|c| c.created_at <= created_at);
        let customer_at = (known > 0 && rng.percent(90)).then(|| rng.below(known as u64) as usize);
        let line_count = 1 + rng.below(4) as usize;
        let line_items: Vec<LineItem> = (0..line_count)
            .filter(|_| !products.is_empty())
            .map(|_| {
                let product = rng.pick(products);
                let variant = rng.pick(&product.variants);
                line_ids += 1 + rng.below(100);
                LineItem {
                    id: line_ids,
                    title: product.title.clone(),
                    variant_title: variant.title.clone(),
                    sku: variant.sku.clone(),
                    quantity: rng.range(1, 4),
                    unit_price: variant.price,
                    product_id: product.id,
                    variant_id: variant.id,
                }
            })
            .collect();
        let subtotal: i64 = line_items.iter().map(|l| l.unit_price * l.quantity).sum();
        let tax = subtotal * 8 / 100;
        let cancelled = rng.percent(3);
        let financial_status = if cancelled {
            *rng.pick(&["VOIDED", "REFUNDED"])
        } else {
            match rng.below(100) {
                0..75 => "PAID",
                75..83 => "PENDING",
                83..88 => "REFUNDED",
                88..93 => "PARTIALLY_REFUNDED",
                _ => "AUTHORIZED",
            }
        };
        let total_refunded = match financial_status {
            "REFUNDED" => subtotal + tax,
            "PARTIALLY_REFUNDED" => (subtotal + tax) / 4,
            _ => 0,
        };
        let fulfilled = !cancelled && matches!(financial_status, "PAID" | "PARTIALLY_REFUNDED") && rng.percent(70);
        let cancelled_at = cancelled.then(|| (created_at + rng.range(600, 86_400)).min(epoch() - 1));
        let closed_at =
            cancelled_at.or_else(|| fulfilled.then(|| (created_at + rng.range(86_400, 5 * 86_400)).min(epoch() - 1)));
        let last_change = closed_at.unwrap_or(created_at);
        let customer = customer_at.map(|at| &mut customers[at]);
        let (customer_id, email) = match customer {
            Some(customer) => {
                if !cancelled {
                    customer.orders_count += 1;
                    customer.amount_spent += subtotal + tax - total_refunded;
                }
                (Some(customer.id), Some(customer.email.clone()))
            }
            None => (None, rng.percent(50).then(|| format!("guest{}@example.com", i + 1))),
        };
        orders.push(Order {
            id,
            number: 1001 + i as u64,
            email,
            customer_id,
            created_at,
            updated_at: later(&mut rng, last_change),
            cancelled_at,
            cancel_reason: cancelled.then(|| "CUSTOMER".to_owned()),
            closed_at,
            financial_status,
            fulfillment_status: if fulfilled { "FULFILLED" } else { "UNFULFILLED" },
            line_items,
            tax,
            total_refunded,
            tags: if rng.percent(20) { vec![(*rng.pick(TAGS)).to_owned()] } else { Vec::new() },
            note: rng.percent(10).then(|| "Please leave at the back door.".to_owned()),
        });
    }
    orders
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_shop_has_the_documented_sizes_and_shapes() {
        let shop = demo_shop("demo-shop.myshopify.com", 42, 1);
        assert_eq!(shop.orders.len(), ORDERS);
        assert_eq!(shop.products.len(), PRODUCTS);
        assert_eq!(shop.customers.len(), CUSTOMERS);
        assert_eq!(shop.orders[0].name(), "#1001");
        assert!(shop.orders.windows(2).all(|w| w[0].id < w[1].id && w[0].created_at <= w[1].created_at));
        assert!(shop.orders.iter().all(|o| o.updated_at >= o.created_at && o.updated_at < epoch()));
        assert!(shop.orders.iter().any(|o| o.updated_at > o.created_at + 7 * 86_400), "some later changes");
        assert!(shop.orders.iter().any(|o| o.cancelled_at.is_some()));
        let counted: u64 = shop.customers.iter().map(|c| c.orders_count).sum();
        assert!(counted > 0);
    }

    #[test]
    fn one_seed_one_shop() {
        let a = demo_shop("demo-shop.myshopify.com", 3, 1);
        let b = demo_shop("demo-shop.myshopify.com", 3, 1);
        assert_eq!(a.orders[10].to_graphql(None), b.orders[10].to_graphql(None));
        assert_eq!(demo_shop("demo-shop.myshopify.com", 3, 2).orders.len(), 2 * ORDERS);
    }
}
