//! The default build's spin-sdk 5.2 code: request in, [`respond`] and a log line, response out.

use crate::clock::UnixTime;
use crate::routes::{log_line, respond};
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

/// The two-argument form hands the response to the host directly: no request body is read (no
/// route needs one, so a client cannot make reading it fail) and no intermediate `Response` map.
#[http_component]
async fn handle_time_service(request: IncomingRequest, response_out: ResponseOutparam) {
    // The WASI wall clock itself: std's SystemTime would add a fifth to the component's size.
    let clock = wasi::clocks::wall_clock::now();
    let now = UnixTime::after_epoch(clock.seconds, clock.nanoseconds);
    let method = request.method();
    let method = method_name(&method);
    let path_with_query = request.path_with_query().unwrap_or_default();
    let reply = respond(method, &path_with_query, now);
    write_stdout(&log_line(now, method, &path_with_query, reply.status));

    // The header names and values and the statuses are the router's constants, all valid, so
    // `append` and `set_status_code` cannot fail (the end-to-end tests see each one arrive).
    // `set_with_body` fails only when the client has gone; there is nobody left to tell.
    let headers = Fields::new();
    for &(name, value) in reply.headers {
        let _ = headers.append(name, value.as_bytes());
    }
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(reply.status);
    let _ = response_out
        .set_with_body(response, reply.body.into_bytes())
        .await;
}

/// The method as sent. (`Method`'s `Display` would do, but would pull core::fmt into the component.)
fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}

/// Writes to the component's stdout, which becomes the pod's log. Straight to the WASI stream:
/// `std::io::stdout` would add its buffering, locking and panic paths to the component. A lost
/// log line must not fail the request, so a write error ends the write and nothing else.
fn write_stdout(text: &str) {
    let stdout = wasi::cli::stdout::get_stdout();
    for chunk in text.as_bytes().chunks(4096) {
        // 4096 bytes is the most one blocking-write-and-flush call accepts.
        if stdout.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
}
