//! The WASI 0.3 build (feature `wasip3`): spin-sdk 7's `http::Request` in, [`respond`] and a log
//! line, an `http::Response` out. The default build is `spin_adapter.rs`; both call the same
//! routes and clock. This one takes std's routes to the clock and stdout: it is not the deployed
//! artifact, so its size is not tuned.

use crate::clock::UnixTime;
use crate::routes::{log_line, respond};
use spin_sdk_v7::http::{FromRequest, IntoResponse, Request, Response};
use spin_sdk_v7::wasip3::exports::http::handler::Guest;
use spin_sdk_v7::wasip3::http::types;
use std::io::Write;

async fn handle_time_service(request: Request) -> impl IntoResponse {
    let now = UnixTime::now();
    let method = request.method().as_str();
    let path_with_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let reply = respond(method, path_with_query, now);
    // A lost log line must not fail the request.
    let line = log_line(now, method, path_with_query, reply.status);
    let _ = std::io::stdout().write_all(line.as_bytes());
    let mut response = Response::builder().status(reply.status);
    for &(name, value) in reply.headers {
        response = response.header(name, value);
    }
    // The statuses and headers are the router's constants, all valid; were the builder ever to
    // refuse them, spin-sdk answers with its error response rather than trapping.
    response.body(reply.body)
}

/// What spin-sdk 7's `#[http_service]` generates, written out: its expansion names the crate
/// `::spin_sdk`, which in this package is spin-sdk 5.2, the default build's SDK.
struct Spin;
spin_sdk_v7::wasip3::http::service::export!(Spin);

impl Guest for Spin {
    async fn handle(request: types::Request) -> Result<types::Response, types::ErrorCode> {
        let request = <Request as FromRequest>::from_request(request)?;
        handle_time_service(request).await.into_response()
    }
}
