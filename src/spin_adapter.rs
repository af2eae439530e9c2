//! The only code that knows spin-sdk: request in, [`respond`] and a log line, response out.

use crate::clock::UnixTime;
use crate::routes::{log_line, respond};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use std::io::Write;

/// Takes the raw `IncomingRequest` rather than `Request` so that the body is never read:
/// no route needs it, and a client cannot make the conversion fail.
#[http_component]
fn handle_time_service(request: IncomingRequest) -> Response {
    let now = UnixTime::now();
    let method = request.method().to_string();
    let path_with_query = request.path_with_query().unwrap_or_default();
    let reply = respond(&method, &path_with_query, now);
    // A lost log line must not fail the request, so the write error is dropped, not unwrapped.
    let _ = writeln!(std::io::stdout(), "{}", log_line(now, &method, &path_with_query, reply.status));
    let mut response = Response::builder();
    response.status(reply.status);
    for &(name, value) in reply.headers {
        response.header(name, value);
    }
    response.body(reply.body).build()
}
