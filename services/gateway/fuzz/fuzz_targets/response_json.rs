//! Response bytes from a backend, written as JSON two ways over every real route with a wire-to-JSON plan: the
//! plan's text must be prost-reflect's text (as the same JSON value: map entries may come in another order), and
//! where prost-reflect refuses the bytes the plan must have declined them. No panics, whatever the bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prost_reflect::{DynamicMessage, SerializeOptions};
use switchboard_transcode::RouteTable;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET).expect("the contracts' routes")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let planned: Vec<_> = table().routes().iter().filter(|r| r.response_json.is_some()).collect();
    let Some(route) = planned.get(usize::from(pick) % planned.len().max(1)) else { return };
    let Some(plan) = &route.response_json else { return };
    let mut ours = Vec::new();
    let written = plan.write(bytes, &mut ours);

    let options =
        SerializeOptions::new().skip_default_fields(false).use_proto_field_name(false).stringify_64_bit_integers(true);
    let theirs = DynamicMessage::decode(route.method.output(), bytes).ok().and_then(|message| {
        let mut out = Vec::new();
        message.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options).ok().map(|()| out)
    });
    match (written, theirs) {
        (Ok(()), Some(theirs)) => {
            if ours != theirs {
                let ours: serde_json::Value = serde_json::from_slice(&ours).expect("the plan writes JSON");
                let theirs: serde_json::Value = serde_json::from_slice(&theirs).expect("prost-reflect writes JSON");
                assert_eq!(ours, theirs, "{}", route.rpc_path);
            }
        }
        (Ok(()), None) => panic!("{}: the plan wrote bytes prost-reflect refuses", route.rpc_path),
        (Err(_), _) => assert!(ours.is_empty(), "a declined write leaves the buffer as it was"),
    }
});
