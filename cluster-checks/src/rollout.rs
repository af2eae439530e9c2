//! `make rollout`: for the component and, when it is deployed, the container, at ROLLOUT_REPLICAS
//! (3) replicas with the HPAs taken away: oha at ROLLOUT_RATE (200) requests per second through the
//! NodePort for ROLLOUT_SECONDS (45) while `kubectl rollout restart` replaces every pod, then again
//! while one pod is evicted through the Eviction API, as `kubectl drain` evicts. One line per phase:
//! the requests, the failures by kind and how long the disruption took; it fails on any failed
//! request beyond the one allowance (`load::allowed_drops`).

use crate::kube::{self, env_number, kubectl, App, HpasAway};
use crate::load::{allowed_drops, under_load, verdict};
use anyhow::{bail, ensure, Context, Result};
use std::thread;
use std::time::{Duration, Instant};

/// How long the load runs before the disruption starts.
pub const SETTLE: Duration = Duration::from_secs(5);

/// The load's rate and duration, from the environment (ROLLOUT_RATE, ROLLOUT_SECONDS).
pub fn load_settings() -> Result<(u32, u32)> {
    Ok((
        env_number("ROLLOUT_RATE", 200)?,
        env_number("ROLLOUT_SECONDS", 45)?,
    ))
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
        .running_pods()?
        .into_iter()
        .next()
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

pub fn rollout() -> Result<()> {
    let replicas: u32 = env_number("ROLLOUT_REPLICAS", 3)?;
    let (rate, seconds) = load_settings()?;
    let both = App::both()?;
    let mut apps = Vec::new();
    for app in &both {
        if app.is_deployed()? {
            apps.push(app);
        } else {
            println!("rollout: {} is not deployed: not checked", app.deployment);
        }
    }
    ensure!(
        apps.first().map(|app| app.deployment) == Some("time-service"),
        "the component is not deployed: make deploy first"
    );
    let hpas = HpasAway::take(&apps)?;
    let mut failed = Vec::new();
    for app in &apps {
        println!("rollout: {} at {replicas} replicas", app.deployment);
        app.scale(replicas)?;
        app.wait_settled(replicas as usize)?;
        let addr = app.node_port_addr()?;
        println!(
            "rollout: oha at {rate} req/s on http://{addr}/time for {seconds} s; kubectl rollout restart after {} s",
            SETTLE.as_secs()
        );
        let (report, took) = under_load(addr, rate, seconds, SETTLE, || {
            rollout_restart(app, replicas)
        })?;
        let what = format!(
            "{} ({}), rollout restart of {replicas} pods in {took:.1} s",
            app.deployment, app.column
        );
        if let Err(error) = verdict(&what, &report, allowed_drops(replicas, replicas)) {
            failed.push(error);
        }
        println!(
            "rollout: oha again; one pod evicted after {} s",
            SETTLE.as_secs()
        );
        let (report, took) = under_load(addr, rate, seconds, SETTLE, || evict_one(app, replicas))?;
        let what = format!(
            "{} ({}), one of {replicas} pods evicted, replaced in {took:.1} s",
            app.deployment, app.column
        );
        if let Err(error) = verdict(&what, &report, allowed_drops(1, replicas)) {
            failed.push(error);
        }
        app.scale(1)?;
    }
    drop(hpas);
    if !failed.is_empty() {
        for error in &failed {
            eprintln!("FAILED {error}");
        }
        bail!("requests failed: docs/rollouts-and-drains.md");
    }
    println!("rollout: no request failed beyond the allowance");
    Ok(())
}
