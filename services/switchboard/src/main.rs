//! `switchboard`: the one binary. `up` runs the whole platform in one process (each service on its own loopback
//! port, talking mTLS gRPC over real sockets); `serve <service>` runs one service (one container image, role
//! chosen by argument); `certs init` creates the development CA; `health` and `audit verify` are client
//! commands that reach the mesh with the operator certificate; `tenant` and `user` administer tenants through the
//! gateway's admin listener; `connectors` syncs with a progress bar and rotates the vault's key; `demo` seeds the
//! demo tenant `make run` shows; `ask` asks the assistant as a signed-in user, through the gateway's REST API;
//! `mcp` serves MCP on stdio for an assistant, through the gateway's gRPC API.
//!
//! The binary only parses the command line and runs the command; the platform is built by the library's
//! [`switchboard::Platform`], the same wiring the tests use.

mod admin;
mod ask;
mod commands;
mod connectors;
mod mcp;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a request allocates and frees many small buffers on both runtime threads,
/// and glibc's malloc took an eighth of the gateway's CPU (its consolidation and locks among the top symbols).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use switchboard::config::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e}");
            ExitCode::FAILURE
        }
    }
}
