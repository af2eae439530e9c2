//! `cluster-checks self-test` (make test-cluster-checks): the load check of `make rollout` and
//! `make drain-check` on loopback, where what the servers do is known, so that it is shown to tell
//! the three outcomes apart:
//!
//! - the component undisturbed: no failure, and the check passes with no allowance;
//! - a server that resets its kept-alive connections with a request on them, as a stopping pod's
//!   do: every lost request counts as dropped, exactly one per reset; the check passes when the
//!   allowance covers them and fails when it does not;
//! - the component's host killed halfway, so that nothing listens any more: refusals, and the check
//!   fails whatever the allowance.

use crate::kube::env;
use crate::load::{under_load, verdict, Failures};
use crate::support::{Server, Stdout};
use anyhow::{bail, ensure, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const RATE: u32 = 200;
const SECONDS: u32 = 6;
const SETTLE: Duration = Duration::from_secs(2);

/// An HTTP/1.1 server on loopback that keeps connections alive and resets each one when its
/// `RESET_AT`-th request arrives: it closes the socket with that request unread, so the kernel
/// answers with a RST, as it does for the connections of a process that aborts.
struct ResetServer {
    addr: SocketAddr,
    resets: Arc<AtomicU64>,
}

const RESET_AT: u32 = 10;

impl ResetServer {
    fn start() -> Result<ResetServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let resets = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&resets);
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let counter = Arc::clone(&counter);
                thread::spawn(move || serve_until_reset(stream, &counter));
            }
        });
        Ok(ResetServer { addr, resets })
    }
}

fn serve_until_reset(mut stream: TcpStream, resets: &AtomicU64) {
    let body = br#"{"time":"reset-server"}"#;
    for _ in 1..RESET_AT {
        if read_request_head(&mut stream).is_err() {
            return;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err() {
            return;
        }
    }
    // Wait for the next request without reading it; a peek of 0 bytes is the client closing.
    if stream.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0) {
        resets.fetch_add(1, Ordering::SeqCst);
    }
}

/// Reads one request head (a GET has no body), byte by byte so that nothing of the next request
/// is taken from the socket.
fn read_request_head(stream: &mut TcpStream) -> Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ensure!(stream.read(&mut byte)? == 1, "closed");
        head.push(byte[0]);
    }
    Ok(())
}

pub fn self_test() -> Result<()> {
    let component = PathBuf::from(env("COMPONENT")?);

    let server = Server::serve_component(&component, Stdout::Discard)?;
    let (report, _) = under_load(server.addr, RATE, SECONDS, SETTLE, || Ok(0.0))?;
    verdict("undisturbed host", &report, 0)?;

    let resetting = ResetServer::start()?;
    let (report, _) = under_load(resetting.addr, RATE, SECONDS, SETTLE, || Ok(0.0))?;
    let resets = resetting.resets.load(Ordering::SeqCst);
    let failures = Failures::of(&report);
    ensure!(
        resets > 0
            && failures
                == Failures {
                    refused: 0,
                    dropped: resets,
                    other: 0
                },
        "{resets} connections reset with a request on them, but oha's failures were counted as \
         {failures:?}: {:?}",
        report.error_kinds
    );
    verdict("connections reset mid-request", &report, resets)?;
    match verdict("the same, allowed one drop fewer", &report, resets - 1) {
        Ok(()) => bail!("the load check passed with more drops than it allowed"),
        Err(error) => println!("the check fails, as it should: {error}"),
    }

    let pid = server.pid().to_string();
    let (report, _) = under_load(server.addr, RATE, SECONDS, SETTLE, || {
        let status = Command::new("kill").args(["-KILL", &pid]).status()?;
        ensure!(status.success(), "kill {pid}");
        Ok(0.0)
    })?;
    ensure!(
        Failures::of(&report).refused > 0,
        "the host was killed but no request was refused: {:?}",
        report.error_kinds
    );
    // As many drops allowed as there were requests: the refusals must still fail it.
    let every_request = report.responses + report.errors;
    match verdict(
        "host killed halfway, every request allowed to drop",
        &report,
        every_request,
    ) {
        Ok(()) => bail!("the load check passed with its host killed halfway"),
        Err(error) => println!("the check fails, as it should: {error}"),
    }
    println!("cluster-checks self-test: ok");
    Ok(())
}
