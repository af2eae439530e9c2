//! The time service from the book's Kubernetes chapter, as a Spin HTTP component.
//!
//! `GET /time` answers with the UTC time in Go's `time.Time.String()` layout, `GET /nanotime`
//! with Unix nanoseconds, `GET /healthz` with a status for probes. The plumbing is split so
//! that everything but the thin spin-sdk adapter is plain Rust that native tests can call:
//!
//! - [`clock`]: instants and their Go and RFC 3339 renderings;
//! - [`routes`]: the HTTP contract as a pure function from method, path and instant to a reply;
//! - `spin_adapter` (wasm only): spin-sdk's request in, [`routes::respond`], spin-sdk's response out;
//!   `spin_adapter_wasip3` is the same on WASI 0.3 and spin-sdk 7 (feature `wasip3`).

pub mod clock;
pub mod routes;

#[cfg(all(target_arch = "wasm32", not(feature = "wasip3")))]
mod spin_adapter;

#[cfg(all(target_arch = "wasm32", feature = "wasip3"))]
mod spin_adapter_wasip3;
