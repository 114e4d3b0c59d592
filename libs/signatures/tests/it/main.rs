//! The signature schemes through the public API: every case of the shared vector file, and sign/verify round
//! trips with tampering, for each provider.

mod roundtrip;
mod vectors;
