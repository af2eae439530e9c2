//! `make scale-out`: the component from 1 to SCALE_OUT_REPLICAS (10) replicas until all are Ready,
//! with the HPA taken away; it fails on any restart among the new pods and on any pod placed
//! where it should not be: every pod on a node the RuntimeClass selects, and every such node given
//! some (the Deployment spreads its replicas over nodes).

use crate::kube::{env_number, App, HpasAway};
use crate::runtime_class::{describe, Placement};
use anyhow::{ensure, Result};
use std::collections::BTreeMap;

/// "node-a ×5, node-b ×5": how many of `pod_nodes` each node holds.
pub fn per_node(pod_nodes: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for node in pod_nodes {
        *counts.entry(node).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{n} ×{c}")).collect();
    parts.join(", ")
}

/// What is wrong with the placement of pods on `pod_nodes` (one entry per pod), when they may run
/// only on `allowed`: pods elsewhere, and, when there are pods enough to go round, allowed nodes
/// left without one.
pub fn placement_problems(pod_nodes: &[String], allowed: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let elsewhere: Vec<String> = pod_nodes
        .iter()
        .filter(|node| !allowed.contains(node))
        .cloned()
        .collect();
    if !elsewhere.is_empty() {
        problems.push(format!(
            "{} pods on nodes the RuntimeClass does not select: {}",
            elsewhere.len(),
            per_node(&elsewhere)
        ));
    }
    if pod_nodes.len() >= allowed.len() {
        let empty: Vec<&String> = allowed
            .iter()
            .filter(|node| !pod_nodes.contains(node))
            .collect();
        if !empty.is_empty() {
            problems.push(format!(
                "{} pods and none on {empty:?}: the replicas are not spread over the nodes",
                pod_nodes.len()
            ));
        }
    }
    problems
}

pub fn scale_out() -> Result<()> {
    let replicas: u32 = env_number("SCALE_OUT_REPLICAS", 10)?;
    let [app, _] = App::both()?;
    let placement = Placement::of(&app)?;
    let hpas = HpasAway::take(&[&app])?;
    println!("scale-out: {} 1 -> {replicas} replicas", app.deployment);
    let scaled = app
        .scale_out(replicas)
        .and_then(|(seconds, restarts)| Ok((seconds, restarts, app.running_pods()?)));
    let back = app.scale(1);
    drop(hpas);
    let (seconds, restarts, pods) = scaled?;
    back?;
    println!(
        "scale 1 -> {replicas}: all Ready in {seconds:.1} s, {restarts} restarts among the {} new pods ({})",
        replicas - 1,
        app.image
    );
    let pod_nodes: Vec<String> = pods.into_iter().map(|pod| pod.node).collect();
    println!(
        "placement: {} pods on {}; the RuntimeClass selects {} of the cluster's {} nodes (node selector {})",
        pod_nodes.len(),
        per_node(&pod_nodes),
        placement.nodes.len(),
        placement.total,
        describe(&placement.selector)
    );
    let problems = placement_problems(&pod_nodes, &placement.nodes);
    ensure!(
        restarts == 0,
        "{restarts} restarts at scale-out: see docs/image-forms.md (IMAGE_FORM={})",
        std::env::var("IMAGE_FORM").unwrap_or_default()
    );
    ensure!(
        problems.is_empty(),
        "placement: {}: see docs/many-nodes.md",
        problems.join("; ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn spread_over_the_selected_nodes_is_right() {
        let pods = nodes(&["a", "b", "a", "b", "a"]);
        assert!(placement_problems(&pods, &nodes(&["a", "b"])).is_empty());
        assert_eq!(per_node(&pods), "a ×3, b ×2");
    }

    #[test]
    fn a_pod_on_a_plain_node_is_wrong() {
        let problems = placement_problems(&nodes(&["a", "b", "plain"]), &nodes(&["a", "b"]));
        assert_eq!(
            problems,
            ["1 pods on nodes the RuntimeClass does not select: plain ×1"]
        );
    }

    #[test]
    fn all_on_one_of_two_nodes_is_not_spread() {
        let problems = placement_problems(&nodes(&["a", "a", "a"]), &nodes(&["a", "b"]));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("none on [\"b\"]"), "{problems:?}");
    }

    #[test]
    fn fewer_pods_than_nodes_need_not_cover_them() {
        assert!(placement_problems(&nodes(&["a"]), &nodes(&["a", "b", "c"])).is_empty());
    }
}
