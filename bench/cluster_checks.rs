//! What an operator watches on a cluster, as checks that pass or fail (the Makefile runs them):
//!
//! - `make rollout`: for the component and, when it is deployed, the container, at ROLLOUT_REPLICAS
//!   (3) replicas with the HPAs taken away: oha at ROLLOUT_RATE (200) requests per second through
//!   the NodePort for ROLLOUT_SECONDS (45) while `kubectl rollout restart` replaces every pod, then
//!   again while one pod is evicted through the Eviction API, as `kubectl drain` evicts. It prints
//!   the requests, the failures by kind and how long each disruption took, and fails on any failed
//!   request (but see `allowed_drops`).
//! - `make scale-out`: the component from 1 to SCALE_OUT_REPLICAS (10) replicas until all are Ready;
//!   fails on any restart among the new pods.
//! - `local` (make test): the load check itself, against the component served on loopback: it
//!   passes undisturbed, and fails when the host is killed halfway.

#[path = "kube.rs"]
mod kube;
#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{bail, ensure, Context, Result};
use kube::{env, env_number, kubectl, App, HpasAway};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
use support::{oha, LoadReport, Server, Stdout};

/// oha's connections: kept alive, as a load balancer's are.
const CONCURRENCY: u32 = 16;

fn progress(step: &str) {
    println!("cluster-checks: {step}");
}

/// oha at `rate` requests per second to `addr` for `seconds`; `disruption` starts after `settle`.
/// Returns what oha saw and the figure `disruption` returns (the seconds it measured).
fn under_load(
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

/// Failed requests by kind: refused (nobody listening where the endpoint pointed), dropped (a
/// connection closed or reset with a request on it), and the rest (timeouts, non-2xx).
struct Failures {
    refused: u64,
    dropped: u64,
    other: u64,
}

impl Failures {
    fn of(report: &LoadReport) -> Failures {
        let mut failures = Failures {
            refused: 0,
            dropped: 0,
            other: report.non_2xx,
        };
        for (kind, count) in &report.error_kinds {
            let kind = kind.to_lowercase();
            // A request whose connection died under it is "closed", "reset" or, from hyper under
            // oha, "operation was canceled" (with -w, oha itself cancels nothing at its deadline).
            if kind.contains("refused") {
                failures.refused += count;
            } else if ["closed", "reset", "broken pipe", "canceled"]
                .iter()
                .any(|word| kind.contains(word))
            {
                failures.dropped += count;
            } else {
                failures.other += count;
            }
        }
        failures
    }

    fn total(&self) -> u64 {
        self.refused + self.dropped + self.other
    }
}

/// The one loss the manifests cannot prevent, and only for the component: containerd-shim-spin
/// v0.24.0 aborts Spin's HTTP trigger on SIGTERM (containerd-shim-spin/src/engine.rs, `run_wasi`:
/// `ctrlc::set_handler(move || abort_handle.abort())`), which drops every open connection at once,
/// with whatever request is on it; there is no graceful drain to configure. The preStop pause
/// moves new connections away first, but a client's kept-alive connections stay on the stopping
/// pod until then: each can lose the one request in flight on it, and a pod holds about
/// CONCURRENCY / replicas of them. Refusals and every other failure stay at 0.
fn allowed_drops(app: &App, pods_stopped: u32, replicas: u32) -> u64 {
    if app.deployment == "time-service" {
        u64::from(pods_stopped * CONCURRENCY.div_ceil(replicas))
    } else {
        0
    }
}

fn verdict(what: &str, report: &LoadReport, allowed_drops: u64) -> Result<()> {
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
    for (kind, count) in &report.error_kinds {
        println!("    {count} × {kind}");
    }
    ensure!(
        failures.refused == 0 && failures.other == 0 && failures.dropped <= allowed_drops,
        "{line}{}",
        if allowed_drops > 0 {
            format!(
                "; at most {allowed_drops} dropped may be the shim's abort at SIGTERM (bench/cluster_checks.rs, allowed_drops)"
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `kubectl rollout restart` and its status: the seconds until every new pod is Ready. Then until
/// the old pods are gone, so that the load sees their whole shutdown.
fn rollout_restart(app: &App, replicas: u32) -> Result<f64> {
    let started = Instant::now();
    kubectl(&[
        "rollout",
        "restart",
        &format!("deployment/{}", app.deployment),
    ])?;
    app.wait_ready()?;
    let seconds = started.elapsed().as_secs_f64();
    app.wait_settled(replicas as usize)?;
    Ok(seconds)
}

/// One pod evicted through the Eviction API, retried while the PodDisruptionBudget refuses, as
/// `kubectl drain` does: the seconds until its replacement is Ready and it is gone.
fn evict_one(app: &App, replicas: u32) -> Result<f64> {
    let namespace = kube::namespace()?;
    let pod = app
        .pods()?
        .into_iter()
        .find(|pod| !pod.leaving)
        .context("no pod to evict")?;
    let eviction = serde_json::json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": namespace},
    });
    let file = std::env::temp_dir().join("time-service-eviction.json");
    std::fs::write(&file, eviction.to_string())?;
    let started = Instant::now();
    let path = format!("/api/v1/namespaces/{namespace}/pods/{}/eviction", pod.name);
    loop {
        match kubectl(&["create", "--raw", &path, "-f", &file.to_string_lossy()]) {
            Ok(_) => break,
            Err(error) if format!("{error}").contains("disruption budget") => {
                ensure!(
                    started.elapsed() < Duration::from_secs(120),
                    "{}: the PodDisruptionBudget refused the eviction for 2 minutes",
                    app.deployment
                );
                thread::sleep(Duration::from_secs(1));
            }
            Err(error) => return Err(error),
        }
    }
    app.wait_ready()?;
    app.wait_settled(replicas as usize)?;
    Ok(started.elapsed().as_secs_f64())
}

fn rollout() -> Result<()> {
    let replicas: u32 = env_number("ROLLOUT_REPLICAS", 3)?;
    let rate: u32 = env_number("ROLLOUT_RATE", 200)?;
    let seconds: u32 = env_number("ROLLOUT_SECONDS", 45)?;
    let settle = Duration::from_secs(5);
    let both = App::both()?;
    let mut apps = Vec::new();
    for app in &both {
        if app.is_deployed()? {
            apps.push(app);
        } else {
            progress(&format!("{} is not deployed: not checked", app.deployment));
        }
    }
    ensure!(
        apps.first().map(|app| app.deployment) == Some("time-service"),
        "the component is not deployed: make deploy first"
    );
    let hpas = HpasAway::take(&apps)?;
    let mut failed = Vec::new();
    for app in &apps {
        progress(&format!("{} at {replicas} replicas", app.deployment));
        app.scale(replicas)?;
        app.wait_settled(replicas as usize)?;
        let addr = app.node_port_addr()?;
        progress(&format!(
            "oha at {rate} req/s on http://{addr}/time for {seconds} s; kubectl rollout restart after {} s",
            settle.as_secs()
        ));
        let (report, took) = under_load(addr, rate, seconds, settle, || {
            rollout_restart(app, replicas)
        })?;
        let what = format!(
            "{} ({}), rollout restart of {replicas} pods in {took:.1} s",
            app.deployment, app.column
        );
        if let Err(error) = verdict(&what, &report, allowed_drops(app, replicas, replicas)) {
            failed.push(error);
        }
        progress(&format!(
            "oha again; one pod evicted after {} s",
            settle.as_secs()
        ));
        let (report, took) = under_load(addr, rate, seconds, settle, || evict_one(app, replicas))?;
        let what = format!(
            "{} ({}), one of {replicas} pods evicted, replaced in {took:.1} s",
            app.deployment, app.column
        );
        if let Err(error) = verdict(&what, &report, allowed_drops(app, 1, replicas)) {
            failed.push(error);
        }
        app.scale(1)?;
    }
    drop(hpas);
    if !failed.is_empty() {
        for error in &failed {
            eprintln!("FAILED {error}");
        }
        bail!("requests failed: docs/kubernetes.md#rollouts-and-drains");
    }
    println!("cluster-checks rollout: no request failed");
    Ok(())
}

fn scale_out() -> Result<()> {
    let replicas: u32 = env_number("SCALE_OUT_REPLICAS", 10)?;
    let [app, _] = App::both()?;
    let hpas = HpasAway::take(&[&app])?;
    progress(&format!("{} 1 -> {replicas} replicas", app.deployment));
    let scaled = app.scale_out(replicas);
    let back = app.scale(1);
    drop(hpas);
    let (seconds, restarts) = scaled?;
    back?;
    println!(
        "scale 1 -> {replicas}: all Ready in {seconds:.1} s, {restarts} restarts among the {} new pods ({})",
        replicas - 1,
        app.image
    );
    ensure!(
        restarts == 0,
        "{restarts} restarts at scale-out: see docs/kubernetes.md#image-forms (IMAGE_FORM={})",
        std::env::var("IMAGE_FORM").unwrap_or_default()
    );
    Ok(())
}

/// The load check can fail: undisturbed it passes; with the host killed halfway it must not.
fn local() -> Result<()> {
    let component = PathBuf::from(env("COMPONENT")?);
    let (seconds, settle) = (6, Duration::from_secs(2));
    let server = Server::serve_component(&component, Stdout::Discard)?;
    let (report, _) = under_load(server.addr, 200, seconds, settle, || Ok(0.0))?;
    verdict("undisturbed host", &report, 0)?;
    let pid = server.pid().to_string();
    let (report, _) = under_load(server.addr, 200, seconds, settle, || {
        let status = Command::new("kill").args(["-KILL", &pid]).status()?;
        ensure!(status.success(), "kill {pid}");
        Ok(0.0)
    })?;
    match verdict("host killed halfway", &report, 0) {
        Ok(()) => bail!("the load check passed with its host killed halfway"),
        Err(error) => println!("the check fails, as it should: {error}"),
    }
    println!("cluster-checks local: ok");
    Ok(())
}

fn main() -> Result<()> {
    // cargo bench adds --bench; the first other argument names the check.
    let check = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
    match check.as_deref() {
        Some("rollout") => rollout(),
        Some("scale-out") => scale_out(),
        Some("local") => local(),
        other => bail!("cluster-checks rollout | scale-out | local, not {other:?}"),
    }
}
