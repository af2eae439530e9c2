//! Load through a NodePort while pods are disrupted, and the verdict on the requests that failed:
//! what `make rollout` and `make drain-check` print and pass or fail on.

use crate::support::{oha, LoadReport};
use anyhow::{ensure, Result};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

/// oha's connections: kept alive, as a load balancer's are.
pub const CONCURRENCY: u32 = 16;

/// oha at `rate` requests per second to `addr` for `seconds`; `disruption` starts after `settle`.
/// Returns what oha saw and the figure `disruption` returns (the seconds it measured).
pub fn under_load(
    addr: SocketAddr,
    rate: u32,
    seconds: u32,
    settle: Duration,
    disruption: impl FnOnce() -> Result<f64>,
) -> Result<(LoadReport, f64)> {
    let duration = format!("{seconds}s");
    let rate = rate.to_string();
    // -w: the requests still running at the deadline finish, rather than count as errors.
    let load = thread::spawn(move || {
        oha(
            addr,
            "/time",
            &["-q", &rate, "-z", &duration, "-w"],
            CONCURRENCY,
        )
    });
    thread::sleep(settle);
    let started = Instant::now();
    let disrupted = disruption();
    let took = started.elapsed();
    let report = load.join().expect("the oha thread panicked")?;
    let figure = disrupted?;
    ensure!(
        settle + took < Duration::from_secs(seconds.into()),
        "the disruption took {:.0} s, longer than the load lasted: raise ROLLOUT_SECONDS ({seconds})",
        took.as_secs_f64()
    );
    Ok((report, figure))
}

/// What became of a failed request, read from the message oha counted it under.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Failure {
    /// Nobody listened where the endpoint pointed: a new connection was refused.
    Refused,
    /// The kept-alive connection it was on closed or was reset under it.
    Dropped,
    /// Anything else (a timeout, a malformed answer): never allowed.
    Other,
}

/// oha 1.16.0 counts a failed request under its error's `Display` (`src/result_data.rs`,
/// `err.to_string()`), and its `ClientError` is transparent over hyper's and std's errors
/// (`src/client.rs`). hyper 1.11.0, the version oha 1.16.0's Cargo.lock pins, displays an error as
/// its kind's description and nothing more (`src/error.rs`, `description` and `Display`). These
/// are the kinds its HTTP/1 client fails a request with when the connection dies under it:
pub const DROPPED_MESSAGES: [&str; 7] = [
    // Kind::Io: reading or writing the socket failed, e.g. reset by the peer (proto/h1/conn.rs, io.rs).
    "connection error",
    // Kind::IncompleteMessage: end of stream before the whole response (proto/h1/conn.rs, io.rs).
    "connection closed before message completed",
    // Kind::Canceled: the request was queued or about to be sent when the connection closed
    // (client/dispatch.rs "connection closed", client/conn/http1.rs "connection was not ready").
    "operation was canceled",
    // Kind::ChannelClosed: the connection's task had ended (client/dispatch.rs).
    "channel closed",
    // User::DispatchGone: the connection's task ended with the request still waiting (client/dispatch.rs).
    "dispatch task is gone",
    // Kind::Body: the response body was cut off (proto/h1/dispatch.rs, body/incoming.rs).
    "error reading a body from connection",
    // Kind::BodyWrite: the request could not be written (proto/h1/dispatch.rs).
    "error writing a body to connection",
];

/// oha connects with tokio's `TcpStream::connect` and reports a failure as the `std::io::Error`
/// (`ClientError::Io`), displayed as the OS's text and code: ECONNREFUSED on Linux.
const REFUSED_PREFIX: &str = "Connection refused (os error ";

pub fn classify(message: &str) -> Failure {
    if message.starts_with(REFUSED_PREFIX) {
        Failure::Refused
    } else if DROPPED_MESSAGES.contains(&message) {
        Failure::Dropped
    } else {
        Failure::Other
    }
}

/// Failed requests by kind; non-2xx answers count as other.
#[derive(Debug, PartialEq)]
pub struct Failures {
    pub refused: u64,
    pub dropped: u64,
    pub other: u64,
}

impl Failures {
    pub fn of(report: &LoadReport) -> Failures {
        let mut failures = Failures {
            refused: 0,
            dropped: 0,
            other: report.non_2xx,
        };
        for (message, count) in &report.error_kinds {
            match classify(message) {
                Failure::Refused => failures.refused += count,
                Failure::Dropped => failures.dropped += count,
                Failure::Other => failures.other += count,
            }
        }
        failures
    }

    pub fn total(&self) -> u64 {
        self.refused + self.dropped + self.other
    }
}

/// The one loss no manifest can prevent, the same for the component and the container: a server
/// that stops closes its kept-alive connections, and a request in flight on one is lost with it
/// (HTTP/1.1's own race, RFC 9112 section 9.3.1; oha does not retry). containerd-shim-spin v0.24.0
/// aborts Spin's HTTP trigger on SIGTERM (src/engine.rs, `run_wasi`), the book's Go service exits
/// on it (`http.ListenAndServe`). The preStop pause moves new connections away first, but a
/// client's kept-alive connections stay on the stopping pod: each can lose the one request in
/// flight on it, and a pod holds about CONCURRENCY / replicas of them. Refusals and every other
/// failure stay at 0 (docs/rollouts-and-drains.md).
pub fn allowed_drops(pods_stopped: u32, replicas: u32) -> u64 {
    u64::from(pods_stopped * CONCURRENCY.div_ceil(replicas))
}

/// Prints one line for `what` (and a line per error message), and fails unless the only failures
/// are at most `allowed_drops` dropped requests.
pub fn verdict(what: &str, report: &LoadReport, allowed_drops: u64) -> Result<()> {
    let failures = Failures::of(report);
    let line = format!(
        "{what}: {} requests, {} failed ({} refused, {} dropped on open connections, {} other)",
        report.responses + report.errors,
        failures.total(),
        failures.refused,
        failures.dropped,
        failures.other
    );
    println!("{line}");
    for (message, count) in &report.error_kinds {
        println!("    {count} × {message}");
    }
    ensure!(
        failures.refused == 0 && failures.other == 0 && failures.dropped <= allowed_drops,
        "{line}; at most {allowed_drops} may be dropped, one per kept-alive connection a stopped pod held, \
         and none refused or other (docs/rollouts-and-drains.md)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(non_2xx: u64, errors: &[(&str, u64)]) -> LoadReport {
        LoadReport {
            responses: 9000,
            non_2xx,
            errors: errors.iter().map(|(_, n)| n).sum(),
            error_kinds: errors.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
            requests_per_sec: 200.0,
            p50_ms: 1.0,
            p99_ms: 2.0,
        }
    }

    #[test]
    fn every_hyper_message_for_a_connection_that_died_is_a_drop() {
        for message in DROPPED_MESSAGES {
            assert_eq!(classify(message), Failure::Dropped, "{message}");
        }
    }

    #[test]
    fn a_refused_connection_is_refused() {
        assert_eq!(
            classify("Connection refused (os error 111)"),
            Failure::Refused
        );
    }

    #[test]
    fn every_other_message_oha_prints_is_other() {
        // oha's own ClientError texts, hyper's kinds that are not a connection dying, and I/O
        // errors of connecting that are not a refusal.
        for message in [
            "timeout",
            "aborted due to deadline",
            "failed to get port from URL",
            "No record returned from DNS",
            "Redirection limit has reached",
            "invalid HTTP status-code parsed",
            "invalid HTTP version parsed",
            "message head is too large",
            "received unexpected message from connection",
            "error shutting down connection",
            "Connection reset by peer (os error 104)",
            "Network is unreachable (os error 101)",
            "connection refused",
            "connection error: extra",
        ] {
            assert_eq!(classify(message), Failure::Other, "{message}");
        }
    }

    #[test]
    fn the_real_nodes_failures_are_drops() {
        // make rollout on Kubernetes v1.36.2, shim v0.24.0: what oha printed (issue 28).
        let failures = Failures::of(&report(0, &[("connection error", 1)]));
        assert_eq!(
            failures,
            Failures {
                refused: 0,
                dropped: 1,
                other: 0
            }
        );
        let failures = Failures::of(&report(0, &[("operation was canceled", 1)]));
        assert_eq!(failures.dropped, 1);
        assert!(verdict("component", &report(0, &[("connection error", 1)]), 6).is_ok());
        assert!(verdict("container", &report(0, &[("operation was canceled", 1)]), 6).is_ok());
    }

    #[test]
    fn the_allowance_hides_nothing_but_drops() {
        let drops = [("connection error", 3), ("channel closed", 2)];
        assert!(verdict("drops within", &report(0, &drops), 5).is_ok());
        assert!(verdict("drops beyond", &report(0, &drops), 4).is_err());
        let refused = [("Connection refused (os error 111)", 1)];
        assert!(verdict("a refusal", &report(0, &refused), 1000).is_err());
        assert!(verdict("a timeout", &report(0, &[("timeout", 1)]), 1000).is_err());
        assert!(verdict("a 503", &report(1, &[]), 1000).is_err());
        assert!(verdict("nothing failed", &report(0, &[]), 0).is_ok());
    }

    #[test]
    fn a_stopped_pod_may_take_one_request_per_connection_it_held() {
        assert_eq!(allowed_drops(3, 3), 18);
        assert_eq!(allowed_drops(1, 3), 6);
        assert_eq!(allowed_drops(1, 1), 16);
        assert_eq!(allowed_drops(2, 3), 12);
    }
}
