//! Word lists the demo data draws from: people, products and places that read like a small business's records.

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sophia", "Lucas", "Isabella", "Ethan", "Mia", "Amir", "Chloe",
    "Hiro", "Priya", "Diego", "Zoe", "Kwame", "Lena", "Omar", "Grace", "Felix", "Nora", "Ravi", "Elena", "Samuel",
    "Aisha", "Jonas", "Maya", "Theo", "Yara", "Caleb",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith", "Garcia", "Chen", "Johnson", "Patel", "Nguyen", "Williams", "Kim", "Brown", "Lopez", "Okafor", "Rossi",
    "Muller", "Silva", "Tanaka", "Cohen", "Dubois", "Novak", "Haddad", "Larsen", "Walker", "Reyes", "Singh", "Murphy",
];

pub(crate) const PRODUCT_ADJECTIVES: &[&str] = &[
    "Classic",
    "Organic",
    "Dark",
    "Single-Origin",
    "Smooth",
    "Bold",
    "Morning",
    "Velvet",
    "Wild",
    "Honey",
    "Smoky",
    "Golden",
    "Highland",
    "Midnight",
    "Bright",
    "Rustic",
];

pub(crate) const PRODUCT_NOUNS: &[&str] = &[
    "Espresso Blend",
    "Cold Brew Pack",
    "Pour-Over Kit",
    "French Roast",
    "Ceramic Mug",
    "Travel Tumbler",
    "Decaf",
    "Burr Grinder",
    "Chai Concentrate",
    "Gift Box",
    "Drip Bags",
    "Filter Papers",
    "Milk Frother",
    "Tote Bag",
];

pub(crate) const PRODUCT_TYPES: &[&str] = &["Coffee", "Equipment", "Merchandise", "Tea", "Gift"];

pub(crate) const VARIANT_TITLES: &[&str] = &["250g", "500g", "1kg", "Small", "Medium", "Large"];

pub(crate) const TAGS: &[&str] = &["vip", "wholesale", "newsletter", "repeat", "local", "gift"];
