//! `cold-start` (make cold-start): the component and the container as make deploy-scale-to-zero
//! left them, through KEDA's interceptor, in three cases.
//!
//! - **Rounds** (COLD_START_ROUNDS, interleaved so both meet the same cluster): until the app has no
//!   pod, one request (the cold one, timed, the add-on's `X-KEDA-HTTP-Cold-Start` header read), the
//!   same again (warm), then idle until it is back at zero. Watches of the Deployment, its pods and
//!   its Service's EndpointSlices, stamped as each event arrives (src/watch.rs), say where the cold
//!   request's time went: [`STEPS`].
//! - **Burst**: COLD_START_BURST (20) first requests at once after zero: every one 200, one pod
//!   started for them all.
//! - **CPU**: oha through the interceptor for COLD_START_CPU_SECONDS (90): the ScaledObject's cpu
//!   trigger takes it to 3 Ready pods as the book's HPA does, with no failed request; idle after,
//!   it is back at zero.
//!
//! It prints a table (a column per app) and fails on any failed or non-200 request, a round that
//! did not start from zero or never returned to it, a step the watches never saw, a burst that
//! started more than one pod, or a CPU load that did not reach 3.

use crate::kube::{env, env_number, get_optional, is_ready, kubectl_json, App};
use crate::load::CONCURRENCY;
use crate::scale_to_zero::wait_zero;
use crate::support::{exchange, median, oha, LoadReport, Response};
use crate::watch::{Event, Watch};
use anyhow::{bail, ensure, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// The add-on's answer header (pkg/http/headers.go): true when the request waited for a pod.
const COLD_START_HEADER: &str = "X-KEDA-HTTP-Cold-Start";
/// The add-on's scaler (config/scaler/deployment.yaml, namePrefix keda-add-ons-http-, namespace
/// keda) and the two settings that time an activation (scaler/config.go), with their defaults:
/// how often it asks the interceptors for their queues, how often it pushes "active" to KEDA.
const SCALER: &str = "keda-add-ons-http-scaler";
const QUEUE_TICK: (&str, &str) = ("KEDA_HTTP_QUEUE_TICK_DURATION", "500ms");
const PUSH_INTERVAL: (&str, &str) = ("KEDA_HTTP_SCALER_STREAM_INTERVAL_MS", "200");
/// The replicas the book's autoscale reaches, and the ScaledObject's maxReplicaCount.
const MAX_REPLICAS: u64 = 3;

/// One timed request through the interceptor: its status and cold-start header, or why it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub outcome: Result<(u16, Option<bool>), String>,
}

impl Sample {
    pub fn of(response: Result<Response>, seconds: f64) -> Sample {
        let outcome = response
            .map_err(|error| format!("{error:#}"))
            .map(|response| {
                let cold = response
                    .header(COLD_START_HEADER)
                    .and_then(|v| v.parse().ok());
                (response.status, cold)
            });
        Sample { seconds, outcome }
    }

    fn ok(&self) -> bool {
        matches!(self.outcome, Ok((200, _)))
    }

    /// The seconds to a 200, if it was one.
    fn answered(&self) -> Option<f64> {
        self.ok().then_some(self.seconds)
    }

    fn describe(&self) -> String {
        match &self.outcome {
            Ok((status, cold)) => format!(
                "{status} after {:.2} s (cold-start header {cold:?})",
                self.seconds
            ),
            Err(error) => format!("failed after {:.2} s: {error}", self.seconds),
        }
    }
}

/// Where a cold request's time goes, in the order it happens: KEDA asks for a replica, the
/// ReplicaSet creates the pod, the kubelet runs it and (no readiness probe on this path) marks it
/// Ready, the EndpointSlice controller marks its endpoint Ready, which the interceptor waits for,
/// and the answer comes back.
pub const STEPS: [&str; 6] = [
    "Deployment's replicas 0 -> 1",
    "pod created",
    "pod running",
    "pod Ready",
    "EndpointSlice Ready",
    "answer",
];

/// The seconds after the request was sent at which each of [`STEPS`] was seen; None: never.
pub type Steps = [Option<f64>; 6];

/// What the watches saw of one app.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub deployment: Vec<Event>,
    pub pods: Vec<Event>,
    pub slices: Vec<Event>,
}

/// The names of the pods created after `since`, in the order they were.
pub fn pods_created(since: f64, pods: &[Event]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for event in pods
        .iter()
        .filter(|e| e.seconds >= since && e.kind == "ADDED")
    {
        if !names.iter().any(|name| name == event.name()) {
            names.push(event.name().to_string());
        }
    }
    names
}

/// The steps of a request sent at `sent` (on the watches' clock) and answered 200 after `answered`
/// seconds: the first event after `sent` that shows each, for the first pod created after it.
pub fn steps(sent: f64, seen: &Seen, answered: Option<f64>) -> Steps {
    let after = |events: &[Event], shows: &dyn Fn(&Value) -> bool| {
        events
            .iter()
            .find(|e| e.seconds >= sent && shows(&e.object))
            .map(|e| e.seconds - sent)
    };
    let replicas = after(&seen.deployment, &|d| {
        d["spec"]["replicas"].as_u64().is_some_and(|r| r >= 1)
    });
    let Some(pod) = pods_created(sent, &seen.pods).into_iter().next() else {
        return [replicas, None, None, None, None, answered];
    };
    let this_pod = |p: &Value| p["metadata"]["name"] == pod.as_str();
    let endpoint_ready = |slice: &Value| {
        slice["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["targetRef"]["name"] == pod.as_str() && e["conditions"]["ready"] == true)
    };
    [
        replicas,
        after(&seen.pods, &this_pod),
        after(&seen.pods, &|p| {
            this_pod(p) && p["status"]["phase"] == "Running"
        }),
        after(&seen.pods, &|p| this_pod(p) && is_ready(p)),
        after(&seen.slices, &endpoint_ready),
        answered,
    ]
}

/// One round of one app: whether it was at zero before the request, the cold and the warm
/// request, the cold one's steps, and the seconds from the warm answer until it was back at zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub from_zero: bool,
    pub cold: Sample,
    pub warm: Sample,
    pub steps: Steps,
    pub back_at_zero: Option<f64>,
}

/// The first requests after zero, all at once, and the pods created for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub from_zero: bool,
    pub samples: Vec<Sample>,
    pub pods_started: usize,
}

/// The CPU case: the seconds of load until 3 pods were Ready and the HPA's CPU reading then (% of
/// the request), what oha saw, and the seconds from the end of the load until zero.
#[derive(Debug)]
pub struct CpuScale {
    pub seconds: u32,
    pub reached: Option<(f64, Option<u64>)>,
    pub load: LoadReport,
    pub back_at_zero: Option<f64>,
}

/// Everything make cold-start measured of one app.
#[derive(Debug, Default)]
pub struct Run {
    pub rounds: Vec<Round>,
    pub burst: Option<Burst>,
    pub cpu: Option<CpuScale>,
}

/// What is wrong with an app's run.
pub fn problems(run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    for (number, round) in run.rounds.iter().enumerate().map(|(i, r)| (i + 1, r)) {
        if !round.from_zero {
            problems.push(format!(
                "round {number}: the app never scaled to zero before the request"
            ));
        }
        for (which, sample) in [("cold", &round.cold), ("warm", &round.warm)] {
            if !sample.ok() {
                problems.push(format!(
                    "round {number}: the {which} request {}",
                    sample.describe()
                ));
            }
        }
        if round.cold.ok() {
            for (step, seen) in STEPS.iter().zip(round.steps) {
                if seen.is_none() {
                    problems.push(format!("round {number}: the watches never saw {step}"));
                }
            }
        }
        if round.back_at_zero.is_none() {
            problems.push(format!("round {number}: the app never scaled back to zero"));
        }
    }
    if let Some(burst) = &run.burst {
        if !burst.from_zero {
            problems.push("burst: the app never scaled to zero before it".into());
        }
        let failed: Vec<&Sample> = burst.samples.iter().filter(|s| !s.ok()).collect();
        if let Some(first) = failed.first() {
            problems.push(format!(
                "burst: {} of {} requests not 200, the first {}",
                failed.len(),
                burst.samples.len(),
                first.describe()
            ));
        }
        if burst.pods_started != 1 {
            problems.push(format!(
                "burst: {} pods started for it, not 1",
                burst.pods_started
            ));
        }
    }
    if let Some(cpu) = &run.cpu {
        if cpu.reached.is_none() {
            problems.push(format!(
                "CPU: {} s of load never took it to {MAX_REPLICAS} Ready pods",
                cpu.seconds
            ));
        }
        let failed = cpu.load.non_2xx + cpu.load.errors;
        if failed > 0 {
            problems.push(format!(
                "CPU: {failed} of the load's requests failed: {:?}",
                cpu.load.error_kinds
            ));
        }
        if cpu.back_at_zero.is_none() {
            problems.push("CPU: the app never scaled back to zero after the load".into());
        }
    }
    problems
}

fn p50_max(seconds: &[f64]) -> String {
    if seconds.is_empty() {
        return "–".into();
    }
    let max = seconds.iter().copied().fold(0.0, f64::max);
    format!("{:.2} / {max:.2} s", median(seconds))
}

fn p50(seconds: &[f64], format: impl Fn(f64) -> String) -> String {
    if seconds.is_empty() {
        "–".into()
    } else {
        format(median(seconds))
    }
}

/// The Markdown table: a column per app.
pub fn table(columns: &[(&str, &Run)]) -> String {
    let mut out = String::from("|");
    for (name, _) in columns {
        write!(out, " | {name}").unwrap();
    }
    out.push_str(" |\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    let mut row = |label: &str, cell: &dyn Fn(&Run) -> String| {
        write!(out, "| {label}").unwrap();
        for (_, run) in columns {
            write!(out, " | {}", cell(run)).unwrap();
        }
        out.push_str(" |\n");
    };
    let seconds = |run: &Run, pick: &dyn Fn(&Round) -> Option<f64>| -> Vec<f64> {
        run.rounds.iter().filter_map(pick).collect()
    };
    row("rounds", &|run| run.rounds.len().to_string());
    row("cold request, p50 / max", &|run| {
        p50_max(&seconds(run, &|round| round.cold.answered()))
    });
    for (index, step) in STEPS.iter().enumerate() {
        row(&format!("· {step}, p50"), &|run| {
            p50(&seconds(run, &|round| round.steps[index]), |s| {
                format!("{s:.2} s")
            })
        });
    }
    row("cold requests the interceptor marked cold", &|run| {
        let marked = run
            .rounds
            .iter()
            .filter(|round| matches!(round.cold.outcome, Ok((_, Some(true)))))
            .count();
        format!("{marked} of {}", run.rounds.len())
    });
    row("warm request, p50", &|run| {
        p50(&seconds(run, &|round| round.warm.answered()), |s| {
            format!("{:.1} ms", s * 1000.0)
        })
    });
    row("back at zero pods after the request, p50", &|run| {
        p50(&seconds(run, &|round| round.back_at_zero), |s| {
            format!("{s:.0} s")
        })
    });
    row(
        "burst from zero: 200s, p50 / max",
        &|run| match &run.burst {
            None => "–".into(),
            Some(burst) => {
                let answered: Vec<f64> =
                    burst.samples.iter().filter_map(Sample::answered).collect();
                format!(
                    "{} of {}, {}",
                    answered.len(),
                    burst.samples.len(),
                    p50_max(&answered)
                )
            }
        },
    );
    row("burst from zero: pods started", &|run| {
        run.burst
            .as_ref()
            .map_or("–".into(), |burst| burst.pods_started.to_string())
    });
    row(
        &format!("CPU load to {MAX_REPLICAS} Ready pods (the HPA's CPU then)"),
        &|run| match &run.cpu {
            None => "–".into(),
            Some(CpuScale { reached: None, .. }) => "never".into(),
            Some(CpuScale {
                reached: Some((seconds, cpu)),
                ..
            }) => match cpu {
                Some(cpu) => format!("{seconds:.0} s ({cpu}%)"),
                None => format!("{seconds:.0} s"),
            },
        },
    );
    row("CPU load: requests, failed", &|run| {
        run.cpu.as_ref().map_or("–".into(), |cpu| {
            format!(
                "{}, {}",
                cpu.load.responses + cpu.load.errors,
                cpu.load.non_2xx + cpu.load.errors
            )
        })
    });
    row("back at zero pods after the CPU load", &|run| match run
        .cpu
        .as_ref()
        .map(|cpu| cpu.back_at_zero)
    {
        None => "–".into(),
        Some(None) => "never".into(),
        Some(Some(seconds)) => format!("{seconds:.0} s"),
    });
    row("failures", &|run| problems(run).len().to_string());
    out
}

/// The scaler's activation timing as it runs: its queue tick and its push interval (ms), each
/// as set or the add-on's default.
pub fn activation_timing(scaler: &Value) -> (String, String) {
    let env = scaler["spec"]["template"]["spec"]["containers"][0]["env"].as_array();
    let value = |(name, default): (&str, &str)| {
        env.into_iter()
            .flatten()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .map_or(format!("{default} (default)"), str::to_string)
    };
    (value(QUEUE_TICK), value(PUSH_INTERVAL))
}

/// The HPA's CPU reading, % of the pods' request: its `status.currentMetrics` as the HPA
/// controller writes it (autoscaling/v2, type Resource, name cpu).
pub fn cpu_utilization(hpa: &Value) -> Option<u64> {
    hpa["status"]["currentMetrics"]
        .as_array()?
        .iter()
        .find(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu")?["resource"]["current"]
        ["averageUtilization"]
        .as_u64()
}

/// One app scaled to zero: its Deployment, the Host and the Service its InterceptorRoute names.
struct Target {
    column: &'static str,
    app: App,
    host: String,
    service: String,
}

/// The three watches of one target, on the run's clock.
struct Watches([Watch; 3]);

impl Watches {
    fn start(clock: Instant, target: &Target) -> Result<Watches> {
        let slices = format!("kubernetes.io/service-name={}", target.service);
        let selector = target.app.selector();
        Ok(Watches([
            Watch::start(clock, &["deployment", target.app.deployment])?,
            Watch::start(clock, &["pods", "-l", &selector])?,
            Watch::start(clock, &["endpointslices", "-l", &slices])?,
        ]))
    }

    /// Until the Deployment's and the EndpointSlices' watches have printed what they list, then half a
    /// second more: the pods' lists nothing at zero, so nothing shows when it has started, and it was
    /// started with the others. A request sent before its watch is up would lose its first steps.
    fn established(&self) -> Result<()> {
        let [deployment, _, slices] = &self.0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !deployment.printed() || !slices.printed() {
            ensure!(
                Instant::now() < deadline,
                "kubectl get --watch printed nothing in 30 s"
            );
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(500));
        Ok(())
    }

    fn seen(&self) -> Seen {
        let [deployment, pods, slices] = &self.0;
        Seen {
            deployment: deployment.events(),
            pods: pods.events(),
            slices: slices.events(),
        }
    }
}

fn timed_get(addr: SocketAddr, host: &str) -> Sample {
    let request = format!(
        "GET /time HTTP/1.1\r\nHost: {host}\r\nUser-Agent: time-service-cold-start\r\nConnection: close\r\n\r\n"
    );
    let started = Instant::now();
    let response = exchange(addr, request.as_bytes());
    Sample::of(response, started.elapsed().as_secs_f64())
}

fn round(clock: Instant, addr: SocketAddr, target: &Target, timeout: Duration) -> Result<Round> {
    let watches = Watches::start(clock, target)?;
    let from_zero = wait_zero(&target.app, timeout)?.is_some();
    watches.established()?;
    let sent = clock.elapsed().as_secs_f64();
    let cold = timed_get(addr, &target.host);
    let warm = timed_get(addr, &target.host);
    let back_at_zero = wait_zero(&target.app, timeout)?;
    let steps = steps(sent, &watches.seen(), cold.answered());
    Ok(Round {
        from_zero,
        cold,
        warm,
        steps,
        back_at_zero,
    })
}

/// `requests` at once from zero; the pods are counted once it is back at zero, so that a pod
/// started late for the burst counts too.
fn burst(
    clock: Instant,
    addr: SocketAddr,
    target: &Target,
    timeout: Duration,
    requests: usize,
) -> Result<Burst> {
    let watches = Watches::start(clock, target)?;
    let from_zero = wait_zero(&target.app, timeout)?.is_some();
    watches.established()?;
    let sent = clock.elapsed().as_secs_f64();
    let start = Barrier::new(requests);
    let samples = thread::scope(|scope| {
        let requests: Vec<_> = (0..requests)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    timed_get(addr, &target.host)
                })
            })
            .collect();
        requests
            .into_iter()
            .map(|request| request.join().expect("a burst request panicked"))
            .collect()
    });
    wait_zero(&target.app, timeout)?;
    let pods_started = pods_created(sent, &watches.seen().pods).len();
    Ok(Burst {
        from_zero,
        samples,
        pods_started,
    })
}

/// oha through the interceptor for `seconds`, watching for 3 Ready pods; then idle until zero.
fn cpu_scale(
    addr: SocketAddr,
    target: &Target,
    timeout: Duration,
    seconds: u32,
) -> Result<CpuScale> {
    // KEDA names its HPA in the ScaledObject's status (keda-hpa-NAME by default).
    let hpa = get_optional("scaledobject", target.app.deployment)?
        .and_then(|so| so["status"]["hpaName"].as_str().map(str::to_string));
    let duration = format!("{seconds}s");
    let host = target.host.clone();
    let started = Instant::now();
    // -w: the requests still running at the deadline finish, rather than count as errors.
    let load = thread::spawn(move || {
        oha(
            addr,
            "/time",
            &["-z", &duration, "-w", "--host", &host],
            CONCURRENCY,
        )
    });
    let mut reached = None;
    while !load.is_finished() {
        if reached.is_none() {
            let deployment =
                kubectl_json(&["get", "deployment", target.app.deployment, "-o", "json"])?;
            if deployment["status"]["readyReplicas"].as_u64() >= Some(MAX_REPLICAS) {
                let cpu = match &hpa {
                    Some(hpa) => {
                        cpu_utilization(&kubectl_json(&["get", "hpa", hpa, "-o", "json"])?)
                    }
                    None => None,
                };
                reached = Some((started.elapsed().as_secs_f64(), cpu));
            }
        }
        thread::sleep(Duration::from_secs(1));
    }
    let load = load.join().expect("the oha thread panicked")?;
    let back_at_zero = wait_zero(&target.app, timeout)?;
    Ok(CpuScale {
        seconds,
        reached,
        load,
        back_at_zero,
    })
}

/// A round's steps on one line, as seconds after the request.
fn show(steps: &Steps) -> String {
    STEPS
        .iter()
        .zip(steps)
        .map(|(step, at)| match at {
            Some(at) => format!("{step} {at:.2}"),
            None => format!("{step} –"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `cluster-checks cold-start`, run by make cold-start.
pub fn cold_start() -> Result<()> {
    let rounds: usize = env_number("COLD_START_ROUNDS", 3)?;
    let burst_requests: usize = env_number("COLD_START_BURST", 20)?;
    let cpu_seconds: u32 = env_number("COLD_START_CPU_SECONDS", 90)?;
    let timeout = Duration::from_secs(env_number("COLD_START_ZERO_SECONDS", 180)?);
    let addr: SocketAddr = format!("127.0.0.1:{}", env("SCALE_TO_ZERO_NODE_PORT")?).parse()?;
    let scaler = kubectl_json(&["get", "deployment", SCALER, "-n", "keda", "-o", "json"])?;
    let (tick, push) = activation_timing(&scaler);
    println!(
        "KEDA's HTTP Add-on scaler: queue tick {tick}, push interval {push} ms (make cluster-keda)"
    );
    let [component, container] = App::both()?;
    let mut targets = Vec::new();
    for (column, app) in [("WebAssembly", component), ("container", container)] {
        let Some(route) = get_optional("interceptorroute", app.deployment)? else {
            println!(
                "{column}: no InterceptorRoute {} (make deploy-scale-to-zero), left out",
                app.deployment
            );
            continue;
        };
        // The first host of its first rule, or any Host when it has none (the catch-all).
        let host = route["spec"]["rules"][0]["hosts"][0]
            .as_str()
            .unwrap_or("localhost")
            .to_string();
        let service = route["spec"]["target"]["service"]
            .as_str()
            .unwrap_or(app.deployment)
            .to_string();
        let target = Target {
            column,
            app,
            host,
            service,
        };
        targets.push((target, Run::default()));
    }
    if targets.is_empty() {
        bail!("nothing is scaled to zero: make deploy-scale-to-zero (SCALE_TO_ZERO=container for the container)");
    }
    let clock = Instant::now();
    for number in 1..=rounds {
        for (target, run) in &mut targets {
            println!(
                "round {number}/{rounds}, {}: waiting for zero pods",
                target.column
            );
            let round = round(clock, addr, target, timeout)?;
            println!(
                "  cold: {} ({}); warm: {}",
                round.cold.describe(),
                show(&round.steps),
                round.warm.describe()
            );
            run.rounds.push(round);
        }
    }
    for (target, run) in &mut targets {
        println!(
            "burst, {}: {burst_requests} first requests at once after zero",
            target.column
        );
        run.burst = Some(burst(clock, addr, target, timeout, burst_requests)?);
        println!(
            "CPU, {}: oha through the interceptor for {cpu_seconds} s",
            target.column
        );
        run.cpu = Some(cpu_scale(addr, target, timeout, cpu_seconds)?);
    }
    let columns: Vec<(&str, &Run)> = targets.iter().map(|(t, run)| (t.column, run)).collect();
    println!("\n{}", table(&columns));
    let problems: Vec<String> = targets
        .iter()
        .flat_map(|(target, run)| {
            problems(run)
                .into_iter()
                .map(move |p| format!("{}: {p}", target.column))
        })
        .collect();
    for problem in &problems {
        eprintln!("FAIL {problem}");
    }
    ensure!(
        problems.is_empty(),
        "{} problems in make cold-start",
        problems.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::canned as kubectl_canned;
    use crate::support::parse_response;
    use crate::watch::canned as watch_canned;

    fn canned(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/testdata/interceptor/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn sample(name: &str, seconds: f64) -> Sample {
        Sample::of(parse_response(&canned(name), false), seconds)
    }

    /// A cold request sent at 10.0 s on the watches' clock, through the canned watch streams: the
    /// Deployment listed at 2.0, scaled at 10.31; the pod added at 10.33, scheduled, creating,
    /// running and Ready at 10.72; its endpoint Ready at 10.75.
    fn seen_cold() -> Seen {
        Seen {
            deployment: watch_canned("watch-deployment-cold.json", &[2.0, 10.31, 10.32, 10.73]),
            pods: watch_canned("watch-pods-cold.json", &[10.33, 10.34, 10.36, 10.72]),
            slices: watch_canned("watch-endpointslices-cold.json", &[2.0, 10.75]),
        }
    }

    fn close(steps: Steps, wanted: [f64; 6]) -> bool {
        steps
            .iter()
            .zip(wanted)
            .all(|(got, wanted)| got.is_some_and(|got| (got - wanted).abs() < 1e-9))
    }

    fn good_round(cold: f64) -> Round {
        Round {
            from_zero: true,
            cold: sample("cold-200.http", cold),
            warm: sample("warm-200.http", 0.0018),
            steps: steps(10.0, &seen_cold(), Some(cold)),
            back_at_zero: Some(19.0),
        }
    }

    fn report(responses: u64, non_2xx: u64, errors: u64) -> LoadReport {
        LoadReport {
            responses,
            non_2xx,
            errors,
            error_kinds: if errors > 0 {
                vec![("connection error".into(), errors)]
            } else {
                vec![]
            },
            requests_per_sec: 0.0,
            p50_ms: 0.0,
            p99_ms: 0.0,
        }
    }

    fn good_run() -> Run {
        Run {
            rounds: vec![good_round(0.84), good_round(0.80), good_round(0.94)],
            burst: Some(Burst {
                from_zero: true,
                samples: (0..20)
                    .map(|i| sample("cold-200.http", 0.8 + f64::from(i) * 0.01))
                    .collect(),
                pods_started: 1,
            }),
            cpu: Some(CpuScale {
                seconds: 90,
                reached: Some((41.0, Some(412))),
                load: report(412_113, 0, 0),
                back_at_zero: Some(31.0),
            }),
        }
    }

    #[test]
    fn answers_are_read_as_the_interceptor_writes_them() {
        assert_eq!(sample("cold-200.http", 2.1).outcome, Ok((200, Some(true))));
        assert_eq!(
            sample("warm-200.http", 0.002).outcome,
            Ok((200, Some(false)))
        );
        // The interceptor's own 504 (handler.NewStatic: http.Error), which carries no cold-start header.
        assert_eq!(sample("timeout-504.http", 20.0).outcome, Ok((504, None)));
        let cut = Sample::of(parse_response(b"HTTP/1.1 200 OK\r\nContent-Le", false), 1.0);
        assert!(cut.outcome.is_err());
    }

    #[test]
    fn the_steps_of_a_cold_request_come_from_the_watches() {
        let steps = steps(10.0, &seen_cold(), Some(0.80));
        assert!(
            close(steps, [0.31, 0.33, 0.72, 0.72, 0.75, 0.80]),
            "{steps:?}"
        );
        // What was listed before the request (replicas 0, a slice with no endpoint) is not a step.
        let before = steps[0].unwrap();
        assert!(before > 0.0);
    }

    #[test]
    fn a_step_the_watches_missed_is_none_and_fails_the_round() {
        let mut seen = seen_cold();
        seen.slices.truncate(1);
        let mut round = good_round(0.8);
        round.steps = steps(10.0, &seen, Some(0.8));
        assert_eq!(round.steps[4], None);
        let run = Run {
            rounds: vec![round],
            ..Run::default()
        };
        assert_eq!(
            problems(&run),
            ["round 1: the watches never saw EndpointSlice Ready"]
        );
        // No pod created after the request: no pod step at all.
        let none = steps(11.0, &seen_cold(), None);
        assert_eq!(none[1..5], [None, None, None, None]);
    }

    #[test]
    fn an_endpoint_of_another_pod_is_not_this_pods() {
        let mut seen = seen_cold();
        let mut other = seen.slices[1].clone();
        other.object["endpoints"][0]["targetRef"]["name"] = "time-service-6b8f9d7c5d-old00".into();
        seen.slices[1] = other;
        assert_eq!(steps(10.0, &seen, Some(0.8))[4], None);
    }

    #[test]
    fn pods_created_counts_each_pod_once_from_the_request_on() {
        let mut pods = watch_canned("watch-pods-cold.json", &[10.33, 10.34, 10.36, 10.72]);
        assert_eq!(pods_created(10.0, &pods), ["time-service-6b8f9d7c5d-q7x2m"]);
        assert!(pods_created(10.5, &pods).is_empty());
        let mut second = pods[0].clone();
        second.seconds = 10.4;
        second.object["metadata"]["name"] = "time-service-6b8f9d7c5d-z9k1p".into();
        pods.push(second);
        assert_eq!(pods_created(10.0, &pods).len(), 2);
    }

    #[test]
    fn a_good_run_passes_and_fills_the_table() {
        let run = good_run();
        assert!(problems(&run).is_empty(), "{:?}", problems(&run));
        let table = table(&[("WebAssembly", &run)]);
        for row in [
            "| cold request, p50 / max | 0.84 / 0.94 s |",
            "| · Deployment's replicas 0 -> 1, p50 | 0.31 s |",
            "| · pod created, p50 | 0.33 s |",
            "| · pod running, p50 | 0.72 s |",
            "| · pod Ready, p50 | 0.72 s |",
            "| · EndpointSlice Ready, p50 | 0.75 s |",
            "| · answer, p50 | 0.84 s |",
            "| cold requests the interceptor marked cold | 3 of 3 |",
            "| warm request, p50 | 1.8 ms |",
            "| burst from zero: 200s, p50 / max | 20 of 20, 0.90 / 0.99 s |",
            "| burst from zero: pods started | 1 |",
            "| CPU load to 3 Ready pods (the HPA's CPU then) | 41 s (412%) |",
            "| CPU load: requests, failed | 412113, 0 |",
            "| back at zero pods after the CPU load | 31 s |",
            "| failures | 0 |",
        ] {
            assert!(table.contains(row), "no {row:?} in\n{table}");
        }
    }

    #[test]
    fn a_504_fails() {
        let mut run = good_run();
        run.rounds[1].cold = sample("timeout-504.http", 20.0);
        assert_eq!(
            problems(&run),
            ["round 2: the cold request 504 after 20.00 s (cold-start header None)"]
        );
        let table = table(&[("WebAssembly", &run)]);
        assert!(
            table.contains("| cold request, p50 / max | 0.89 / 0.94 s |"),
            "{table}"
        );
        assert!(table.contains("| failures | 1 |"), "{table}");
    }

    #[test]
    fn a_round_that_never_reached_zero_fails() {
        let mut run = good_run();
        run.rounds[0].from_zero = false;
        run.rounds[0].back_at_zero = None;
        assert_eq!(
            problems(&run),
            [
                "round 1: the app never scaled to zero before the request",
                "round 1: the app never scaled back to zero"
            ]
        );
    }

    #[test]
    fn a_dropped_warm_request_fails() {
        let mut run = good_run();
        run.rounds[0].warm = Sample::of(Err(anyhow::anyhow!("connection reset")), 0.01);
        assert_eq!(
            problems(&run),
            ["round 1: the warm request failed after 0.01 s: connection reset"]
        );
    }

    #[test]
    fn a_burst_fails_on_a_504_or_a_second_pod() {
        let mut run = good_run();
        let burst = run.burst.as_mut().unwrap();
        burst.samples[7] = sample("timeout-504.http", 20.0);
        burst.pods_started = 2;
        assert_eq!(
            problems(&run),
            [
                "burst: 1 of 20 requests not 200, the first 504 after 20.00 s (cold-start header None)",
                "burst: 2 pods started for it, not 1"
            ]
        );
    }

    #[test]
    fn a_cpu_load_that_never_reaches_three_or_fails_a_request_fails() {
        let mut run = good_run();
        let cpu = run.cpu.as_mut().unwrap();
        cpu.reached = None;
        cpu.load = report(1000, 0, 2);
        cpu.back_at_zero = None;
        assert_eq!(
            problems(&run),
            [
                "CPU: 90 s of load never took it to 3 Ready pods",
                "CPU: 2 of the load's requests failed: [(\"connection error\", 2)]",
                "CPU: the app never scaled back to zero after the load"
            ]
        );
        assert!(table(&[("container", &run)])
            .contains("| CPU load to 3 Ready pods (the HPA's CPU then) | never |"));
    }

    #[test]
    fn the_hpa_keda_makes_gives_its_cpu_reading() {
        assert_eq!(
            cpu_utilization(&kubectl_canned("hpa-keda-cpu.json")),
            Some(412)
        );
        let mut no_cpu = kubectl_canned("hpa-keda-cpu.json");
        no_cpu["status"]["currentMetrics"]
            .as_array_mut()
            .unwrap()
            .pop();
        assert_eq!(cpu_utilization(&no_cpu), None);
    }

    #[test]
    fn the_activation_timing_is_read_from_the_scaler_or_its_default() {
        let scaler = kubectl_canned("deployment-keda-http-scaler.json");
        assert_eq!(activation_timing(&scaler), ("100ms".into(), "100".into()));
        let mut released = scaler.clone();
        let env = released["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap();
        env.retain(|e| {
            !e["name"].as_str().unwrap().starts_with("KEDA_HTTP_QUEUE")
                && !e["name"].as_str().unwrap().contains("STREAM")
        });
        assert_eq!(
            activation_timing(&released),
            ("500ms (default)".into(), "200 (default)".into())
        );
    }
}
