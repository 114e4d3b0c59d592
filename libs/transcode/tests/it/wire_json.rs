//! The wire-to-JSON writer against prost-reflect, on the same bytes: random messages of every field shape (and
//! the same fields re-ordered, with unknown fields added), hand-made encodings it must write the same way, and
//! the ones it must leave to prost-reflect.

use prost::Message as _;
use prost_reflect::{
    DynamicMessage, Kind, MapKey, MessageDescriptor, ReflectMessage as _, SerializeOptions, Value as Field,
};
use serde_json::Value;
use switchboard_transcode::Route;
use switchboard_transcode::json as transcode;
use switchboard_transcode::wire_json::{Declined, WireJson};

use super::table;

fn route(path: &str) -> std::sync::Arc<Route> {
    table().resolve(&http::Method::GET, path).unwrap().0
}

fn shapes() -> MessageDescriptor {
    route("/v1/shapes/1").method.output()
}

/// prost-reflect's text for the bytes, with the gateway's options.
fn prost_reflect_text(message: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let decoded = DynamicMessage::decode(message.clone(), bytes).map_err(|e| e.to_string())?;
    let options =
        SerializeOptions::new().skip_default_fields(false).use_proto_field_name(false).stringify_64_bit_integers(true);
    let mut out = Vec::new();
    decoded.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The writer's text, or `Declined`.
fn written(message: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, Declined> {
    let plan = WireJson::new(message).expect("a plan");
    let mut out = b"prefix".to_vec();
    match plan.write(bytes, &mut out) {
        Ok(()) => Ok(out.split_off(6)),
        Err(declined) => {
            assert_eq!(out, b"prefix", "a declined write leaves the buffer as it was");
            Err(declined)
        }
    }
}

/// Whether any map in the message (outside the well-known types, which prost-types orders) has two entries:
/// prost-reflect writes those in its hash map's order.
fn has_unordered_map(message: &DynamicMessage) -> bool {
    fn value(v: &Field) -> bool {
        match v {
            Field::Message(m) => has_unordered_map(m),
            Field::List(values) => values.iter().any(value),
            Field::Map(entries) => entries.len() > 1 || entries.values().any(value),
            _ => false,
        }
    }
    !message.descriptor().full_name().starts_with("google.protobuf.") && message.fields().any(|(_, v)| value(v))
}

/// The writer says what prost-reflect says, byte for byte (as the same JSON value where map order may differ).
fn same_as_prost_reflect(message: &MessageDescriptor, bytes: &[u8]) {
    let theirs = prost_reflect_text(message, bytes).unwrap_or_else(|e| panic!("prost-reflect refused: {e}"));
    let ours = written(message, bytes)
        .unwrap_or_else(|_| panic!("declined what prost-reflect writes: {}", String::from_utf8_lossy(&theirs)));
    if ours != theirs {
        let decoded = DynamicMessage::decode(message.clone(), bytes).unwrap();
        assert!(
            has_unordered_map(&decoded),
            "\nours:   {}\ntheirs: {}",
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
        // Every key and scalar written alike, in whatever order: the same text up to the order of map entries.
        assert_eq!(sorted_tokens(&ours), sorted_tokens(&theirs));
        let ours: Value = serde_json::from_slice(&ours).unwrap();
        let theirs: Value = serde_json::from_slice(&theirs).unwrap();
        assert_eq!(ours, theirs);
    }
}

/// The strings, numbers and literals of a JSON text, as written, sorted.
fn sorted_tokens(text: &[u8]) -> Vec<&[u8]> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let start = i;
        match text[i] {
            b'"' => {
                i += 1;
                while text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                i += 1;
                continue;
            }
            _ => {
                while i < text.len() && !b"{}[],:".contains(&text[i]) {
                    i += 1;
                }
            }
        }
        tokens.push(&text[start..i]);
    }
    tokens.sort();
    tokens
}

/// xorshift64*: reproducible random messages without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn int(&mut self) -> u64 {
        match self.below(5) {
            0 => 0,
            1 => self.below(300),
            2 => u64::MAX - self.below(3),
            3 => 1 << self.below(64),
            _ => self.next(),
        }
    }

    fn float(&mut self) -> f64 {
        match self.below(9) {
            0 => 0.0,
            1 => -0.0,
            2 => f64::NAN,
            3 => f64::INFINITY,
            4 => f64::NEG_INFINITY,
            5 => f64::MIN_POSITIVE / 3.0,
            6 => 1e300 * (self.below(3) as f64 - 1.0),
            7 => self.below(1000) as f64 / 8.0,
            _ => f64::from_bits(self.next()),
        }
    }

    fn text(&mut self) -> String {
        const PIECES: [&str; 10] =
            ["", "a", "quote \"", "back\\slash", "line\n", "\u{1}ctl", "é", "😀", "\u{7f}", "</"];
        (0..self.below(4)).map(|_| PIECES[self.below(PIECES.len() as u64) as usize]).collect()
    }

    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(7)).map(|_| self.next() as u8).collect()
    }
}

fn scalar(kind: &Kind, rng: &mut Rng) -> Field {
    match kind {
        Kind::Double => Field::F64(rng.float()),
        Kind::Float => Field::F32(rng.float() as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Field::I32(rng.int() as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Field::I64(rng.int() as i64),
        Kind::Uint32 | Kind::Fixed32 => Field::U32(rng.int() as u32),
        Kind::Uint64 | Kind::Fixed64 => Field::U64(rng.int()),
        Kind::Bool => Field::Bool(rng.chance(2)),
        Kind::String => Field::String(rng.text()),
        Kind::Bytes => Field::Bytes(rng.bytes().into()),
        // Numbers outside the enum too: written as numbers.
        Kind::Enum(_) => Field::EnumNumber(rng.below(4) as i32),
        Kind::Message(m) => Field::Message(random_message(m, rng, 0)),
    }
}

fn map_key(kind: &Kind, rng: &mut Rng) -> MapKey {
    match scalar(kind, rng) {
        Field::I32(n) => MapKey::I32(n),
        Field::I64(n) => MapKey::I64(n),
        Field::U32(n) => MapKey::U32(n),
        Field::U64(n) => MapKey::U64(n),
        Field::Bool(b) => MapKey::Bool(b),
        Field::String(s) => MapKey::String(s),
        other => panic!("no map key {other:?}"),
    }
}

fn dynamic(rng: &mut Rng, depth: u32) -> prost_types::Value {
    use prost_types::value::Kind as V;
    let kind = match rng.below(if depth > 2 { 4 } else { 6 }) {
        0 => V::NullValue(0),
        1 => V::BoolValue(rng.chance(2)),
        2 => V::NumberValue(match rng.float() {
            f if f.is_finite() => f,
            _ => 1.5,
        }),
        3 => V::StringValue(rng.text()),
        4 => V::ListValue(prost_types::ListValue {
            values: (0..rng.below(3)).map(|_| dynamic(rng, depth + 1)).collect(),
        }),
        _ => V::StructValue(dynamic_struct(rng, depth + 1)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn dynamic_struct(rng: &mut Rng, depth: u32) -> prost_types::Struct {
    prost_types::Struct { fields: (0..rng.below(4)).map(|_| (rng.text(), dynamic(rng, depth + 1))).collect() }
}

/// A message with about half its fields set, recursing to three levels.
fn random_message(message: &MessageDescriptor, rng: &mut Rng, depth: u32) -> DynamicMessage {
    let decode = |bytes: Vec<u8>| DynamicMessage::decode(message.clone(), bytes.as_slice()).unwrap();
    match message.full_name() {
        "google.protobuf.Timestamp" => {
            let seconds = rng.below(253_402_300_800 + 62_135_596_800) as i64 - 62_135_596_800;
            return decode(prost_types::Timestamp { seconds, nanos: rng.below(1_000_000_000) as i32 }.encode_to_vec());
        }
        "google.protobuf.Duration" => {
            let seconds = rng.below(315_576_000_001) as i64;
            let nanos = rng.below(1_000_000_000) as i32;
            let (seconds, nanos) = if rng.chance(2) { (-seconds, -nanos) } else { (seconds, nanos) };
            return decode(prost_types::Duration { seconds, nanos }.encode_to_vec());
        }
        "google.protobuf.Struct" => return decode(dynamic_struct(rng, 0).encode_to_vec()),
        "google.protobuf.Value" => return decode(dynamic(rng, 0).encode_to_vec()),
        "google.protobuf.ListValue" => {
            return decode(
                prost_types::ListValue { values: (0..rng.below(3)).map(|_| dynamic(rng, 1)).collect() }.encode_to_vec(),
            );
        }
        _ => {}
    }
    let mut out = DynamicMessage::new(message.clone());
    for field in message.fields() {
        if rng.chance(2) {
            continue;
        }
        let nested = |kind: &Kind| matches!(kind, Kind::Message(m) if !m.full_name().starts_with("google.protobuf."));
        let value = |rng: &mut Rng, kind: &Kind| match kind {
            Kind::Message(m) => Field::Message(random_message(m, rng, depth + 1)),
            other => scalar(other, rng),
        };
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else { unreachable!() };
            let (key, val) = (entry.map_entry_key_field().kind(), entry.map_entry_value_field().kind());
            if depth >= 2 && nested(&val) {
                continue;
            }
            let entries = (0..rng.below(4)).map(|_| (map_key(&key, rng), value(rng, &val))).collect();
            out.set_field(&field, Field::Map(entries));
        } else if field.is_list() {
            if depth >= 2 && nested(&field.kind()) {
                continue;
            }
            let values = (0..rng.below(4)).map(|_| value(rng, &field.kind())).collect();
            out.set_field(&field, Field::List(values));
        } else {
            if depth >= 2 && nested(&field.kind()) {
                continue;
            }
            let v = value(rng, &field.kind());
            out.set_field(&field, v);
        }
    }
    out
}

/// The top-level (key, value) chunks of an encoded message.
fn chunks(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let start = bytes;
        let key = prost::encoding::decode_varint(&mut bytes).unwrap();
        match key & 7 {
            0 => drop(prost::encoding::decode_varint(&mut bytes).unwrap()),
            1 => bytes = &bytes[8..],
            5 => bytes = &bytes[4..],
            2 => {
                let len = prost::encoding::decode_varint(&mut bytes).unwrap() as usize;
                bytes = &bytes[len..];
            }
            other => panic!("wire type {other}"),
        }
        out.push(start[..start.len() - bytes.len()].to_vec());
    }
    out
}

#[test]
fn random_messages_are_written_as_prost_reflect_writes_them() {
    let message = shapes();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..3000 {
        let bytes = random_message(&message, &mut rng, 0).encode_to_vec();
        same_as_prost_reflect(&message, &bytes);
        // The same fields in reverse order (repeated fields' runs too), with unknown fields among them.
        let mut reordered: Vec<u8> = chunks(&bytes).into_iter().rev().flatten().collect();
        reordered.extend_from_slice(&[0xb8, 0x3e, 0x2a]); // field 999, varint 42
        reordered.extend_from_slice(&[0xc2, 0x3e, 0x02, 0xff, 0xfe]); // field 1000, two bytes
        same_as_prost_reflect(&message, &reordered);
    }
}

#[test]
fn an_empty_message_is_every_default() {
    let message = shapes();
    same_as_prost_reflect(&message, b"");
    let text = written(&message, b"").unwrap();
    let json: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(json["fInt64"], "0");
    assert_eq!(json["colour"], "COLOUR_UNSPECIFIED");
    assert_eq!(json["rString"], serde_json::json!([]));
    assert_eq!(json["mBool"], serde_json::json!({}));
    assert!(json.get("oInt32").is_none() && json.get("child").is_none() && json.get("choiceText").is_none());
    assert!(json.get("camelCaseName").is_some(), "{json}");
}

/// One field: its key and its value bytes.
fn field(number: u64, wire_type: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(number << 3 | wire_type, &mut out);
    if wire_type == 2 {
        prost::encoding::encode_varint(value.len() as u64, &mut out);
    }
    out.extend_from_slice(value);
    out
}

fn varint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(v, &mut out);
    out
}

#[test]
fn other_valid_encodings_are_written_the_same() {
    let message = shapes();
    let cases: Vec<Vec<u8>> = vec![
        // A repeated int32 unpacked, then packed, then unpacked again.
        [field(23, 0, &varint(1)), field(23, 2, &[2, 3]), field(23, 0, &varint(4))].concat(),
        // Enums unpacked and packed, one out of range.
        [field(36, 0, &varint(1)), field(36, 2, &[2, 9])].concat(),
        // A varint written longer than it need be.
        field(3, 0, &[0x81, 0x80, 0x00]),
        // A negative int32 as ten bytes.
        field(3, 0, &varint(-5i64 as u64)),
        // Map entries without a value, without a key, and empty.
        [
            field(60, 2, &field(1, 2, b"k")),
            field(65, 2, &field(2, 2, &field(1, 2, b"s"))),
            field(69, 2, b""),
            field(71, 2, &field(1, 0, &[1])),
            field(76, 2, &field(1, 2, b"v")),
        ]
        .concat(),
        // Struct keys out of order are written in order.
        field(
            73,
            2,
            &prost_types::Struct {
                fields: [
                    ("b".to_owned(), prost_types::Value { kind: None }),
                    ("a".to_owned(), prost_types::Value { kind: None }),
                ]
                .into_iter()
                .collect(),
            }
            .encode_to_vec(),
        ),
        // Fields of a child out of order, a oneof member once.
        field(40, 2, &[field(20, 2, b"late"), field(14, 2, b"s"), field(52, 2, &field(1, 2, b"x"))].concat()),
        // Unknown fields of every wire type.
        [field(500, 0, &varint(7)), field(501, 1, &[0; 8]), field(502, 5, &[0; 4]), field(503, 2, b"xyz")].concat(),
    ];
    for bytes in cases {
        same_as_prost_reflect(&message, &bytes);
    }
}

#[test]
fn ambiguous_or_malformed_encodings_are_left_to_prost_reflect() {
    let message = shapes();
    let deep = (0..50).fold(Vec::new(), |inner, _| field(40, 2, &inner));
    let nan = prost_types::Struct {
        fields: [("x".to_owned(), prost_types::Value { kind: Some(prost_types::value::Kind::NumberValue(f64::NAN)) })]
            .into_iter()
            .collect(),
    };
    // (bytes, what prost-reflect makes of them: Ok = it writes them, by merging or skipping)
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("a singular field twice", [field(14, 2, b"a"), field(14, 2, b"b")].concat(), true),
        ("two members of one oneof", [field(50, 2, b"a"), field(51, 0, &[1])].concat(), true),
        ("a map key twice", [field(60, 2, &field(1, 2, b"k")), field(60, 2, &field(1, 2, b"k"))].concat(), true),
        ("a group", [0xcb, 0x3e, 0xcc, 0x3e].to_vec(), true),
        ("nesting past the limit", deep, true),
        ("a wrong wire type", field(3, 5, &[0; 4]), false),
        ("a truncated string", vec![0x72, 5, b'a', b'b'], false),
        ("a string that is not UTF-8", field(14, 2, &[0xff, 0xfe]), false),
        ("a varint of eleven bytes", field(3, 0, &[0xff; 11]), false),
        ("a time out of range", field(72, 2, &field(1, 0, &varint(253_402_300_800))), false),
        ("a number that JSON cannot hold", field(73, 2, &nan.encode_to_vec()), false),
        ("field number zero", vec![0x00, 0x01], false),
    ];
    for (what, bytes, prost_reflect_writes) in cases {
        assert_eq!(written(&message, &bytes), Err(Declined), "{what}");
        assert_eq!(prost_reflect_text(&message, &bytes).is_ok(), prost_reflect_writes, "{what}");
    }
}

#[test]
fn plans_are_made_for_routes_returning_whole_messages_of_known_types() {
    assert!(route("/v1/shapes/1").response_json.is_some());
    assert!(route("/v1/messages/1").response_json.is_some(), "Struct inside");
    assert!(route("/v1/messages/1/text").response_json.is_none(), "response_body picks one field");
    assert!(route("/v1/wrapped/1").response_json.is_none(), "a wrapper type inside");
    assert!(WireJson::new(&route("/v1/wrapped/1").method.output()).is_none());
}

#[test]
fn a_route_with_a_plan_answers_its_text() {
    let r = route("/v1/shapes/1");
    let mut rng = Rng(77);
    for _ in 0..50 {
        let bytes = random_message(&r.method.output(), &mut rng, 0).encode_to_vec();
        let text = transcode::response_bytes(&r, &bytes).unwrap();
        let json: Value = serde_json::from_slice(&text).unwrap();
        // As text, not as `json::response`'s document: that one widens a float's value to f64 (0.1 as
        // 0.10000000149011612), where the text has its shortest digits.
        let theirs: Value = serde_json::from_slice(&prost_reflect_text(&r.method.output(), &bytes).unwrap()).unwrap();
        assert_eq!(json, theirs);
    }
    // A message the plan declines still gets its answer, from prost-reflect.
    let twice = [field(14, 2, b"a"), field(14, 2, b"b")].concat();
    let json: Value = serde_json::from_slice(&transcode::response_bytes(&r, &twice).unwrap()).unwrap();
    assert_eq!(json["fString"], "b");
}
