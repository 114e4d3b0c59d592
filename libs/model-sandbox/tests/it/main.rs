//! The fakes through HTTP: every test starts its own sandbox on `127.0.0.1:0`.
