//! The model clients and the provider chain against the model sandbox: every test starts its own fakes on
//! `127.0.0.1:0`, with short timeouts, backoffs and cooldowns.

mod chain;
mod clients;
mod errors;
mod streams;
mod support;
