//! Any refresh token text parses to a well-formed token or to nothing; no panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(token) = switchboard_gateway::refresh::parse(&text) {
        let _ = token.matches(&[0u8; 32]);
    }
});
