//! `make bench`: the component, the floor (the smallest spin-sdk HTTP component) and the native
//! baseline (the same routing and formatting behind hyper), measured side by side in one run on
//! one machine, interleaved so that drift in the machine's load spreads over all three.
//!
//! Run by `scripts/bench`, which builds the three artifacts first and passes their paths:
//! BENCH_COMPONENT, BENCH_FLOOR, BENCH_NATIVE; BENCH_OUT is where RESULTS.md and the chart go;
//! BENCH_QUICK=1 measures for a few seconds only, to check that the table comes out.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{ensure, Context, Result};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{oha, Server, Stdout};

const CONCURRENCY: u32 = 64;

struct Settings {
    cold_starts: usize,
    rounds: usize,
    seconds_per_round: u32,
}

struct Subject {
    name: &'static str,
    artifact: PathBuf,
    /// The path loaded: the floor answers any path alike.
    path: &'static str,
    /// Wasm subjects run under the same host (wasmtime serve); the native one runs itself.
    wasm: bool,
}

impl Subject {
    /// With BENCH_SERVER_CPU set (scripts/bench sets it on machines with two or more CPUs and
    /// runs the load generator on another), the server is pinned to that CPU: less noise than
    /// both sharing all of them.
    fn command(&self, addr: SocketAddr) -> Command {
        let addr = OsString::from(addr.to_string());
        let mut argv: Vec<OsString> = if self.wasm {
            let serve = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/serve");
            vec![serve.into(), addr, self.artifact.clone().into()]
        } else {
            vec![self.artifact.clone().into(), addr]
        };
        if let Some(cpu) = std::env::var_os("BENCH_SERVER_CPU") {
            argv.splice(0..0, [OsString::from("taskset"), "--cpu-list".into(), cpu]);
        }
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).env("HOST", "wasmtime"); // the one host for every wasm subject
        command
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

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
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
    let server = Server::start(|addr| subject.command(addr), Stdout::Discard)?;
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
        subject.name
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
        .map(|s| Server::start(|addr| s.command(addr), Stdout::Discard))
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
        "{cpu}, {} cores, Linux {}; {}; {}; {}",
        command_output("nproc", &["--all"]),
        command_output("uname", &["-r"]),
        command_output("wasmtime", &["--version"]),
        command_output("rustc", &["--version"]),
        command_output("oha", &["--version"]),
    )
}

struct Ratio {
    metric: &'static str,
    to_floor: f64,
    to_native: f64,
    /// The issue's target against the floor: (bound, higher is better).
    target: Option<(f64, bool)>,
}

fn ratios(f: &[Figures]) -> Vec<Ratio> {
    let (ours, floor, native) = (&f[0], &f[1], &f[2]);
    let ratio = |metric, value: &dyn Fn(&Figures) -> f64, target| Ratio {
        metric,
        to_floor: value(ours) / value(floor),
        to_native: value(ours) / value(native),
        target,
    };
    vec![
        ratio(
            "artifact size",
            &|x| x.size_bytes as f64,
            Some((1.10, false)),
        ),
        ratio(
            "cold start",
            &|x| median(&x.cold_start_ms),
            Some((1.10, false)),
        ),
        ratio(
            "throughput",
            &|x| median(&x.requests_per_sec),
            Some((0.95, true)),
        ),
        ratio("p50 latency", &|x| median(&x.p50_ms), None),
        ratio("p99 latency", &|x| median(&x.p99_ms), Some((1.10, false))),
        ratio("peak RSS", &|x| x.peak_rss_kib as f64, None),
    ]
}

fn report(subjects: &[Subject], figures: &[Figures], settings: &Settings) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| subject | artifact bytes | cold start ms (median of {}) | req/s (median of {} × {} s, c={CONCURRENCY}) | p50 ms | p99 ms | peak RSS MiB |",
        settings.cold_starts, settings.rounds, settings.seconds_per_round);
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (subject, f) in subjects.iter().zip(figures) {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} |",
            subject.name,
            f.size_bytes,
            median(&f.cold_start_ms),
            median(&f.requests_per_sec),
            median(&f.p50_ms),
            median(&f.p99_ms),
            f.peak_rss_kib as f64 / 1024.0
        );
    }
    let _ = writeln!(
        out,
        "\n| time-service ÷ | floor | native | target against the floor |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|");
    for r in ratios(figures) {
        let target = match r.target {
            Some((bound, true)) => format!(
                "≥ {bound:.2}: {}",
                if r.to_floor >= bound { "met" } else { "missed" }
            ),
            Some((bound, false)) => format!(
                "≤ {bound:.2}: {}",
                if r.to_floor <= bound { "met" } else { "missed" }
            ),
            None => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {target} |",
            r.metric, r.to_floor, r.to_native
        );
    }
    out
}

/// A bar chart of the ratios on a log scale: bars grow right of the 1.0 line for ratios above
/// one and left of it below one, each doubling the same length.
fn chart(figures: &[Figures]) -> String {
    let ratios = ratios(figures);
    let (row, left, per_doubling, doublings) = (34.0, 125.0, 45.0, 5.0);
    let one = left + per_doubling * doublings; // x of ratio 1.0
    let width = one + per_doubling * doublings + 50.0;
    let height = row * ratios.len() as f64 + 50.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">
<text x="4" y="14">time-service ÷ floor (blue) and ÷ native (orange), log scale; the line is 1.0</text>
"#
    );
    for (i, r) in ratios.iter().enumerate() {
        let y = 26.0 + row * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{:.0}">{}</text>"#,
            y + 17.0,
            r.metric
        );
        for (j, (value, color)) in [(r.to_floor, "#3b6fb6"), (r.to_native, "#e08a2e")]
            .into_iter()
            .enumerate()
        {
            let bar_y = y + 2.0 + 13.0 * j as f64;
            let end = one + per_doubling * value.log2().clamp(-doublings, doublings);
            let (x, bar) = (one.min(end), (end - one).abs());
            let label_x = if end >= one { end + 4.0 } else { end - 34.0 };
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{bar_y:.0}" width="{bar:.1}" height="11" fill="{color}"/><text x="{label_x:.1}" y="{:.0}">{value:.2}</text>"#,
                bar_y + 10.0
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<line x1="{one:.0}" y1="20" x2="{one:.0}" y2="{:.0}" stroke="black"/></svg>"#,
        height - 10.0
    );
    svg
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
    let subjects = [
        Subject {
            name: "time-service (wasm)",
            artifact: path("BENCH_COMPONENT")?,
            path: "/time",
            wasm: true,
        },
        Subject {
            name: "floor (wasm)",
            artifact: path("BENCH_FLOOR")?,
            path: "/",
            wasm: true,
        },
        Subject {
            name: "native (hyper)",
            artifact: path("BENCH_NATIVE")?,
            path: "/time",
            wasm: false,
        },
    ];
    let out_dir = path("BENCH_OUT")?;
    std::fs::create_dir_all(&out_dir)?;

    let figures = measure(&subjects, &settings)?;
    let table = report(&subjects, &figures, &settings);
    println!("\n{table}");
    let results = format!(
        "# Benchmark results\n\n`make bench`{}, {}.\n\nMachine: {}.\n\n\
         All wasm subjects run under `wasmtime serve` (one instance per request); the native\n\
         baseline serves the same `routes::respond` with hyper. Subjects are interleaved: each cold\n\
         start and each load round runs all three in turn. Ratios below 1.0 are smaller or faster\n\
         for size, start and latency; above 1.0 is better for throughput.{}\n\n{table}\n![ratios](ratios.svg)\n",
        if quick { " (quick mode: BENCH_QUICK=1, figures are rough)" } else { "" },
        command_output("date", &["-u", "+%Y-%m-%d"]),
        machine(),
        std::env::var("BENCH_SERVER_CPU").map_or(String::new(), |cpu| format!(
            "\nEach server ran pinned to CPU {cpu}, oha and the harness on CPU 0."
        )),
    );
    std::fs::write(out_dir.join("RESULTS.md"), results)?;
    std::fs::write(out_dir.join("ratios.svg"), chart(&figures))?;
    println!("wrote {}", out_dir.join("RESULTS.md").display());
    Ok(())
}
