//! Each point of the HTTP contract, over real HTTP.

use crate::support::go_layout::parse_go_string;
use crate::support::{Response, Server};
use crate::ROUTES;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use time_service::clock::UnixTime;
use time_service::routes::path_only;

/// How far the served clock may be from the test's (both read the same machine's clock).
const CLOCK_SLACK_NANOS: i128 = 5_000_000_000;

fn expect(response: &Response, status: u16, headers: &[(&str, &str)]) -> Result<()> {
    ensure!(
        response.status == status,
        "status {} instead of {status}: {response:?}",
        response.status
    );
    for (name, value) in headers {
        ensure!(
            response.header(name) == Some(value),
            "{name}: {:?} instead of {value:?}",
            response.header(name)
        );
    }
    Ok(())
}

/// The body is one JSON object followed by exactly one newline, as Go's encoder writes it.
fn json_line(response: &Response) -> Result<Value> {
    ensure!(
        response.body.ends_with(b"}\n") && !response.body.ends_with(b"\n\n"),
        "body {:?}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

fn ensure_near_now(nanos: i128) -> Result<()> {
    ensure!(
        (nanos - now_nanos()).abs() < CLOCK_SLACK_NANOS,
        "served instant {nanos} is not now ({})",
        now_nanos()
    );
    Ok(())
}

/// What this service adds to the book's clock routes; the book's Go service sets no headers (Go
/// sniffs its JSON as text/plain).
const CLOCK_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
];

/// GETs a clock route and returns its one string field, after checking status and headers.
fn clock_field(
    server: &Server,
    path: &str,
    field: &str,
    headers: &[(&str, &str)],
) -> Result<String> {
    let response = server.send("GET", path)?;
    expect(&response, 200, headers)?;
    let body = json_line(&response)?;
    let fields = body.as_object().context("body is not an object")?;
    ensure!(
        fields.len() == 1,
        "{path}: fields other than {field} in {body}"
    );
    let value = body[field]
        .as_str()
        .with_context(|| format!("{path}: no string field {field}"))?;
    Ok(value.to_string())
}

fn check_time(server: &Server, headers: &[(&str, &str)]) -> Result<()> {
    let text = clock_field(server, "/time", "time", headers)?;
    let instant = parse_go_string(&text).with_context(|| format!("{text:?} is not Go's layout"))?;
    ensure_near_now(instant.unix_nanos())
}

fn check_nanotime(server: &Server, headers: &[(&str, &str)]) -> Result<()> {
    let text = clock_field(server, "/nanotime", "nanoTime", headers)?;
    ensure!(
        text.bytes().all(|b| b.is_ascii_digit()),
        "{text:?} is not a decimal string"
    );
    ensure_near_now(text.parse()?)
}

pub fn time(server: &Server) -> Result<()> {
    check_time(server, &CLOCK_HEADERS)
}

pub fn nanotime(server: &Server) -> Result<()> {
    check_nanotime(server, &CLOCK_HEADERS)
}

/// The book's contract, which its Go service (the container) meets as the component does: the
/// two routes' JSON, and a log line for every call.
pub mod book {
    use super::*;

    pub fn time(server: &Server) -> Result<()> {
        check_time(server, &[])
    }

    pub fn nanotime(server: &Server) -> Result<()> {
        check_nanotime(server, &[])
    }

    pub fn log_line_per_call(server: &Server) -> Result<()> {
        // Go's log writes `2026/11/22 18:10:03 GET /time`; the component adds the status.
        for path in ["/time", "/nanotime", "/time"] {
            let seen = server.output().len();
            server.send("GET", path)?;
            server.wait_for_line(seen, |line| {
                let mut words = line.split_whitespace().skip_while(|word| *word != "GET");
                words.next().is_some() && words.next() == Some(path)
            })?;
        }
        Ok(())
    }
}

pub fn healthz(server: &Server) -> Result<()> {
    let response = server.send("GET", "/healthz")?;
    expect(&response, 200, &[("content-type", "application/json")])?;
    ensure!(json_line(&response)? == json!({"status": "ok"}));
    Ok(())
}

/// Headers that describe the message, not the resource, and so may differ between GET and HEAD.
fn resource_headers(response: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<_> = response
        .headers
        .iter()
        .filter(|(name, _)| {
            !["date", "content-length", "transfer-encoding", "connection"]
                .contains(&name.to_ascii_lowercase().as_str())
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    headers.sort();
    headers
}

pub fn head_matches_get(server: &Server) -> Result<()> {
    for path in ROUTES.iter().chain(&["/missing"]) {
        let (get, head) = (server.send("GET", path)?, server.send("HEAD", path)?);
        ensure!(
            head.status == get.status,
            "{path}: HEAD {} GET {}",
            head.status,
            get.status
        );
        ensure!(
            resource_headers(&head) == resource_headers(&get),
            "{path}: HEAD {:?} GET {:?}",
            head.headers,
            get.headers
        );
        ensure!(head.body.is_empty(), "{path}: HEAD has a body");
    }
    Ok(())
}

pub fn query_is_ignored(server: &Server) -> Result<()> {
    for path in ROUTES {
        let response = server.send("GET", &format!("{path}?format=unix&x=%zz&&="))?;
        expect(&response, 200, &[("content-type", "application/json")])?;
    }
    let response = server.send("GET", "/health?/healthz")?;
    expect(&response, 404, &[("content-type", "application/json")])?;
    ensure!(json_line(&response)? == json!({"error": "not found", "path": "/health"}));
    Ok(())
}

pub fn not_found(server: &Server) -> Result<()> {
    for path in ["/", "/x", "/time/", "/TIME", "/time.json", "/nanotime/x"] {
        for method in ["GET", "POST"] {
            let response = server.send(method, path)?;
            expect(&response, 404, &[("content-type", "application/json")])?;
            ensure!(
                json_line(&response)? == json!({"error": "not found", "path": path}),
                "{method} {path}"
            );
        }
    }
    Ok(())
}

pub fn method_not_allowed(server: &Server) -> Result<()> {
    for path in ROUTES {
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let response = server.send(method, path)?;
            expect(
                &response,
                405,
                &[("content-type", "application/json"), ("allow", "GET, HEAD")],
            )?;
            ensure!(
                json_line(&response)?
                    == json!({"error": "method not allowed", "method": method, "path": path})
            );
        }
    }
    Ok(())
}

/// The line is `<RFC 3339 UTC> <method> <path> <status>` on the host's stdout (a host may
/// prefix it), one per request, whatever the status.
pub fn one_log_line_per_request(server: &Server) -> Result<()> {
    for (method, target, status) in [
        ("GET", "/nanotime?x=1", 200),
        ("DELETE", "/time", 405),
        ("GET", "/log-probe", 404),
    ] {
        let suffix = format!(" {method} {} {status}", path_only(target));
        let seen = server.output().len();
        server.send(method, target)?;
        let line = server.wait_for_line(seen, |line| line.ends_with(&suffix))?;
        let stamp = line
            .strip_suffix(&suffix)
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap_or_default();
        let instant =
            parse_rfc3339(stamp).with_context(|| format!("no RFC 3339 UTC time in {line:?}"))?;
        ensure_near_now(instant.unix_nanos())?;
        std::thread::sleep(std::time::Duration::from_millis(200)); // room for a second line, were there one
        let count = server.output()[seen..]
            .iter()
            .filter(|line| line.ends_with(&suffix))
            .count();
        ensure!(count == 1, "{count} log lines for one {method} {target}");
    }
    Ok(())
}

/// `2026-11-22T18:10:03.299894067Z` back to an instant, through the Go-layout parser.
fn parse_rfc3339(stamp: &str) -> Option<UnixTime> {
    let (date, clock) = stamp.strip_suffix('Z')?.split_once('T')?;
    let (hms, fraction) = clock.split_once('.')?;
    (fraction.len() == 9).then_some(())?;
    let fraction = fraction.trim_end_matches('0');
    let dot = if fraction.is_empty() { "" } else { "." };
    parse_go_string(&format!("{date} {hms}{dot}{fraction} +0000 UTC"))
}
