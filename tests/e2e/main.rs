//! End-to-end: the built component, served by a real host (`scripts/serve`: spin when it is on
//! PATH or HOST=spin, else wasmtime), checked over real HTTP. One host serves every check.
//!
//!     cargo test --test e2e [-- FILTER]      (make test builds the component first)
//!
//! LOAD_REQUESTS sets the size of the `load` check (make load-local runs 100,000). COMPONENT
//! serves another build than the one spin.toml names, such as the WASI 0.3 one. BOOK_SERVICE
//! runs that program instead (the book's Go service, the container's binary) with the book's
//! checks only: it answers the two routes as the book shows, and nothing more.

#[path = "../support/mod.rs"]
mod support;

mod contract;
mod load;
mod odd_requests;

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use support::{Server, Stdout};

type Check = fn(&Server) -> Result<()>;

/// The routes the component serves; every other path is a 404.
const ROUTES: [&str; 3] = ["/time", "/nanotime", "/healthz"];

const CHECKS: &[(&str, Check)] = &[
    ("contract::time", contract::time),
    ("contract::nanotime", contract::nanotime),
    ("contract::healthz", contract::healthz),
    ("contract::head_matches_get", contract::head_matches_get),
    ("contract::query_is_ignored", contract::query_is_ignored),
    ("contract::not_found", contract::not_found),
    ("contract::method_not_allowed", contract::method_not_allowed),
    (
        "contract::one_log_line_per_request",
        contract::one_log_line_per_request,
    ),
    ("odd_requests::grid", odd_requests::grid),
    ("load::sustained", load::sustained),
];

const BOOK_CHECKS: &[(&str, Check)] = &[
    ("book::time", contract::book::time),
    ("book::nanotime", contract::book::nanotime),
    ("book::log_line_per_call", contract::book::log_line_per_call),
];

/// The artifact spin.toml names, so that tests, `make` and `spin up` all serve the same file;
/// or COMPONENT's.
fn component_path() -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(wasm) = std::env::var_os("COMPONENT") {
        return Ok(root.join(wasm));
    }
    let manifest = std::fs::read_to_string(root.join("spin.toml"))?;
    let source = manifest
        .lines()
        .find_map(|line| line.strip_prefix("source = \"")?.strip_suffix('"'))
        .context("spin.toml has no component source")?;
    let wasm = root.join(source);
    anyhow::ensure!(
        wasm.is_file(),
        "{} is missing: run `make build` (make test does) first",
        wasm.display()
    );
    Ok(wasm)
}

fn main() -> ExitCode {
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_default();
    let book_service = std::env::var_os("BOOK_SERVICE").map(PathBuf::from);
    let checks = if book_service.is_some() {
        BOOK_CHECKS
    } else {
        CHECKS
    };
    let selected: Vec<_> = checks
        .iter()
        .filter(|(name, _)| name.contains(&filter))
        .collect();
    let started = match &book_service {
        Some(program) => Server::serve_program(program, Stdout::Collect)
            .map(|server| (server, format!("{}", program.display()))),
        None => component_path().and_then(|wasm| {
            let host = std::env::var("HOST").unwrap_or_else(|_| "default".into());
            Ok((
                Server::serve_component(&wasm, Stdout::Collect)?,
                format!("HOST={host}, {}", wasm.display()),
            ))
        }),
    };
    let (server, serving) = match started {
        Ok(started) => started,
        Err(error) => {
            eprintln!("could not start the server: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "\nrunning {} end-to-end checks against http://{} ({serving})",
        selected.len(),
        server.addr,
    );
    let mut failed = Vec::new();
    for (name, check) in selected {
        match check(&server) {
            Ok(()) => println!("check {name} ... ok"),
            Err(error) => {
                println!("check {name} ... FAILED\n    {error:#}");
                failed.push(*name);
            }
        }
    }
    if failed.is_empty() {
        println!("\nend-to-end result: ok");
        ExitCode::SUCCESS
    } else {
        println!("\nend-to-end result: FAILED {failed:?}");
        ExitCode::FAILURE
    }
}
