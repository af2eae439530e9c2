//! What scanners and broken clients send: a grid of methods and request targets, each answered
//! with the documented status and a JSON body, none with a 5xx or a dropped connection.

use crate::support::Server;
use crate::ROUTES;
use anyhow::{ensure, Context, Result};
use serde_json::json;
use time_service::routes::path_only;

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW",
];

fn targets() -> Vec<String> {
    let mut targets: Vec<String> = [
        "/time",
        "/nanotime",
        "/healthz",
        // trailing slash, other case, double slashes
        "/time/",
        "/nanotime/",
        "/TIME",
        "/NanoTime",
        "/Healthz",
        "//time",
        "/time//",
        "//",
        // percent-encodings: encoded letters, NUL, invalid and truncated escapes, non-UTF-8 bytes
        "/%74ime",
        "/time%00",
        "/%00",
        "/time%",
        "/time%zz",
        "/%ff%fe",
        "/time%2F",
        "/time?%00=%zz&%=",
        // dot segments
        "/./time",
        "/a/../time",
        "/..",
        "/../../etc/passwd",
        "/time/.",
    ]
    .map(String::from)
    .to_vec();
    targets.push(format!("/{}", "a".repeat(4096)));
    targets.push(format!("/time/{}", "b".repeat(8000)));
    targets.push(format!("/time?q={}", "x".repeat(8000)));
    targets.push(format!(
        "/nanotime?{}",
        (0..500)
            .map(|i| format!("p{i}={i}"))
            .collect::<Vec<_>>()
            .join("&")
    ));
    targets.push(format!("/healthz?{}", "k&".repeat(400)));
    targets
}

/// The documented answer: a route answers GET and HEAD and refuses other methods; anything else is not found.
fn expected_status(method: &str, target: &str) -> u16 {
    match (ROUTES.contains(&path_only(target)), method) {
        (true, "GET" | "HEAD") => 200,
        (true, _) => 405,
        (false, _) => 404,
    }
}

pub fn grid(server: &Server) -> Result<()> {
    let targets = targets();
    let mut sent = 0;
    for target in &targets {
        for method in METHODS {
            let response = server
                .send(method, target)
                .with_context(|| format!("{method} {:.60}", target))?;
            sent += 1;
            let (status, path) = (expected_status(method, target), path_only(target));
            ensure!(
                response.status == status,
                "{method} {target:.60}: status {} instead of {status}",
                response.status
            );
            ensure!(
                response.header("content-type") == Some("application/json"),
                "{method} {target:.60}: {:?}",
                response.headers
            );
            if method == "HEAD" {
                continue; // the client already refused a HEAD answer with a body
            }
            let body = response.json()?;
            match status {
                200 => ensure!(
                    body.as_object().is_some_and(|o| o.len() == 1),
                    "{method} {target:.60}: {body}"
                ),
                404 => ensure!(
                    body == json!({"error": "not found", "path": path}),
                    "{method} {target:.60}: {body}"
                ),
                _ => {
                    ensure!(
                        response.header("allow") == Some("GET, HEAD"),
                        "{method} {target:.60}: no Allow"
                    );
                    ensure!(
                        body == json!({"error": "method not allowed", "method": method, "path": path}),
                        "{body}"
                    );
                }
            }
        }
    }
    ensure!(sent >= 200, "only {sent} odd requests");
    for path in ROUTES {
        let response = server.send("GET", path)?;
        ensure!(
            response.status == 200,
            "GET {path} after the grid: {}",
            response.status
        );
    }
    println!("    {sent} odd requests: all answered as documented");
    Ok(())
}
