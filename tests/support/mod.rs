#![allow(dead_code)] // shared by the end-to-end suite and the benchmark; each uses a part
//! A real host serving a real component, and a raw HTTP/1.1 client that sends request targets
//! byte for byte (no URL normalisation), for the end-to-end tests and the benchmark.

pub mod go_layout;

use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// What becomes of a server's stdout: the tests read the log lines; the benchmark must not pay
/// for reading them.
pub enum Stdout {
    Collect,
    Discard,
}

/// A server process on a free loopback port; its output lines are collected, and it is killed on drop.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `scripts/serve` on a free port: the project's one way to start a host (HOST picks it).
    pub fn serve_component(wasm: &Path, stdout: Stdout) -> Result<Server> {
        // The repository root: this package's, or the one above cluster-checks/.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .find(|dir| dir.join("spin.toml").is_file())
            .context("no spin.toml above CARGO_MANIFEST_DIR")?;
        let serve = root.join("scripts/serve");
        Server::start(
            |addr| {
                let mut command = Command::new(&serve);
                command.arg(addr.to_string()).arg(wasm);
                command
            },
            stdout,
            "/healthz",
        )
    }

    /// A program that takes its listen address as its one argument (the book's Go service),
    /// ready when `GET /time` answers.
    pub fn serve_program(program: &Path, stdout: Stdout) -> Result<Server> {
        Server::start(
            |addr| {
                let mut command = Command::new(program);
                command.arg(addr.to_string());
                command
            },
            stdout,
            "/time",
        )
    }

    /// Starts `command(addr)` and waits until `GET ready_path` answers 200. Stderr is always
    /// collected, for the error message if the server never answers.
    pub fn start(
        command: impl Fn(SocketAddr) -> Command,
        stdout: Stdout,
        ready_path: &str,
    ) -> Result<Server> {
        let addr = free_loopback_addr()?;
        let mut child = command(addr)
            .stdout(match stdout {
                Stdout::Collect => Stdio::piped(),
                Stdout::Discard => Stdio::null(),
            })
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {:?}", command(addr)))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            collect_lines(out, &output);
        }
        collect_lines(child.stderr.take().unwrap(), &output);
        let server = Server {
            addr,
            child,
            output,
        };
        server.wait_until_ready(ready_path, Duration::from_secs(120))?;
        Ok(server)
    }

    /// Polls `GET path` every 2 ms until it answers 200.
    fn wait_until_ready(&self, path: &str, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(response) = exchange(self.addr, &request("GET", path)) {
                if response.status == 200 {
                    return Ok(());
                }
            }
            thread::sleep(Duration::from_millis(2));
        }
        bail!(
            "no 200 from {} within {limit:?}; output:\n{}",
            self.addr,
            self.output().join("\n")
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line the server wrote so far, stdout and stderr interleaved.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Waits up to five seconds for an output line after the first `skip` that satisfies `wanted`.
    pub fn wait_for_line(&self, skip: usize, wanted: impl Fn(&str) -> bool) -> Result<String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Some(line) = self
                .output()
                .into_iter()
                .skip(skip)
                .find(|line| wanted(line))
            {
                return Ok(line);
            }
            thread::sleep(Duration::from_millis(10));
        }
        bail!(
            "no such line in the server's output:\n{}",
            self.output().join("\n")
        )
    }

    pub fn send(&self, method: &str, target: &str) -> Result<Response> {
        exchange(self.addr, &request(method, target))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_loopback_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn collect_lines(stream: impl Read + Send + 'static, into: &Arc<Mutex<Vec<String>>>) {
    let into = Arc::clone(into);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    });
}

/// An HTTP/1.1 request with no body that closes the connection after the answer.
pub fn request(method: &str, target: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: time-service-tests\r\nConnection: close\r\n\r\n").into_bytes()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of a header (names compare case-insensitively); the first if repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "body is not JSON: {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends raw request bytes and reads the whole answer. An answer cut short, or none, is an error:
/// to a client that is a dropped connection.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .context("reading the response")?;
    let is_head = request.starts_with(b"HEAD ");
    parse_response(&raw, is_head)
        .with_context(|| format!("response {:?}", String::from_utf8_lossy(&raw)))
}

/// An HTTP/1.1 answer, head and body, as `exchange` reads it.
pub fn parse_response(raw: &[u8], is_head: bool) -> Result<Response> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("connection closed before the end of the headers")?;
    let head = std::str::from_utf8(&raw[..head_end])?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
        ["HTTP/1.1", code, ..] => code.parse()?,
        _ => bail!("bad status line {status_line:?}"),
    };
    let headers = lines
        .map(|line| {
            line.split_once(':')
                .map(|(n, v)| (n.to_string(), v.trim().to_string()))
                .context("bad header line")
        })
        .collect::<Result<Vec<_>>>()?;
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[head_end + 4..];
    if is_head {
        if !rest.is_empty() {
            bail!("HEAD response has {} body bytes", rest.len());
        }
    } else if response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(rest)?;
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse()?;
        if rest.len() != length {
            bail!("content-length {length} but {} body bytes", rest.len());
        }
        response.body = rest.to_vec();
    } else {
        response.body = rest.to_vec();
    }
    Ok(response)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line cut short")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&rest[..line_end])?
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            bail!("chunk cut short");
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// What oha measured, from its JSON report.
#[derive(Debug)]
pub struct LoadReport {
    pub responses: u64,
    pub non_2xx: u64,
    pub errors: u64,
    /// oha's error messages and how often each came.
    pub error_kinds: Vec<(String, u64)>,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs oha against `http://addr{path}` at `concurrency`; `amount` is oha's `-n N` or `-z 3s`.
pub fn oha(addr: SocketAddr, path: &str, amount: &[&str], concurrency: u32) -> Result<LoadReport> {
    let output = Command::new("oha")
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "-c",
            &concurrency.to_string(),
        ])
        .args(amount)
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("running oha (make tools installs it)")?;
    ensure!(
        output.status.success(),
        "oha failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("oha's JSON report")?;
    let count = |field: &str, wanted: &dyn Fn(&str) -> bool| -> u64 {
        report[field].as_object().map_or(0, |m| {
            m.iter()
                .filter(|(k, _)| wanted(k))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
    };
    let number = |value: &serde_json::Value| {
        value
            .as_f64()
            .with_context(|| format!("oha report lacks a figure: {report}"))
    };
    Ok(LoadReport {
        responses: count("statusCodeDistribution", &|_| true),
        non_2xx: count("statusCodeDistribution", &|code| !code.starts_with('2')),
        errors: count("errorDistribution", &|_| true),
        error_kinds: report["errorDistribution"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(kind, n)| (kind.clone(), n.as_u64().unwrap_or(0)))
            .collect(),
        requests_per_sec: number(&report["summary"]["requestsPerSec"])?,
        p50_ms: number(&report["latencyPercentiles"]["p50"])? * 1e3,
        p99_ms: number(&report["latencyPercentiles"]["p99"])? * 1e3,
    })
}
