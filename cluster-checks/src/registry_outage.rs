//! `make registry-outage`: with the component and the container deployed, the cluster's registry
//! stopped, each app scaled 1 -> 10 and a running pod of each deleted; every pod must start from
//! what the node already has. A table of Ready pods, restarts, time to Ready and image pull errors
//! in the pods' events; it fails when a pod did not start or a pull was tried.
//!
//! The registry is this project's own container only on the clusters `make cluster` makes (k3d's
//! context `k3d-NAME`, kind's `kind-NAME`): on another it cannot be stopped from here, and the check
//! stops with one line.

use crate::kube::{env, env_number, kubectl, kubectl_json, App, HpasAway, Pod};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::{Duration, Instant};

const REPLICAS: usize = 10;

/// Which of `make cluster`'s kinds kubectl's `context` is, for the cluster called `name`: k3d names
/// its context `k3d-NAME`, kind `kind-NAME`.
pub fn cluster_kind(context: &str, name: &str) -> Option<&'static str> {
    ["k3d", "kind"]
        .into_iter()
        .find(|kind| context == format!("{kind}-{name}"))
}

/// The kubelet's image pull failures among `events` (`kubectl get events -o json`) of the pods
/// `pods`, counting repeats: `Failed` "Failed to pull image ..." and `BackOff` "Back-off pulling
/// image ..." (pkg/kubelet/images/image_manager.go, the reasons of pkg/kubelet/events).
pub fn pull_errors(events: &Value, pods: &BTreeSet<String>) -> u64 {
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| {
            let pod = event["involvedObject"]["name"].as_str().unwrap_or_default();
            let message = event["message"].as_str().unwrap_or_default();
            let pull_failed = match event["reason"].as_str() {
                Some("Failed") => message.starts_with("Failed to pull image"),
                Some("BackOff") => message.starts_with("Back-off pulling image"),
                _ => false,
            };
            event["involvedObject"]["kind"] == "Pod" && pods.contains(pod) && pull_failed
        })
        .map(|event| event["count"].as_u64().unwrap_or(1))
        .sum()
}

/// One app's run while the registry was down.
#[derive(Debug, Default, PartialEq)]
pub struct Outage {
    pub scaled_ready: usize,
    pub scaled_seconds: f64,
    pub replaced_ready: usize,
    pub replaced_seconds: f64,
    pub restarts: u64,
    pub pull_errors: u64,
    /// Why pods still waited when time ran out (ErrImagePull, ImagePullBackOff, ...).
    pub waiting: BTreeSet<String>,
}

/// What failed, per app (`column`): a pod that never got Ready, a pull tried.
pub fn verdict(runs: &[(&str, &Outage)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (column, run) in runs {
        for (ready, when) in [
            (run.scaled_ready, "after 1 -> 10"),
            (run.replaced_ready, "after a pod was deleted"),
        ] {
            if ready < REPLICAS {
                failures.push(format!(
                    "{column}: {ready} of {REPLICAS} Ready {when} with the registry down (waiting: {:?})",
                    run.waiting
                ));
            }
        }
        if run.pull_errors > 0 {
            failures.push(format!(
                "{column}: {} image pull errors: the node asked the registry for an image it had",
                run.pull_errors
            ));
        }
    }
    failures
}

pub fn table(runs: &[(&str, &Outage)]) -> String {
    let row = |label: &str, cell: &dyn Fn(&Outage) -> String| {
        let cells: Vec<String> = runs.iter().map(|(_, run)| cell(run)).collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    };
    let columns: Vec<&str> = runs.iter().map(|(column, _)| *column).collect();
    let mut out = format!(
        "| with the registry stopped | {} |\n|---|{}\n",
        columns.join(" | "),
        "---:|".repeat(runs.len())
    );
    out += &row("Ready after 1 -> 10", &|r| {
        format!("{} of {REPLICAS}", r.scaled_ready)
    });
    out += &row("time to all Ready (s)", &|r| {
        format!("{:.1}", r.scaled_seconds)
    });
    out += &row("Ready after a pod deleted", &|r| {
        format!("{} of {REPLICAS}", r.replaced_ready)
    });
    out += &row("time to its replacement Ready (s)", &|r| {
        format!("{:.1}", r.replaced_seconds)
    });
    out += &row("restarts", &|r| r.restarts.to_string());
    out += &row("image pull errors in events", &|r| {
        r.pull_errors.to_string()
    });
    out
}

/// The registry stopped (`scripts/cluster registry-stop`), started again when dropped.
struct RegistryStopped(&'static str);

impl RegistryStopped {
    fn stop(kind: &'static str) -> Result<RegistryStopped> {
        cluster_script(kind, "registry-stop")?;
        Ok(RegistryStopped(kind))
    }
}

impl Drop for RegistryStopped {
    fn drop(&mut self) {
        if let Err(error) = cluster_script(self.0, "registry-start") {
            eprintln!(
                "could not start the registry again: {error:#} (scripts/cluster registry-start)"
            );
        }
    }
}

fn cluster_script(kind: &str, step: &str) -> Result<()> {
    let status = Command::new("scripts/cluster")
        .arg(step)
        .env("CLUSTER", kind)
        .status()
        .context("running scripts/cluster")?;
    ensure!(status.success(), "scripts/cluster {step} failed");
    Ok(())
}

/// Until REPLICAS pods are Ready and none is stopping (or `seconds` ran out): how many were
/// Ready, how long it took, the names of every pod seen, and why those not Ready waited.
fn until_ready(
    app: &App,
    seconds: u64,
    seen: &mut BTreeSet<String>,
) -> Result<(usize, f64, BTreeSet<String>)> {
    let started = Instant::now();
    loop {
        let pods: Vec<Pod> = app.pods()?;
        seen.extend(pods.iter().map(|pod| pod.name.clone()));
        let staying: Vec<&Pod> = pods.iter().filter(|pod| !pod.leaving).collect();
        let ready = staying.iter().filter(|pod| pod.ready).count();
        let elapsed = started.elapsed().as_secs_f64();
        if ready == REPLICAS && staying.len() == REPLICAS || elapsed > seconds as f64 {
            let waiting = staying
                .iter()
                .filter_map(|pod| pod.waiting.clone())
                .collect();
            return Ok((ready, elapsed, waiting));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn outage(app: &App, seconds: u64) -> Result<Outage> {
    let mut seen = BTreeSet::new();
    let before: BTreeSet<String> = app.pods()?.into_iter().map(|pod| pod.name).collect();
    let deployment = format!("deployment/{}", app.deployment);
    kubectl(&["scale", &deployment, &format!("--replicas={REPLICAS}")])?;
    let (scaled_ready, scaled_seconds, mut waiting) = until_ready(app, seconds, &mut seen)?;
    let victim = app
        .running_pods()?
        .into_iter()
        .find(|pod| pod.ready)
        .with_context(|| format!("{}: no Ready pod to delete", app.deployment))?;
    kubectl(&["delete", "pod", &victim.name, "--wait=false"])?;
    let (replaced_ready, replaced_seconds, still) = until_ready(app, seconds, &mut seen)?;
    waiting.extend(still);
    let new: BTreeSet<String> = seen.difference(&before).cloned().collect();
    let restarts = app
        .running_pods()?
        .iter()
        .filter(|pod| new.contains(&pod.name))
        .map(|pod| pod.restarts)
        .sum();
    let events = kubectl_json(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Pod",
        "-o",
        "json",
    ])?;
    Ok(Outage {
        scaled_ready,
        scaled_seconds,
        replaced_ready,
        replaced_seconds,
        restarts,
        pull_errors: pull_errors(&events, &new),
        waiting,
    })
}

pub fn registry_outage() -> Result<()> {
    let name = env("CLUSTER_NAME")?;
    let context = kubectl(&["config", "current-context"])?;
    let Some(kind) = cluster_kind(context.trim(), &name) else {
        bail!(
            "kubectl's context {} is not a cluster make cluster made (k3d-{name} or kind-{name}): its \
             registry is not this project's container, and cannot be stopped from here",
            context.trim()
        );
    };
    let apps = App::both()?;
    for app in &apps {
        ensure!(
            app.is_deployed()?,
            "deployment/{} is not there: make deploy deploy-container first",
            app.deployment
        );
    }
    let seconds = env_number("REGISTRY_OUTAGE_SECONDS", 120)?;
    let hpas = HpasAway::take(&apps.iter().collect::<Vec<_>>())?;
    for app in &apps {
        app.scale(1)?;
        app.wait_settled(1)?;
    }
    // The registry the images were pushed to (REF's host, localhost:5001 on make cluster's clusters).
    let pushed_to = env("REF")?
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let registry: Vec<SocketAddr> = pushed_to
        .to_socket_addrs()
        .with_context(|| format!("the registry {pushed_to}"))?
        .collect();
    let stopped = RegistryStopped::stop(kind)?;
    ensure!(
        registry
            .iter()
            .all(|addr| TcpStream::connect_timeout(addr, Duration::from_secs(1)).is_err()),
        "the registry still answers on {pushed_to} after it was stopped"
    );
    let mut runs = Vec::new();
    for app in &apps {
        println!(
            "registry-outage: {} 1 -> {REPLICAS}, then a pod deleted, the registry down",
            app.deployment
        );
        runs.push((app.column, outage(app, seconds)?));
    }
    drop(stopped);
    drop(hpas);
    let runs: Vec<(&str, &Outage)> = runs.iter().map(|(column, run)| (*column, run)).collect();
    print!("{}", table(&runs));
    let failures = verdict(&runs);
    for failure in &failures {
        eprintln!("FAIL {failure}");
    }
    ensure!(
        failures.is_empty(),
        "registry-outage: {} failures",
        failures.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::{canned, pods_of};

    #[test]
    fn only_make_clusters_contexts_have_our_registry() {
        assert_eq!(
            cluster_kind("k3d-time-service", "time-service"),
            Some("k3d")
        );
        assert_eq!(
            cluster_kind("kind-time-service", "time-service"),
            Some("kind")
        );
        assert_eq!(cluster_kind("kind-other", "time-service"), None);
        assert_eq!(
            cluster_kind("arn:aws:eks:eu-west-1:1:cluster/prod", "time-service"),
            None
        );
    }

    #[test]
    fn pull_errors_are_the_kubelets_failed_pulls_and_back_offs_of_the_new_pods() {
        let events = canned("events-registry-down.json");
        let pods: BTreeSet<String> = [
            "time-service-5d9c7b8f6-8xk2p",
            "time-service-5d9c7b8f6-q7w4n",
        ]
        .map(String::from)
        .into();
        // Two failed pulls and three back-offs (one event counted twice) of those pods; the
        // "Error: ErrImagePull" that follows each failed pull, a Pulling, another pod's: not counted.
        assert_eq!(pull_errors(&events, &pods), 5);
        assert_eq!(pull_errors(&events, &BTreeSet::new()), 0);
    }

    #[test]
    fn the_pods_of_a_scale_out_with_the_registry_down() {
        let pods = pods_of(&canned("pods-registry-down.json")).unwrap();
        let ready: Vec<&str> = pods
            .iter()
            .filter(|p| p.ready)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(ready, ["time-service-5d9c7b8f6-4fj9s"]);
        let waiting: BTreeSet<&str> = pods.iter().filter_map(|p| p.waiting.as_deref()).collect();
        assert_eq!(
            waiting,
            BTreeSet::from(["ErrImagePull", "ImagePullBackOff"])
        );
    }

    #[test]
    fn a_pod_that_did_not_start_or_a_pull_fails_the_check() {
        let good = Outage {
            scaled_ready: 10,
            scaled_seconds: 2.4,
            replaced_ready: 10,
            replaced_seconds: 1.1,
            ..Outage::default()
        };
        assert!(verdict(&[("WebAssembly", &good), ("container", &good)]).is_empty());
        let down = Outage {
            scaled_ready: 1,
            replaced_ready: 0,
            pull_errors: 27,
            waiting: ["ImagePullBackOff".to_string()].into(),
            ..good
        };
        let failures = verdict(&[("WebAssembly", &down)]);
        assert_eq!(
            failures,
            [
                "WebAssembly: 1 of 10 Ready after 1 -> 10 with the registry down (waiting: {\"ImagePullBackOff\"})",
                "WebAssembly: 0 of 10 Ready after a pod was deleted with the registry down (waiting: {\"ImagePullBackOff\"})",
                "WebAssembly: 27 image pull errors: the node asked the registry for an image it had",
            ]
        );
        let table = table(&[("WebAssembly", &good), ("container", &down)]);
        assert!(
            table.contains("| Ready after 1 -> 10 | 10 of 10 | 1 of 10 |"),
            "{table}"
        );
        assert!(
            table.contains("| image pull errors in events | 0 | 27 |"),
            "{table}"
        );
    }
}
