//! switchboard-embedding through its public API, on the real all-MiniLM-L6-v2 weights (fetched by
//! `scripts/fetch-embedding-model.sh` when absent; the tests fail, saying why, if that is impossible).

mod loading;
mod reference;
mod semantics;
mod support;
