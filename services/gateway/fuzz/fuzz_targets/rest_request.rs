//! A REST request (method, path, query, body) against the real route table: it resolves or not, and transcodes
//! to a request message or to an InvalidArgument. No panics, whatever the bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchboard_transcode::RouteTable;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET).expect("the contracts' routes")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let method = match parts.next().unwrap_or("").len() % 5 {
        0 => http::Method::GET,
        1 => http::Method::POST,
        2 => http::Method::PATCH,
        3 => http::Method::DELETE,
        _ => http::Method::PUT,
    };
    let path = parts.next().unwrap_or("/");
    let query = parts.next();
    let body = parts.next().unwrap_or("").as_bytes();
    if let Some((route, bindings)) = table().resolve(&method, path) {
        let _ = switchboard_transcode::request(&route, &bindings, query, &http::HeaderMap::new(), body);
        let _ = switchboard_transcode::json::response(&route, body);
    }
});
