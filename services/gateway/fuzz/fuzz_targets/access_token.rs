//! Any bearer token text is verified or refused; never a panic, never accepted unless signed by our key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchboard_gateway::TokenKeys;

fn keys() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| TokenKeys::ephemeral().expect("a key"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    assert!(keys().verify(&text).is_err(), "an unsigned input was accepted: {text:?}");
});
