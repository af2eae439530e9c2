//! The HTTP contract as a pure function: method, path and instant in; status, headers and body out.

use crate::clock::UnixTime;
use serde::Serialize;

/// What [`respond`] answers; the adapter copies it into the host's response unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: &'static [(&'static str, &'static str)],
    pub body: String,
}

const JSON: (&str, &str) = ("content-type", "application/json");
const NO_STORE: (&str, &str) = ("cache-control", "no-store");
/// The methods every route answers; also the `Allow` header of a 405.
const ALLOWED_METHODS: &str = "GET, HEAD";

const CLOCK_HEADERS: &[(&str, &str)] = &[JSON, NO_STORE];
const ERROR_HEADERS: &[(&str, &str)] = &[JSON];
const NOT_ALLOWED_HEADERS: &[(&str, &str)] = &[JSON, ("allow", ALLOWED_METHODS)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Time,
    NanoTime,
    Healthz,
}

impl Route {
    /// Exact, case-sensitive match: `/time/` and `/TIME` are other resources, as in Go's mux.
    fn find(path: &str) -> Option<Route> {
        match path {
            "/time" => Some(Route::Time),
            "/nanotime" => Some(Route::NanoTime),
            "/healthz" => Some(Route::Healthz),
            _ => None,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Time {
        time: String,
    },
    NanoTime {
        #[serde(rename = "nanoTime")]
        nano_time: String,
    },
    Health {
        status: &'static str,
    },
    NotFound {
        error: &'static str,
        path: &'a str,
    },
    MethodNotAllowed {
        error: &'static str,
        method: &'a str,
        path: &'a str,
    },
}

/// Answers one request. `path_with_query` is the request target as the host hands it over;
/// the query is ignored. `HEAD` gets the headers and status of `GET` and an empty body.
pub fn respond(method: &str, path_with_query: &str, now: UnixTime) -> Reply {
    let path = path_only(path_with_query);
    let is_head = method == "HEAD";
    let (status, headers, body) = match (Route::find(path), method) {
        (Some(route), "GET" | "HEAD") => {
            let body = match route {
                Route::Time => Body::Time {
                    time: now.go_string(),
                },
                Route::NanoTime => Body::NanoTime {
                    nano_time: itoa::Buffer::new().format(now.unix_nanos()).to_string(),
                },
                Route::Healthz => Body::Health { status: "ok" },
            };
            (200, CLOCK_HEADERS, body)
        }
        (Some(_), _) => (
            405,
            NOT_ALLOWED_HEADERS,
            Body::MethodNotAllowed {
                error: "method not allowed",
                method,
                path,
            },
        ),
        (None, _) => (
            404,
            ERROR_HEADERS,
            Body::NotFound {
                error: "not found",
                path,
            },
        ),
    };
    let body = if is_head {
        String::new()
    } else {
        json_line(&body)
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// The request path without its query string.
pub fn path_only(path_with_query: &str) -> &str {
    path_with_query
        .split_once('?')
        .map_or(path_with_query, |(path, _)| path)
}

/// One line per request for stdout, which `kubectl logs` shows: time, method, path, status,
/// and the newline.
pub fn log_line(now: UnixTime, method: &str, path_with_query: &str, status: u16) -> String {
    let mut line = now.rfc3339();
    for field in [
        method,
        path_only(path_with_query),
        itoa::Buffer::new().format(status),
    ] {
        line.push(' ');
        line.push_str(field);
    }
    line.push('\n');
    line
}

/// JSON plus the newline Go's `json.Encoder` writes.
fn json_line(body: &Body) -> String {
    // Serializing these string-only shapes cannot fail (no maps, no I/O); were it ever to, an
    // empty body is better than a trap.
    let mut line = serde_json::to_string(body).unwrap_or_default();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> UnixTime {
        UnixTime::new(1_795_371_003, 299_894_067).unwrap()
    }

    fn header(reply: &Reply, name: &str) -> Option<&'static str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    #[test]
    fn time_in_gos_layout_with_a_newline() {
        let reply = respond("GET", "/time", now());
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            "{\"time\":\"2026-11-22 18:10:03.299894067 +0000 UTC\"}\n"
        );
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
        assert_eq!(header(&reply, "cache-control"), Some("no-store"));
    }

    #[test]
    fn nanotime_as_a_decimal_string() {
        let reply = respond("GET", "/nanotime", now());
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, "{\"nanoTime\":\"1795371003299894067\"}\n");
        assert_eq!(header(&reply, "cache-control"), Some("no-store"));
    }

    #[test]
    fn healthz() {
        let reply = respond("GET", "/healthz", now());
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "{\"status\":\"ok\"}\n")
        );
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
    }

    #[test]
    fn head_is_get_without_a_body() {
        for path in ["/time", "/nanotime", "/healthz", "/missing"] {
            let (get, head) = (respond("GET", path, now()), respond("HEAD", path, now()));
            assert_eq!(
                (head.status, head.headers),
                (get.status, get.headers),
                "{path}"
            );
            assert_eq!(head.body, "", "{path}");
        }
    }

    #[test]
    fn query_strings_are_ignored() {
        assert_eq!(
            respond("GET", "/time?tz=Europe/Paris&x", now()),
            respond("GET", "/time", now())
        );
        assert_eq!(
            respond("GET", "/nanotime?", now()),
            respond("GET", "/nanotime", now())
        );
        assert_eq!(
            respond("GET", "/nope?a=b", now()).body,
            "{\"error\":\"not found\",\"path\":\"/nope\"}\n"
        );
    }

    #[test]
    fn unknown_paths_are_json_404s() {
        for path in [
            "/",
            "",
            "/time/",
            "/TIME",
            "//time",
            "/time%00",
            "/a\"b\\c",
            "/%zz/../time",
        ] {
            let reply = respond("GET", path, now());
            assert_eq!(reply.status, 404, "{path}");
            assert_eq!(header(&reply, "content-type"), Some("application/json"));
            let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({"error": "not found", "path": path})
            );
        }
    }

    #[test]
    fn other_methods_on_a_route_are_405_with_allow() {
        for method in [
            "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "BREW",
        ] {
            let reply = respond(method, "/time?q", now());
            assert_eq!(reply.status, 405, "{method}");
            assert_eq!(header(&reply, "allow"), Some("GET, HEAD"));
            assert_eq!(header(&reply, "content-type"), Some("application/json"));
            let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({"error": "method not allowed", "method": method, "path": "/time"})
            );
        }
    }

    #[test]
    fn unknown_path_wins_over_unknown_method() {
        assert_eq!(respond("POST", "/x", now()).status, 404);
    }

    #[test]
    fn log_line_has_time_method_path_status() {
        assert_eq!(
            log_line(now(), "GET", "/time?x=1", 200),
            "2026-11-22T18:10:03.299894067Z GET /time 200\n"
        );
    }
}
