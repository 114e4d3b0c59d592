//! A response message to its proto3 JSON text straight from the wire, without decoding it into a
//! `DynamicMessage` first.
//!
//! [`crate::json::response_bytes`] renders every REST response. Through prost-reflect that is two passes and many
//! small allocations: the bytes are decoded into a tree of dynamic values (a `BTreeMap` per message, a `String` per
//! string), then the tree is serialized. [`WireJson`] is a plan compiled once per route from the response type's
//! descriptor (every field's `"jsonName":` key already written out, its default text, its enum names) and then
//! writes the JSON in one pass over the bytes.
//!
//! It writes exactly what prost-reflect writes (same keys, order, number formats, defaults, well-known types), and
//! where that would take more than a straight copy it declines and the caller goes through prost-reflect instead,
//! so every answer is prost-reflect's answer:
//! - at plan time, for message types it does not know how to write (`google.protobuf.Any`, `FieldMask`, the
//!   wrapper types, groups, extendable messages);
//! - at run time, for encodings that prost-reflect resolves by merging (a singular field twice, two members of one
//!   oneof, a map key twice), anything malformed (truncated, a wrong wire type, bad UTF-8, bad varints), times out
//!   of range, and nesting deeper than [`MOST_NESTING`].
//!
//! Map entries come out in wire order; prost-reflect's come out in its hash map's order, which is no order at all,
//! so both are the same JSON object.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value};

use crate::json::serialize_options;

/// The writer would not render these bytes exactly as prost-reflect does: render them through prost-reflect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declined;

/// Messages nested deeper than this are left to prost-reflect. Its decoder stops at 100 levels, where one level
/// here may be two there (a map entry and its message; a Struct's entry and Value), so the writer stays well below.
pub const MOST_NESTING: usize = 40;

/// Map keys are checked for repeats up to this many entries; a longer map is left to prost-reflect.
const MOST_MAP_ENTRIES: usize = 64;

/// The compiled plan for one message type and every type it reaches.
#[derive(Debug)]
pub struct WireJson {
    messages: Vec<MessagePlan>,
    enums: Vec<EnumPlan>,
}

#[derive(Debug)]
enum MessagePlan {
    Fields(FieldsPlan),
    Timestamp,
    Duration,
    Struct,
    Value,
    ListValue,
    Empty,
}

#[derive(Debug)]
struct FieldsPlan {
    /// Field numbers in ascending order; `fields[i]` is the plan of `numbers[i]`.
    numbers: Vec<u32>,
    fields: Vec<FieldPlan>,
}

#[derive(Debug)]
struct FieldPlan {
    /// `"jsonName":`, escaped as serde_json escapes it.
    key: Box<[u8]>,
    shape: Shape,
    kind: ValueKind,
    /// The text written when the field is not on the wire; `None`: the key is left out.
    absent: Option<Box<[u8]>>,
    /// The bit of the (real, not synthetic) oneof the field belongs to.
    oneof: Option<u32>,
}

#[derive(Debug)]
enum Shape {
    Singular,
    Repeated,
    /// A map: its key's kind and the text of a value missing from an entry.
    Map {
        key: Scalar,
        absent_value: Box<[u8]>,
    },
}

#[derive(Debug, Clone, Copy)]
enum ValueKind {
    Scalar(Scalar),
    Enum(usize),
    Message(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
}

#[derive(Debug)]
struct EnumPlan {
    /// `google.protobuf.NullValue`: always `null`.
    null: bool,
    /// (number, `"NAME"`), by number: the name prost-reflect picks for the number.
    names: Vec<(i32, Box<[u8]>)>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

impl Scalar {
    fn of(kind: &Kind) -> Option<Self> {
        Some(match kind {
            Kind::Double => Self::Double,
            Kind::Float => Self::Float,
            Kind::Int32 => Self::Int32,
            Kind::Int64 => Self::Int64,
            Kind::Uint32 => Self::Uint32,
            Kind::Uint64 => Self::Uint64,
            Kind::Sint32 => Self::Sint32,
            Kind::Sint64 => Self::Sint64,
            Kind::Fixed32 => Self::Fixed32,
            Kind::Fixed64 => Self::Fixed64,
            Kind::Sfixed32 => Self::Sfixed32,
            Kind::Sfixed64 => Self::Sfixed64,
            Kind::Bool => Self::Bool,
            Kind::String => Self::String,
            Kind::Bytes => Self::Bytes,
            Kind::Message(_) | Kind::Enum(_) => return None,
        })
    }

    /// The wire type of one value; every kind but strings and bytes may also come packed.
    fn wire_type(self) -> u8 {
        match self {
            Self::Double | Self::Fixed64 | Self::Sfixed64 => FIXED64,
            Self::Float | Self::Fixed32 | Self::Sfixed32 => FIXED32,
            Self::String | Self::Bytes => LEN,
            _ => VARINT,
        }
    }
}

impl WireJson {
    /// The plan for `message`, or `None` when it reaches a type this writer leaves to prost-reflect.
    pub fn new(message: &MessageDescriptor) -> Option<Self> {
        let mut compiler = Compiler::default();
        compiler.message(message)?;
        Some(Self { messages: compiler.messages.into_iter().collect::<Option<Vec<_>>>()?, enums: compiler.enums })
    }

    /// Appends the JSON of the encoded message `bytes` to `out`. On [`Declined`], `out` is as it was.
    pub fn write(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
        let start = out.len();
        let mut seen = Vec::new();
        let written = self.message(0, bytes, out, &mut seen, 0);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    fn message(
        &self,
        index: usize,
        bytes: &[u8],
        out: &mut Vec<u8>,
        seen: &mut Vec<Occurrence>,
        depth: usize,
    ) -> Result<(), Declined> {
        if depth > MOST_NESTING {
            return Err(Declined);
        }
        match &self.messages[index] {
            MessagePlan::Fields(plan) => self.fields(plan, bytes, out, seen, depth),
            MessagePlan::Timestamp => {
                let time = prost_types::Timestamp::decode(bytes).map_err(|_| Declined)?;
                // prost-reflect's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
                if !(-62_135_596_800..=253_402_300_799).contains(&time.seconds) {
                    return Err(Declined);
                }
                quoted_display(out, &time);
                Ok(())
            }
            MessagePlan::Duration => {
                let duration = prost_types::Duration::decode(bytes).map_err(|_| Declined)?;
                if duration.seconds.unsigned_abs() > 315_576_000_000 || duration.nanos.unsigned_abs() > 999_999_999 {
                    return Err(Declined);
                }
                quoted_display(out, &duration);
                Ok(())
            }
            MessagePlan::Struct => {
                let fields = prost_types::Struct::decode(bytes).map_err(|_| Declined)?.fields;
                dynamic_struct(&fields, out, depth)
            }
            MessagePlan::Value => {
                let value = prost_types::Value::decode(bytes).map_err(|_| Declined)?;
                dynamic_value(&value, out, depth)
            }
            MessagePlan::ListValue => {
                let list = prost_types::ListValue::decode(bytes).map_err(|_| Declined)?;
                dynamic_list(&list.values, out, depth)
            }
            MessagePlan::Empty => {
                // Unknown fields are skipped, as prost-reflect does, but they must be well formed.
                let mut reader = Reader(bytes);
                while !reader.0.is_empty() {
                    let (_, wire_type) = reader.key()?;
                    reader.value(wire_type)?;
                }
                out.extend_from_slice(b"{}");
                Ok(())
            }
        }
    }

    fn fields(
        &self,
        plan: &FieldsPlan,
        bytes: &[u8],
        out: &mut Vec<u8>,
        seen: &mut Vec<Occurrence>,
        depth: usize,
    ) -> Result<(), Declined> {
        // Where each known field's values are, in wire order; then in plan order (a stable sort keeps the order
        // of a repeated field's values when encoders did not write fields by number).
        let base = seen.len();
        let mut reader = Reader(bytes);
        let mut sorted = true;
        let mut last = 0;
        while !reader.0.is_empty() {
            let (number, wire_type) = reader.key()?;
            let value = reader.value(wire_type)?;
            let value_end = bytes.len() - reader.0.len();
            let value_start = value_end - value.len();
            if let Ok(field) = plan.numbers.binary_search(&number) {
                sorted &= field >= last;
                last = field;
                seen.push(Occurrence { field, wire_type, start: value_start, end: value_end });
            }
        }
        if !sorted {
            seen[base..].sort_by_key(|o| o.field);
        }

        out.push(b'{');
        let mut first = true;
        let mut oneofs = 0u64;
        let mut at = base;
        for (index, field) in plan.fields.iter().enumerate() {
            let from = at;
            while at < seen.len() && seen[at].field == index {
                at += 1;
            }
            let count = at - from;
            if count == 0 {
                if let Some(absent) = &field.absent {
                    separate(out, &mut first);
                    out.extend_from_slice(&field.key);
                    out.extend_from_slice(absent);
                }
                continue;
            }
            if let Some(bit) = field.oneof {
                if oneofs & (1 << bit) != 0 {
                    return Err(Declined);
                }
                oneofs |= 1 << bit;
            }
            separate(out, &mut first);
            out.extend_from_slice(&field.key);
            match &field.shape {
                Shape::Singular => {
                    if count > 1 {
                        return Err(Declined);
                    }
                    let o = seen[from];
                    self.value(field.kind, o.wire_type, &bytes[o.start..o.end], out, seen, depth)?;
                }
                Shape::Repeated => {
                    out.push(b'[');
                    let mut first_value = true;
                    for i in from..at {
                        let o = seen[i];
                        let value = &bytes[o.start..o.end];
                        match field.kind {
                            ValueKind::Scalar(scalar) if o.wire_type == LEN && scalar.wire_type() != LEN => {
                                packed(scalar.wire_type(), value, |one| {
                                    separate(out, &mut first_value);
                                    write_scalar(scalar, scalar.wire_type(), one, out)
                                })?;
                            }
                            ValueKind::Enum(e) if o.wire_type == LEN => {
                                packed(VARINT, value, |one| {
                                    separate(out, &mut first_value);
                                    self.write_enum(e, VARINT, one, out)
                                })?;
                            }
                            kind => {
                                separate(out, &mut first_value);
                                self.value(kind, o.wire_type, value, out, seen, depth)?;
                            }
                        }
                    }
                    out.push(b']');
                }
                Shape::Map { key, absent_value } => {
                    if count > MOST_MAP_ENTRIES {
                        return Err(Declined);
                    }
                    out.push(b'{');
                    for i in from..at {
                        let o = seen[i];
                        if o.wire_type != LEN {
                            return Err(Declined);
                        }
                        if i > from {
                            out.push(b',');
                        }
                        self.map_entry(*key, field.kind, absent_value, &bytes[o.start..o.end], out, seen, depth)?;
                        // A key seen before: prost-reflect keeps the last value; leave it to it.
                        let entry = &bytes[o.start..o.end];
                        for earlier in &seen[from..i] {
                            if map_key(*key, &bytes[earlier.start..earlier.end])? == map_key(*key, entry)? {
                                return Err(Declined);
                            }
                        }
                    }
                    out.push(b'}');
                }
            }
        }
        out.push(b'}');
        seen.truncate(base);
        Ok(())
    }

    /// One value of a field: `bytes` is what follows the key (a length-delimited value without its length).
    fn value(
        &self,
        kind: ValueKind,
        wire_type: u8,
        bytes: &[u8],
        out: &mut Vec<u8>,
        seen: &mut Vec<Occurrence>,
        depth: usize,
    ) -> Result<(), Declined> {
        match kind {
            ValueKind::Scalar(scalar) => write_scalar(scalar, wire_type, bytes, out),
            ValueKind::Enum(e) => self.write_enum(e, wire_type, bytes, out),
            ValueKind::Message(m) => {
                if wire_type != LEN {
                    return Err(Declined);
                }
                self.message(m, bytes, out, seen, depth + 1)
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one map entry: the map's kinds, the entry and the writer's state
    fn map_entry(
        &self,
        key: Scalar,
        value: ValueKind,
        absent_value: &[u8],
        entry: &[u8],
        out: &mut Vec<u8>,
        seen: &mut Vec<Occurrence>,
        depth: usize,
    ) -> Result<(), Declined> {
        let (key_at, value_at) = entry_parts(entry)?;
        write_map_key(key, key_at, out)?;
        out.push(b':');
        match value_at {
            None => out.extend_from_slice(absent_value),
            Some((wire_type, bytes)) => self.value(value, wire_type, bytes, out, seen, depth)?,
        }
        Ok(())
    }

    fn write_enum(&self, index: usize, wire_type: u8, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
        if wire_type != VARINT {
            return Err(Declined);
        }
        let number = Reader(bytes).varint()? as i32;
        let plan = &self.enums[index];
        if plan.null {
            out.extend_from_slice(b"null");
        } else {
            match plan.names.binary_search_by_key(&number, |(n, _)| *n) {
                Ok(i) => out.extend_from_slice(&plan.names[i].1),
                Err(_) => out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes()),
            }
        }
        Ok(())
    }
}

/// Where one field's value is in the message being written.
#[derive(Debug, Clone, Copy)]
struct Occurrence {
    field: usize,
    wire_type: u8,
    start: usize,
    end: usize,
}

fn separate(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

/// A map entry's key and value (wire type, bytes), each absent when not on the wire. Repeats and unknown fields
/// are left to prost-reflect.
#[allow(clippy::type_complexity)]
fn entry_parts(entry: &[u8]) -> Result<(Option<(u8, &[u8])>, Option<(u8, &[u8])>), Declined> {
    let mut reader = Reader(entry);
    let (mut key, mut value) = (None, None);
    while !reader.0.is_empty() {
        let (number, wire_type) = reader.key()?;
        let part = (wire_type, reader.value(wire_type)?);
        let slot = match number {
            1 => &mut key,
            2 => &mut value,
            _ => return Err(Declined),
        };
        if slot.replace(part).is_some() {
            return Err(Declined);
        }
    }
    Ok((key, value))
}

/// A map entry's key, comparable: the decoded number, or the string's bytes.
#[derive(PartialEq, Eq)]
enum KeyValue<'a> {
    Number(u64),
    Text(&'a [u8]),
}

fn map_key(kind: Scalar, entry: &[u8]) -> Result<KeyValue<'_>, Declined> {
    let (key, _) = entry_parts(entry)?;
    Ok(match (kind, key) {
        (_, None) => KeyValue::Number(0),
        // An empty string key is the absent key.
        (Scalar::String, Some((_, []))) => KeyValue::Number(0),
        (Scalar::String, Some((_, bytes))) => KeyValue::Text(bytes),
        (kind, Some((_, bytes))) => KeyValue::Number(match kind {
            Scalar::Fixed32 | Scalar::Sfixed32 => u64::from(fixed32(bytes)?),
            Scalar::Fixed64 | Scalar::Sfixed64 => fixed64(bytes)?,
            // Int32 keys compare as the i32 prost keeps, not as the (possibly sign-extended) varint.
            Scalar::Int32 | Scalar::Sint32 | Scalar::Uint32 => u64::from(Reader(bytes).varint()? as u32),
            Scalar::Bool => u64::from(Reader(bytes).varint()? != 0),
            _ => Reader(bytes).varint()?,
        }),
    })
}

/// A map key: JSON object keys are strings, so numbers and booleans are written as text in quotes (64-bit
/// integers already are); an absent key is the zero value.
fn write_map_key(kind: Scalar, key: Option<(u8, &[u8])>, out: &mut Vec<u8>) -> Result<(), Declined> {
    let Some((wire_type, bytes)) = key else {
        out.extend_from_slice(match kind {
            Scalar::String => b"\"\"",
            Scalar::Bool => b"\"false\"",
            _ => b"\"0\"",
        });
        return Ok(());
    };
    let quoted_already = matches!(
        kind,
        Scalar::String | Scalar::Int64 | Scalar::Uint64 | Scalar::Sint64 | Scalar::Fixed64 | Scalar::Sfixed64
    );
    if !quoted_already {
        out.push(b'"');
    }
    write_scalar(kind, wire_type, bytes, out)?;
    if !quoted_already {
        out.push(b'"');
    }
    Ok(())
}

/// Calls `each` with the bytes of every value in a packed run.
fn packed(wire_type: u8, bytes: &[u8], mut each: impl FnMut(&[u8]) -> Result<(), Declined>) -> Result<(), Declined> {
    let mut reader = Reader(bytes);
    while !reader.0.is_empty() {
        each(reader.value(wire_type)?)?;
    }
    Ok(())
}

/// One scalar from its wire bytes (a varint, 4 or 8 little-endian bytes, or a string's bytes), as prost-reflect
/// writes it.
fn write_scalar(kind: Scalar, wire_type: u8, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
    if wire_type != kind.wire_type() {
        return Err(Declined);
    }
    let mut number = itoa::Buffer::new();
    match kind {
        Scalar::Double => write_f64(f64::from_bits(fixed64(bytes)?), out),
        Scalar::Float => write_f32(f32::from_bits(fixed32(bytes)?), out),
        Scalar::Int32 => out.extend_from_slice(number.format(Reader(bytes).varint()? as i32).as_bytes()),
        Scalar::Uint32 => out.extend_from_slice(number.format(Reader(bytes).varint()? as u32).as_bytes()),
        Scalar::Sint32 => {
            let raw = Reader(bytes).varint()? as u32;
            let value = ((raw >> 1) as i32) ^ -((raw & 1) as i32);
            out.extend_from_slice(number.format(value).as_bytes())
        }
        Scalar::Fixed32 => out.extend_from_slice(number.format(fixed32(bytes)?).as_bytes()),
        Scalar::Sfixed32 => out.extend_from_slice(number.format(fixed32(bytes)? as i32).as_bytes()),
        Scalar::Int64 => quoted(out, number.format(Reader(bytes).varint()? as i64)),
        Scalar::Uint64 => quoted(out, number.format(Reader(bytes).varint()?)),
        Scalar::Sint64 => {
            let raw = Reader(bytes).varint()?;
            quoted(out, number.format(((raw >> 1) as i64) ^ -((raw & 1) as i64)))
        }
        Scalar::Fixed64 => quoted(out, number.format(fixed64(bytes)?)),
        Scalar::Sfixed64 => quoted(out, number.format(fixed64(bytes)? as i64)),
        Scalar::Bool => out.extend_from_slice(if Reader(bytes).varint()? != 0 { b"true" } else { b"false" }),
        Scalar::String => write_str(std::str::from_utf8(bytes).map_err(|_| Declined)?, out),
        Scalar::Bytes => write_base64(bytes, out),
    }
    Ok(())
}

fn quoted(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

fn quoted_display(out: &mut Vec<u8>, value: &impl std::fmt::Display) {
    use std::io::Write as _;
    out.push(b'"');
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{value}");
    out.push(b'"');
}

fn fixed32(bytes: &[u8]) -> Result<u32, Declined> {
    Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| Declined)?))
}

fn fixed64(bytes: &[u8]) -> Result<u64, Declined> {
    Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| Declined)?))
}

fn write_f64(value: f64, out: &mut Vec<u8>) {
    if value.is_finite() {
        // serde_json's own formatting (ryu), so the text is byte for byte what prost-reflect's serializer writes.
        let _ = serde_json::to_writer(&mut *out, &value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

fn write_f32(value: f32, out: &mut Vec<u8>) {
    if value.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

fn non_finite(nan: bool, positive: bool) -> &'static [u8] {
    match (nan, positive) {
        (true, _) => b"\"NaN\"",
        (false, true) => b"\"Infinity\"",
        (false, false) => b"\"-Infinity\"",
    }
}

/// A JSON string as serde_json writes it: copied whole when nothing needs escaping.
fn write_str(text: &str, out: &mut Vec<u8>) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

fn write_base64(bytes: &[u8], out: &mut Vec<u8>) {
    let engine = &base64::engine::general_purpose::STANDARD;
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = engine.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// `google.protobuf.Struct`, keys in order (prost-types keeps them in a `BTreeMap`, as prost-reflect writes them).
fn dynamic_struct(
    fields: &BTreeMap<String, prost_types::Value>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Declined> {
    if depth > MOST_NESTING {
        return Err(Declined);
    }
    out.push(b'{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(key, out);
        out.push(b':');
        dynamic_value(value, out, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

fn dynamic_list(values: &[prost_types::Value], out: &mut Vec<u8>, depth: usize) -> Result<(), Declined> {
    if depth > MOST_NESTING {
        return Err(Declined);
    }
    out.push(b'[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        dynamic_value(value, out, depth + 1)?;
    }
    out.push(b']');
    Ok(())
}

fn dynamic_value(value: &prost_types::Value, out: &mut Vec<u8>, depth: usize) -> Result<(), Declined> {
    use prost_types::value::Kind as V;
    match &value.kind {
        None | Some(V::NullValue(_)) => out.extend_from_slice(b"null"),
        Some(V::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // prost-reflect refuses a non-finite number in a Value: so does its fallback here.
        Some(V::NumberValue(n)) if n.is_finite() => write_f64(*n, out),
        Some(V::NumberValue(_)) => return Err(Declined),
        Some(V::StringValue(s)) => write_str(s, out),
        Some(V::ListValue(list)) => dynamic_list(&list.values, out, depth + 1)?,
        Some(V::StructValue(s)) => dynamic_struct(&s.fields, out, depth + 1)?,
    }
    Ok(())
}

/// The wire format, as prost reads it: anything prost would refuse is [`Declined`].
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, Declined> {
        let mut value = 0u64;
        for (i, &byte) in self.0.iter().enumerate().take(10) {
            if i == 9 && byte > 1 {
                return Err(Declined);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.0 = &self.0[i + 1..];
                return Ok(value);
            }
        }
        Err(Declined)
    }

    /// A field's number and wire type. Groups (3, 4) and unknown wire types are declined.
    fn key(&mut self) -> Result<(u32, u8), Declined> {
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        if key > u64::from(u32::MAX) || number == 0 || !matches!(wire_type, VARINT | FIXED64 | LEN | FIXED32) {
            return Err(Declined);
        }
        Ok((number as u32, wire_type))
    }

    /// One value of `wire_type`: a varint's bytes, the 8 or 4 bytes of a fixed-size one, or a length-delimited
    /// one's bytes without their length.
    fn value(&mut self, wire_type: u8) -> Result<&'a [u8], Declined> {
        let len = match wire_type {
            VARINT => {
                let start = self.0;
                self.varint()?;
                return Ok(&start[..start.len() - self.0.len()]);
            }
            FIXED64 => 8,
            FIXED32 => 4,
            LEN => usize::try_from(self.varint()?).map_err(|_| Declined)?,
            _ => return Err(Declined),
        };
        if len > self.0.len() {
            return Err(Declined);
        }
        let (value, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(value)
    }
}

/// Builds the plans, one per message type reached, each compiled once (recursive types refer to their index).
#[derive(Default)]
struct Compiler {
    messages: Vec<Option<MessagePlan>>,
    message_index: HashMap<String, usize>,
    enums: Vec<EnumPlan>,
    enum_index: HashMap<String, usize>,
}

impl Compiler {
    fn message(&mut self, message: &MessageDescriptor) -> Option<usize> {
        if let Some(&index) = self.message_index.get(message.full_name()) {
            return Some(index);
        }
        let index = self.messages.len();
        self.messages.push(None);
        self.message_index.insert(message.full_name().to_owned(), index);
        let plan = match message.full_name() {
            "google.protobuf.Timestamp" => MessagePlan::Timestamp,
            "google.protobuf.Duration" => MessagePlan::Duration,
            "google.protobuf.Struct" => MessagePlan::Struct,
            "google.protobuf.Value" => MessagePlan::Value,
            "google.protobuf.ListValue" => MessagePlan::ListValue,
            "google.protobuf.Empty" => MessagePlan::Empty,
            // Every other type prost-reflect writes its own way: left to it.
            "google.protobuf.Any"
            | "google.protobuf.FieldMask"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue" => return None,
            _ => MessagePlan::Fields(self.fields(message)?),
        };
        self.messages[index] = Some(plan);
        Some(index)
    }

    fn fields(&mut self, message: &MessageDescriptor) -> Option<FieldsPlan> {
        // Extensions are written by prost-reflect under their own names; proto3 types have none.
        if message.extension_ranges().len() > 0 {
            return None;
        }
        let oneofs: Vec<String> =
            message.oneofs().filter(|o| !o.is_synthetic()).map(|o| o.full_name().to_owned()).collect();
        if oneofs.len() > 64 {
            return None;
        }
        let mut numbers = Vec::new();
        let mut fields = Vec::new();
        // `fields()` is in field-number order, the order prost-reflect writes them in.
        for field in message.fields() {
            if field.is_group() {
                return None;
            }
            let oneof = field
                .containing_oneof()
                .filter(|o| !o.is_synthetic())
                .and_then(|o| oneofs.iter().position(|name| name == o.full_name()))
                .map(|i| i as u32);
            let mut key = serde_json::to_vec(field.json_name()).ok()?;
            key.push(b':');
            let (shape, kind, absent): (Shape, ValueKind, Option<Box<[u8]>>) = if field.is_map() {
                let Kind::Message(entry) = field.kind() else { return None };
                let key_field = entry.map_entry_key_field();
                let value_field = entry.map_entry_value_field();
                let key = Scalar::of(&key_field.kind())?;
                let kind = self.kind(&value_field)?;
                let absent_value = self.default_text(&value_field)?;
                (Shape::Map { key, absent_value }, kind, Some(Box::from(&b"{}"[..])))
            } else if field.is_list() {
                (Shape::Repeated, self.kind(&field)?, Some(Box::from(&b"[]"[..])))
            } else {
                let absent = if field.supports_presence() { None } else { Some(self.default_text(&field)?) };
                (Shape::Singular, self.kind(&field)?, absent)
            };
            numbers.push(field.number());
            fields.push(FieldPlan { key: key.into_boxed_slice(), shape, kind, absent, oneof });
        }
        Some(FieldsPlan { numbers, fields })
    }

    fn kind(&mut self, field: &FieldDescriptor) -> Option<ValueKind> {
        Some(match field.kind() {
            Kind::Message(message) => ValueKind::Message(self.message(&message)?),
            Kind::Enum(e) => ValueKind::Enum(self.enumeration(&e)),
            other => ValueKind::Scalar(Scalar::of(&other)?),
        })
    }

    fn enumeration(&mut self, e: &EnumDescriptor) -> usize {
        if let Some(&index) = self.enum_index.get(e.full_name()) {
            return index;
        }
        let mut names: Vec<(i32, Box<[u8]>)> = Vec::new();
        for value in e.values() {
            let number = value.number();
            if names.iter().any(|(n, _)| *n == number) {
                continue;
            }
            // The name prost-reflect looks up for the number (the first of aliases).
            let name = e.get_value(number).map(|v| v.name().to_owned()).unwrap_or_default();
            let text = serde_json::to_vec(&name).unwrap_or_default();
            names.push((number, text.into_boxed_slice()));
        }
        names.sort_by_key(|(n, _)| *n);
        let index = self.enums.len();
        self.enums.push(EnumPlan { null: e.full_name() == "google.protobuf.NullValue", names });
        self.enum_index.insert(e.full_name().to_owned(), index);
        index
    }

    /// The text of a field's default value, as prost-reflect writes a field that is not on the wire.
    fn default_text(&mut self, field: &FieldDescriptor) -> Option<Box<[u8]>> {
        let mut out = Vec::new();
        match (field.default_value(), field.kind()) {
            (Value::Message(_), Kind::Message(message)) => {
                let empty = DynamicMessage::new(message);
                empty.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &serialize_options()).ok()?;
            }
            (Value::EnumNumber(number), Kind::Enum(e)) => {
                let index = self.enumeration(&e);
                let plan = &self.enums[index];
                if plan.null {
                    out.extend_from_slice(b"null");
                } else {
                    match plan.names.binary_search_by_key(&number, |(n, _)| *n) {
                        Ok(i) => out.extend_from_slice(&plan.names[i].1),
                        Err(_) => out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes()),
                    }
                }
            }
            (Value::Bool(b), _) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            (Value::I32(n), _) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            (Value::U32(n), _) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            (Value::I64(n), _) => quoted(&mut out, itoa::Buffer::new().format(n)),
            (Value::U64(n), _) => quoted(&mut out, itoa::Buffer::new().format(n)),
            (Value::F32(n), _) => write_f32(n, &mut out),
            (Value::F64(n), _) => write_f64(n, &mut out),
            (Value::String(s), _) => write_str(&s, &mut out),
            (Value::Bytes(b), _) => write_base64(&b, &mut out),
            _ => return None,
        }
        Some(out.into_boxed_slice())
    }
}
