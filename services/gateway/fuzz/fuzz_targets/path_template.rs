//! Any template text either parses or is a `TemplateError`; any request path either matches or not. No panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_transcode::path_template::{PathTemplate, percent_decode};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (template, path) = text.split_once('\n').unwrap_or((&text, "/v1/a/b:c"));
    let _ = percent_decode(path, true);
    let _ = percent_decode(path, false);
    if let Ok(t) = PathTemplate::parse(template) {
        let _ = t.matches(path);
        let _ = t.openapi_path();
        for v in t.variables() {
            let _ = t.variable_pattern(v);
        }
    }
});
