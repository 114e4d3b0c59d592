//! Sets `cfg(qdrant)` when `QDRANT_URL` is set, so the Qdrant conformance tests run then and are listed as
//! ignored (with the reason) otherwise.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(qdrant)");
    println!("cargo::rerun-if-env-changed=QDRANT_URL");
    if std::env::var_os("QDRANT_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=qdrant");
    }
}
