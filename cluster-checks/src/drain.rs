//! `make drain-check`: on a cluster with two or more nodes the RuntimeClass selects (`make cluster
//! NODES=3`), the component at ROLLOUT_REPLICAS (3) replicas with the HPA taken away, oha through
//! the NodePort as in `make rollout`, and `kubectl drain` of the selected node holding the most of
//! its pods. It prints one line, and fails on any refused or other failed request, on more dropped
//! requests than the one allowance (`load::allowed_drops`), and unless every evicted pod was
//! replaced on another selected node, none elsewhere. The node is uncordoned at the end.

use crate::kube::{env_number, kubectl, App, Cordoned, HpasAway};
use crate::load::{allowed_drops, under_load, verdict};
use crate::rollout::{load_settings, SETTLE};
use crate::runtime_class::{describe, Placement};
use crate::scale_out::per_node;
use anyhow::{ensure, Context, Result};
use std::collections::HashSet;
use std::time::Instant;

pub fn drain_check() -> Result<()> {
    let replicas: u32 = env_number("ROLLOUT_REPLICAS", 3)?;
    let [app, _] = App::both()?;
    ensure!(
        app.is_deployed()?,
        "the component is not deployed: make deploy first"
    );
    let placement = Placement::of(&app)?;
    ensure!(
        placement.nodes.len() >= 2,
        "drain-check drains one of the nodes the RuntimeClass selects (node selector {}) and needs \
         another to take its pods; this cluster has {}: make cluster NODES=3",
        describe(&placement.selector),
        placement.nodes.len()
    );
    let hpas = HpasAway::take(&[&app])?;
    let checked = drain_under_load(&app, &placement.nodes, replicas);
    let back = app.scale(1);
    drop(hpas);
    checked?;
    back
}

fn drain_under_load(app: &App, selected: &[String], replicas: u32) -> Result<()> {
    let (rate, seconds) = load_settings()?;
    println!("drain-check: {} at {replicas} replicas", app.deployment);
    app.scale(replicas)?;
    app.wait_settled(replicas as usize)?;
    let before = app.running_pods()?;
    let before_nodes: Vec<String> = before.iter().map(|pod| pod.node.clone()).collect();
    println!("drain-check: pods on {}", per_node(&before_nodes));
    let (node, evicted) = selected
        .iter()
        .map(|node| {
            (
                node.clone(),
                before_nodes.iter().filter(|n| *n == node).count() as u32,
            )
        })
        .max_by_key(|(_, pods)| *pods)
        .context("no selected node")?;
    ensure!(evicted > 0, "no pod on {node} to drain");
    let addr = app.node_port_addr()?;
    println!(
        "drain-check: oha at {rate} req/s on http://{addr}/time for {seconds} s; kubectl drain {node} after {} s",
        SETTLE.as_secs()
    );
    let cordoned = Cordoned(node.clone());
    let (report, took) = under_load(addr, rate, seconds, SETTLE, || {
        let started = Instant::now();
        // As an operator drains: DaemonSet pods stay, emptyDir pods (metrics-server) may go, and
        // every eviction waits for the PodDisruptionBudget.
        kubectl(&[
            "drain",
            &node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=240s",
        ])?;
        app.wait_ready()?;
        app.wait_settled(replicas as usize)?;
        Ok(started.elapsed().as_secs_f64())
    })?;
    let after = app.running_pods()?;
    drop(cordoned);
    let old: HashSet<&str> = before.iter().map(|pod| pod.name.as_str()).collect();
    let replacements: Vec<String> = after
        .iter()
        .filter(|pod| !old.contains(pod.name.as_str()))
        .map(|pod| pod.node.clone())
        .collect();
    let what = format!(
        "{} ({}), node {node} drained: {evicted} of {replicas} pods evicted, replaced on {} in {took:.1} s",
        app.deployment,
        app.column,
        per_node(&replacements)
    );
    let load = verdict(&what, &report, allowed_drops(evicted, replicas));
    let others: Vec<&String> = selected.iter().filter(|n| **n != node).collect();
    let misplaced: Vec<String> = after
        .iter()
        .filter(|pod| !others.contains(&&pod.node))
        .map(|pod| format!("{} on {}", pod.name, pod.node))
        .collect();
    load?;
    ensure!(
        misplaced.is_empty() && replacements.len() == evicted as usize,
        "after the drain of {node}: {} replacements for {evicted} evicted pods; pods not on the other \
         selected nodes {others:?}: {misplaced:?}",
        replacements.len()
    );
    println!("drain-check: every evicted pod replaced on another node the RuntimeClass selects");
    Ok(())
}
