//! `make bench`: the component against what users would run instead, measured side by side in
//! one run on one machine, interleaved so that drift in the machine's load spreads over all:
//!
//! - the template floor: Spin's Rust template (`Request` in, `Response::builder()` out), answering
//!   a greeting, which is what a user writes first: the norm;
//! - the direct floor: the smallest spin-sdk component, answering `hello` the component's own
//!   direct way: the limit of what a component can do;
//! - the same component built for WASI 0.3 (spin-sdk 7, the `wasip3` feature), when built;
//! - the book's Go service, the container this project replaces;
//! - the component's own routing and formatting behind hyper, natively.
//!
//! The wasm subjects run under `wasmtime serve`, and under `spin up` too when spin is on PATH.
//! Run by `scripts/bench`, which builds the artifacts first and passes their paths (BENCH_*);
//! BENCH_OUT is where RESULTS.md and the chart go; BENCH_QUICK=1 measures for a few seconds only,
//! to check that the tables come out.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{ensure, Context, Result};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{median, oha, Server, Stdout};

const CONCURRENCY: u32 = 64;
const COMPONENT: &str = "time-service";
const TEMPLATE_FLOOR: &str = "floor, template";

struct Settings {
    cold_starts: usize,
    rounds: usize,
    seconds_per_round: u32,
}

struct Subject {
    name: &'static str,
    artifact: PathBuf,
    /// The path loaded and polled for readiness: the floors answer any path alike.
    path: &'static str,
    /// The wasm host (`scripts/serve`'s HOST) and the component's WASI version; `None` runs the
    /// artifact itself.
    host: Option<(&'static str, Wasi)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Wasi {
    P2,
    P3,
}

impl Subject {
    /// With BENCH_SERVER_CPU set (scripts/bench sets it on machines with two or more CPUs and
    /// runs the load generator on another), the server is pinned to that CPU: less noise than
    /// both sharing all of them.
    fn command(&self, addr: SocketAddr) -> Command {
        let addr = OsString::from(addr.to_string());
        let mut argv: Vec<OsString> = match self.host {
            Some(_) => {
                let serve = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/serve");
                vec![serve.into(), addr, self.artifact.clone().into()]
            }
            None => vec![self.artifact.clone().into(), addr],
        };
        if let Some(cpu) = std::env::var_os("BENCH_SERVER_CPU") {
            argv.splice(0..0, [OsString::from("taskset"), "--cpu-list".into(), cpu]);
        }
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        if let Some((host, _)) = self.host {
            command.env("HOST", host); // scripts/serve sees the WASI version in the component
        }
        command
    }

    fn start(&self) -> Result<Server> {
        Server::start(|addr| self.command(addr), Stdout::Discard, self.path)
    }

    /// The table's row label: the host is the table's, so it is not repeated.
    fn label(&self) -> String {
        match self.host {
            Some((_, Wasi::P3)) => format!("{} (wasm, WASI 0.3)", self.name),
            Some(_) => format!("{} (wasm)", self.name),
            None => self.name.to_string(),
        }
    }
}

#[derive(Default)]
struct Figures {
    size_bytes: u64,
    cold_start_ms: Vec<f64>,
    requests_per_sec: Vec<f64>,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
    peak_rss_kib: u64,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix("VmRSS:")?
            .trim()
            .strip_suffix(" kB")?
            .parse()
            .ok()
    })
}

/// Process start to the first 200, through `Server::start`'s polling every 2 ms.
fn cold_start(subject: &Subject) -> Result<f64> {
    let started = Instant::now();
    let server = subject.start()?;
    let elapsed = started.elapsed();
    drop(server);
    Ok(elapsed.as_secs_f64() * 1e3)
}

/// One oha run against a warm server, sampling the server's resident memory meanwhile.
fn load_round(
    subject: &Subject,
    server: &Server,
    seconds: u32,
    figures: &mut Figures,
) -> Result<()> {
    let pid = server.pid();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (report, peak) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        let report = oha(
            server.addr,
            subject.path,
            &["-w", "-z", &format!("{seconds}s")],
            CONCURRENCY,
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (report, sampler.join().unwrap())
    });
    let report = report?;
    ensure!(
        report.errors == 0 && report.non_2xx == 0,
        "{}: {report:?}",
        subject.label()
    );
    figures.requests_per_sec.push(report.requests_per_sec);
    figures.p50_ms.push(report.p50_ms);
    figures.p99_ms.push(report.p99_ms);
    figures.peak_rss_kib = figures.peak_rss_kib.max(peak);
    Ok(())
}

fn measure(subjects: &[Subject], settings: &Settings) -> Result<Vec<Figures>> {
    let mut figures: Vec<Figures> = subjects.iter().map(|_| Figures::default()).collect();
    for (subject, figures) in subjects.iter().zip(&mut figures) {
        figures.size_bytes = std::fs::metadata(&subject.artifact)?.len();
        cold_start(subject)?; // a first start may fill caches; it is not counted
    }
    for _ in 0..settings.cold_starts {
        for (subject, figures) in subjects.iter().zip(&mut figures) {
            figures.cold_start_ms.push(cold_start(subject)?);
        }
    }
    let servers = subjects
        .iter()
        .map(Subject::start)
        .collect::<Result<Vec<_>>>()?;
    for (subject, server) in subjects.iter().zip(&servers) {
        oha(server.addr, subject.path, &["-w", "-z", "1s"], CONCURRENCY)?; // warm-up, not counted
    }
    for _ in 0..settings.rounds {
        for ((subject, server), figures) in subjects.iter().zip(&servers).zip(&mut figures) {
            load_round(subject, server, settings.seconds_per_round, figures)?;
        }
    }
    Ok(figures)
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .unwrap_or_else(|_| format!("{program}: not found"))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split(':')
                    .nth(1)
                    .map(|s| s.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cpu}, {} cores, Linux {}; {}; {}; {}; {}; {}",
        command_output("nproc", &["--all"]),
        command_output("uname", &["-r"]),
        command_output("wasmtime", &["--version"]),
        command_output("spin", &["--version"]),
        command_output("rustc", &["--version"]),
        command_output("go", &["version"]),
        command_output("oha", &["--version"]),
    )
}

struct Metric {
    name: &'static str,
    value: fn(&Figures) -> f64,
    /// The target against the template floor, the norm: (bound, higher is better).
    target: Option<(f64, bool)>,
}

const METRICS: [Metric; 6] = [
    Metric {
        name: "artifact size",
        value: |f| f.size_bytes as f64,
        target: Some((1.0, false)),
    },
    Metric {
        name: "cold start",
        value: |f| median(&f.cold_start_ms),
        target: None,
    },
    Metric {
        name: "throughput",
        value: |f| median(&f.requests_per_sec),
        target: Some((1.0, true)),
    },
    Metric {
        name: "p50 latency",
        value: |f| median(&f.p50_ms),
        target: None,
    },
    Metric {
        name: "p99 latency",
        value: |f| median(&f.p99_ms),
        target: None,
    },
    Metric {
        name: "peak RSS",
        value: |f| f.peak_rss_kib as f64,
        target: None,
    },
];

/// One host's table: the wasm subjects it served, and those that run themselves.
struct Table<'a> {
    host: &'static str,
    rows: Vec<(&'a Subject, &'a Figures)>,
}

impl Table<'_> {
    fn component(&self) -> (&Subject, &Figures) {
        *self
            .rows
            .iter()
            .find(|(s, _)| s.name == COMPONENT && s.host.is_some_and(|(_, w)| w == Wasi::P2))
            .expect("every table has the component")
    }

    /// The component ÷ every other subject of the table, per metric.
    fn ratios(&self) -> Vec<(String, Vec<f64>)> {
        let (component, ours) = self.component();
        self.rows
            .iter()
            .filter(|(s, _)| !std::ptr::eq(*s, component))
            .map(|(s, theirs)| {
                let ratios = METRICS
                    .iter()
                    .map(|m| (m.value)(ours) / (m.value)(theirs))
                    .collect();
                (s.label(), ratios)
            })
            .collect()
    }

    fn markdown(&self, settings: &Settings) -> String {
        let mut out = format!("### Under `{}`\n\n", self.host_command());
        let _ = writeln!(out, "| subject | artifact bytes | cold start ms (median of {}) | req/s (median of {} × {} s, c={CONCURRENCY}) | p50 ms | p99 ms | peak RSS MiB |",
            settings.cold_starts, settings.rounds, settings.seconds_per_round);
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for (subject, f) in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} |",
                subject.label(),
                f.size_bytes,
                median(&f.cold_start_ms),
                median(&f.requests_per_sec),
                median(&f.p50_ms),
                median(&f.p99_ms),
                f.peak_rss_kib as f64 / 1024.0
            );
        }
        let ratios = self.ratios();
        let template = ratios
            .iter()
            .position(|(label, _)| label.starts_with(TEMPLATE_FLOOR));
        let _ = write!(out, "\n| {COMPONENT} ÷ |");
        for (label, _) in &ratios {
            let _ = write!(out, " {label} |");
        }
        let _ = writeln!(out, " target against the template floor |");
        let _ = writeln!(out, "|---|{}---|", "---:|".repeat(ratios.len()));
        for (i, metric) in METRICS.iter().enumerate() {
            let _ = write!(out, "| {} |", metric.name);
            for (_, values) in &ratios {
                let _ = write!(out, " {:.2} |", values[i]);
            }
            let target = match (metric.target, template) {
                (Some((bound, higher)), Some(t)) => {
                    let value = ratios[t].1[i];
                    let met = if higher {
                        value >= bound
                    } else {
                        value <= bound
                    };
                    let sign = if higher { "≥" } else { "≤" };
                    format!("{sign} {bound:.2}: {}", if met { "met" } else { "missed" })
                }
                _ => "–".into(),
            };
            let _ = writeln!(out, " {target} |");
        }
        out
    }

    fn host_command(&self) -> &'static str {
        match self.host {
            "spin" => "spin up",
            _ => "wasmtime serve",
        }
    }
}

const COLORS: [&str; 8] = [
    "#3b6fb6", "#7fa7dc", "#e08a2e", "#5a9e4b", "#b5478c", "#8c6d31", "#444444", "#c9b037",
];

/// Every subject against the component on one log axis, a group of bars per metric: bars grow
/// right of the 1.0 line for ratios above one and left of it below one, each doubling the same
/// length.
fn chart(tables: &[Table]) -> String {
    let series: Vec<(String, Vec<f64>)> = tables
        .iter()
        .flat_map(|t| {
            t.ratios().into_iter().map(move |(label, values)| {
                let label = if tables.len() > 1 {
                    format!("{label}, {}", t.host)
                } else {
                    label
                };
                (label, values)
            })
        })
        .collect();
    let (bar, left, per_doubling, doublings) = (12.0, 125.0, 40.0, 6.0);
    let legend = 18.0 * series.len() as f64 + 30.0;
    let group = bar * series.len() as f64 + 14.0;
    let one = left + per_doubling * doublings; // x of ratio 1.0
    let width = one + per_doubling * doublings + 60.0;
    let height = legend + group * METRICS.len() as f64 + 10.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">
<text x="4" y="14">{COMPONENT} ÷ each subject, log scale; the line is 1.0 (left: smaller or faster, except throughput)</text>
"#
    );
    for (j, (label, _)) in series.iter().enumerate() {
        let y = 24.0 + 18.0 * j as f64;
        let color = COLORS[j % COLORS.len()];
        let _ = writeln!(
            svg,
            r#"<rect x="4" y="{y:.0}" width="12" height="12" fill="{color}"/><text x="22" y="{:.0}">÷ {label}</text>"#,
            y + 10.0
        );
    }
    for (i, metric) in METRICS.iter().enumerate() {
        let y = legend + group * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{:.0}">{}</text>"#,
            y + group / 2.0,
            metric.name
        );
        for (j, (_, values)) in series.iter().enumerate() {
            let (value, color) = (values[i], COLORS[j % COLORS.len()]);
            let bar_y = y + bar * j as f64;
            let end = one + per_doubling * value.log2().clamp(-doublings, doublings);
            let (x, length) = (one.min(end), (end - one).abs());
            let label_x = if end >= one { end + 3.0 } else { end - 34.0 };
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{bar_y:.0}" width="{length:.1}" height="{:.0}" fill="{color}"/><text x="{label_x:.1}" y="{:.0}">{value:.2}</text>"#,
                bar - 2.0,
                bar_y + bar - 3.0
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<line x1="{one:.0}" y1="{legend:.0}" x2="{one:.0}" y2="{:.0}" stroke="black"/></svg>"#,
        height - 6.0
    );
    svg
}

fn on_path(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

fn main() -> Result<()> {
    let path = |name: &str| -> Result<PathBuf> {
        Ok(PathBuf::from(std::env::var(name).with_context(|| {
            format!("{name} is not set: run `make bench`")
        })?))
    };
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let settings = if quick {
        Settings {
            cold_starts: 3,
            rounds: 1,
            seconds_per_round: 1,
        }
    } else {
        Settings {
            cold_starts: 20,
            rounds: 5,
            seconds_per_round: 5,
        }
    };
    let hosts: Vec<&'static str> = std::iter::once("wasmtime")
        .chain(on_path("spin").then_some("spin"))
        .collect();
    let component_p3 = std::env::var_os("BENCH_COMPONENT_P3").map(PathBuf::from);
    let mut subjects = Vec::new();
    for &host in &hosts {
        let wasm = |name, artifact: PathBuf, path, wasi| Subject {
            name,
            artifact,
            path,
            host: Some((host, wasi)),
        };
        subjects.push(wasm(COMPONENT, path("BENCH_COMPONENT")?, "/time", Wasi::P2));
        // No released Spin runs WASI 0.3 components yet (see the README): wasmtime only.
        if let (Some(artifact), "wasmtime") = (&component_p3, host) {
            subjects.push(wasm(COMPONENT, artifact.clone(), "/time", Wasi::P3));
        }
        subjects.push(wasm(
            TEMPLATE_FLOOR,
            path("BENCH_FLOOR_TEMPLATE")?,
            "/",
            Wasi::P2,
        ));
        subjects.push(wasm("floor, direct", path("BENCH_FLOOR")?, "/", Wasi::P2));
    }
    subjects.push(Subject {
        name: "Go service (the book's)",
        artifact: path("BENCH_GO")?,
        path: "/time",
        host: None,
    });
    subjects.push(Subject {
        name: "native (hyper)",
        artifact: path("BENCH_NATIVE")?,
        path: "/time",
        host: None,
    });
    let out_dir = path("BENCH_OUT")?;
    std::fs::create_dir_all(&out_dir)?;

    let figures = measure(&subjects, &settings)?;
    let tables: Vec<Table> = hosts
        .iter()
        .map(|&host| Table {
            host,
            rows: subjects
                .iter()
                .zip(&figures)
                .filter(|(s, _)| s.host.is_none_or(|(h, _)| h == host))
                .collect(),
        })
        .collect();
    let spin_note = if hosts.contains(&"spin") {
        String::new()
    } else {
        "spin is not installed on this machine: the wasm subjects ran under `wasmtime serve` only.\n\n"
            .into()
    };
    let tables_md: String = tables
        .iter()
        .map(|t| t.markdown(&settings))
        .collect::<Vec<_>>()
        .join("\n");
    println!("\n{spin_note}{tables_md}");
    let results = format!(
        "# Benchmark results\n\n`make bench`{}, {}.\n\nMachine: {}.\n\n\
         The wasm subjects run under each host installed, with its defaults: a fresh instance per\n\
         request, except that `wasmtime serve` reuses a WASI 0.3 instance for up to 128 requests, 16\n\
         at a time. The Go service and the native baseline run themselves. Subjects are interleaved: each cold start\n\
         and each load round runs all of them in turn. Ratios below 1.0 are smaller or faster for\n\
         size, start and latency; above 1.0 is better for throughput. The Go service's size is its\n\
         static binary; the book's image adds Alpine on top.{}\n\n{spin_note}{tables_md}\n![ratios](ratios.svg)\n",
        if quick { " (quick mode: BENCH_QUICK=1, figures are rough)" } else { "" },
        command_output("date", &["-u", "+%Y-%m-%d"]),
        machine(),
        std::env::var("BENCH_SERVER_CPU").map_or(String::new(), |cpu| format!(
            "\nEach server ran pinned to CPU {cpu}, oha and the harness on CPU 0."
        )),
    );
    std::fs::write(out_dir.join("RESULTS.md"), results)?;
    std::fs::write(out_dir.join("ratios.svg"), chart(&tables))?;
    println!("wrote {}", out_dir.join("RESULTS.md").display());
    Ok(())
}
