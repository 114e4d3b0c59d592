//! Compiles every `.proto` under `proto/switchboard` with the vendored `protoc`, so no system protoc is needed,
//! and writes the file descriptor set that reflection and the REST transcoder read.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it compiles: worktrees sharing one target directory reuse each
    // other's compiled build scripts, and each must compile its own contracts.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut protos = Vec::new();
    collect(&root.join("switchboard"), &mut protos)?;
    protos.sort();
    // The google.rpc error model is part of every service's error contract, imported or not.
    protos.push(root.join("google/rpc/status.proto"));
    protos.push(root.join("google/rpc/error_details.proto"));

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("switchboard_descriptor.bin"))
        .compile_with_config(config, &protos, &[root.clone(), well_known])?;

    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            found.push(path);
        }
    }
    Ok(())
}
