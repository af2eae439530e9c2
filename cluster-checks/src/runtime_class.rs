//! `make deploy`'s RuntimeClass: the cluster's own when it has one of that name, this project's
//! (runtimeclass.yaml) only when it has none, and neither when its node selector matches no node.
//!
//! SpinKube's runtime-class-manager creates `wasmtime-spin-v2` itself, with handler `spin-v2` in its
//! samples, and a RuntimeClass's handler cannot be changed: applying ours over it would fail, and
//! deleting it would take it from the cluster's other apps. A RuntimeClass belongs to this project
//! when it carries runtimeclass.yaml's `app.kubernetes.io/part-of` label; `make undeploy` deletes
//! only such a one.

use crate::kube::{apply_json, env, get_optional, kubectl, kubectl_json, App};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;

pub const PROJECT_LABEL: &str = "app.kubernetes.io/part-of";

pub type Selector = BTreeMap<String, String>;

/// Whether `object` carries `ours`'s project label: applied by this project, so it is this project's to apply again
/// and to delete.
pub fn is_ours(object: &Value, ours: &Value) -> bool {
    object["metadata"]["labels"][PROJECT_LABEL] == ours["metadata"]["labels"][PROJECT_LABEL]
}

/// `KEY=VALUE[,KEY=VALUE...]`, as WASM_NODE_SELECTOR and `kubectl label` take it; empty for none.
pub fn parse_selector(text: &str) -> Result<Selector> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("WASM_NODE_SELECTOR: {pair:?} is not KEY=VALUE"))?;
            Ok((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// A RuntimeClass's `scheduling.nodeSelector` (empty: every node).
pub fn node_selector(runtime_class: &Value) -> Selector {
    runtime_class["scheduling"]["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn set_node_selector(runtime_class: &mut Value, selector: &Selector) {
    let object = runtime_class
        .as_object_mut()
        .expect("a RuntimeClass object");
    if selector.is_empty() {
        object.remove("scheduling");
    } else {
        object.insert(
            "scheduling".into(),
            serde_json::json!({ "nodeSelector": selector }),
        );
    }
}

pub fn describe(selector: &Selector) -> String {
    if selector.is_empty() {
        return "none".into();
    }
    let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// The names of the nodes in `kubectl get nodes -o json` whose labels carry all of `selector`.
pub fn matching_nodes(nodes: &Value, selector: &Selector) -> Vec<String> {
    nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|node| {
            selector
                .iter()
                .all(|(key, value)| node["metadata"]["labels"][key].as_str() == Some(value))
        })
        .filter_map(|node| node["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

fn count_nodes(nodes: &Value) -> usize {
    nodes["items"].as_array().map_or(0, Vec::len)
}

/// What `make deploy` does about the RuntimeClass, with the line it prints.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Apply runtimeclass.yaml: the cluster has none of that name, or this project's own.
    ApplyOurs(String),
    /// Use the cluster's own as it is.
    UseTheirs(String),
}

/// `existing`: the cluster's RuntimeClass of our name, if any; `ours`: the one we would apply;
/// `nodes`: `kubectl get nodes -o json`. Fails, before anything is applied, when the RuntimeClass
/// that would be used selects no node, since its pods would stay Pending.
pub fn decide(existing: Option<&Value>, ours: &Value, nodes: &Value) -> Result<Decision> {
    let name = ours["metadata"]["name"].as_str().unwrap_or_default();
    let project = &ours["metadata"]["labels"][PROJECT_LABEL];
    let theirs = existing.filter(|rc| !is_ours(rc, ours));
    let used = theirs.unwrap_or(ours);
    let handler = used["handler"].as_str().unwrap_or_default();
    let selector = node_selector(used);
    let selected = matching_nodes(nodes, &selector);
    let total = count_nodes(nodes);
    let whose = if theirs.is_some() {
        "the cluster's own"
    } else {
        "this project's"
    };
    if selected.is_empty() {
        let remedy = if theirs.is_some() {
            "label the nodes that run its handler"
        } else {
            "label the nodes that run containerd-shim-spin, or name their label in WASM_NODE_SELECTOR"
        };
        bail!(
            "RuntimeClass {name} ({whose}, handler {handler}) selects nodes labelled {}, and no node \
             of the cluster ({total}) has that label: {remedy} (kubectl label node NODE {})",
            describe(&selector),
            describe(&selector).replace(',', " ")
        );
    }
    let details = format!(
        "handler {handler}, node selector {}: {} of {total} nodes",
        describe(&selector),
        selected.len()
    );
    Ok(match (existing, theirs) {
        (_, Some(_)) => Decision::UseTheirs(format!(
            "RuntimeClass {name}: the cluster's own (no {PROJECT_LABEL}={} label), used as it is ({details})",
            project.as_str().unwrap_or_default()
        )),
        (Some(_), None) => Decision::ApplyOurs(format!(
            "RuntimeClass {name}: this project's, applied again ({details})"
        )),
        (None, None) => Decision::ApplyOurs(format!(
            "RuntimeClass {name}: none on the cluster, applying this project's ({details})"
        )),
    })
}

/// `cluster-checks runtime-class`, run by `make deploy` before it applies anything else.
pub fn runtime_class() -> Result<()> {
    settle(ours()?)
}

/// The RuntimeClass this project would apply: RUNTIME_CLASS_FILE (runtimeclass.yaml), with
/// WASM_NODE_SELECTOR (when set) as its selector.
pub fn ours() -> Result<Value> {
    let file = env("RUNTIME_CLASS_FILE")?;
    let mut ours = kubectl_json(&["create", "--dry-run=client", "-o", "json", "-f", &file])?;
    if let Ok(text) = std::env::var("WASM_NODE_SELECTOR") {
        set_node_selector(&mut ours, &parse_selector(&text)?);
    }
    Ok(ours)
}

/// The cluster's RuntimeClass called `name`, if it has one.
pub fn find(name: &str) -> Result<Option<Value>> {
    get_optional("runtimeclass", name)
}

/// Uses the cluster's RuntimeClass of `ours`'s name, or applies `ours` when the cluster has none
/// (or this project's), as `decide` says.
pub fn settle(ours: Value) -> Result<()> {
    let name = ours["metadata"]["name"]
        .as_str()
        .context("the RuntimeClass has no name")?
        .to_string();
    let existing = find(&name)?;
    let nodes = kubectl_json(&["get", "nodes", "-o", "json"])?;
    match decide(existing.as_ref(), &ours, &nodes)? {
        Decision::UseTheirs(line) => println!("{line}"),
        Decision::ApplyOurs(line) => {
            println!("{line}");
            print!("{}", apply_json(&ours)?);
        }
    }
    Ok(())
}

/// What make undeploy, undeploy-spinapp and undeploy-scale-to-zero do about the RuntimeClass.
#[derive(Debug, PartialEq)]
pub enum Release {
    Delete(String),
    Keep(String),
}

/// `existing`: the cluster's RuntimeClass of `ours`'s name, if any; `deployments`: `kubectl get
/// deployments -A -o json`. Ours goes only when no Deployment (but one being deleted) still names it:
/// another deploy path of this project may use it still.
pub fn release(existing: Option<&Value>, ours: &Value, deployments: &Value) -> Release {
    let name = ours["metadata"]["name"].as_str().unwrap_or_default();
    let Some(existing) = existing else {
        return Release::Keep(format!("RuntimeClass {name}: none on the cluster"));
    };
    if !is_ours(existing, ours) {
        return Release::Keep(format!(
            "RuntimeClass {name}: the cluster's own (no {PROJECT_LABEL} of this project), left as it is"
        ));
    }
    let users: Vec<String> = deployments["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["metadata"]["deletionTimestamp"].is_null())
        .filter(|d| d["spec"]["template"]["spec"]["runtimeClassName"] == name)
        .map(|d| {
            let meta = &d["metadata"];
            format!(
                "{}/{}",
                meta["namespace"].as_str().unwrap_or_default(),
                meta["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    if users.is_empty() {
        Release::Delete(format!(
            "RuntimeClass {name}: this project's, no Deployment uses it: deleting it"
        ))
    } else {
        Release::Keep(format!(
            "RuntimeClass {name}: this project's, still used by deployment {}: left",
            users.join(", ")
        ))
    }
}

/// `cluster-checks runtime-class-release`, the last step of every undeploy target.
pub fn runtime_class_release() -> Result<()> {
    let ours = ours()?;
    let name = ours["metadata"]["name"]
        .as_str()
        .context("the RuntimeClass has no name")?;
    let deployments = kubectl_json(&["get", "deployments", "--all-namespaces", "-o", "json"])?;
    match release(find(name)?.as_ref(), &ours, &deployments) {
        Release::Keep(line) => println!("{line}"),
        Release::Delete(line) => {
            println!("{line}");
            print!("{}", kubectl(&["delete", "runtimeclass", name])?);
        }
    }
    Ok(())
}

/// The nodes `app`'s pods may run on: those its RuntimeClass selects (every node without one),
/// with the selector and the cluster's node count.
pub struct Placement {
    pub selector: Selector,
    pub nodes: Vec<String>,
    pub total: usize,
}

impl Placement {
    pub fn of(app: &App) -> Result<Placement> {
        let selector = match app.runtime_class()? {
            Some(name) => node_selector(&kubectl_json(&[
                "get",
                "runtimeclass",
                &name,
                "-o",
                "json",
            ])?),
            None => Selector::new(),
        };
        let nodes = kubectl_json(&["get", "nodes", "-o", "json"])?;
        Ok(Placement {
            nodes: matching_nodes(&nodes, &selector),
            total: count_nodes(&nodes),
            selector,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::canned;
    use serde_json::json;

    fn ours() -> Value {
        canned("runtimeclass-file.json")
    }

    #[test]
    fn ours_is_released_only_when_no_deployment_uses_it() {
        let mine = canned("runtimeclass-ours.json");
        let component = canned("deployment-base.json");
        let list = |items: Vec<Value>| json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut elsewhere = component.clone();
        elsewhere["metadata"]["namespace"] = json!("default");
        match release(Some(&mine), &ours(), &list(vec![elsewhere.clone()])) {
            Release::Keep(line) => assert!(
                line.contains("still used by deployment default/time-service"),
                "{line}"
            ),
            other => panic!("{other:?}"),
        }
        let mut leaving = elsewhere.clone();
        leaving["metadata"]["deletionTimestamp"] = json!("2026-12-07T06:50:00Z");
        let mut container = elsewhere.clone();
        container["spec"]["template"]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("runtimeClassName");
        assert!(matches!(
            release(Some(&mine), &ours(), &list(vec![leaving, container])),
            Release::Delete(_)
        ));
        let theirs = canned("runtimeclass-rcm.json");
        assert!(matches!(
            release(Some(&theirs), &ours(), &list(vec![])),
            Release::Keep(_)
        ));
        assert!(matches!(
            release(None, &ours(), &list(vec![])),
            Release::Keep(_)
        ));
    }

    #[test]
    fn none_on_the_cluster_applies_ours() {
        let decision = decide(None, &ours(), &canned("nodes-pool.json")).unwrap();
        assert_eq!(
            decision,
            Decision::ApplyOurs(
                "RuntimeClass wasmtime-spin-v2: none on the cluster, applying this project's \
                 (handler spin, node selector spin=true: 2 of 4 nodes)"
                    .into()
            )
        );
    }

    #[test]
    fn ours_on_the_cluster_is_applied_again() {
        let existing = canned("runtimeclass-ours.json");
        let decision = decide(Some(&existing), &ours(), &canned("nodes-pool.json")).unwrap();
        assert!(
            matches!(&decision, Decision::ApplyOurs(line) if line.contains("this project's, applied again")),
            "{decision:?}"
        );
    }

    #[test]
    fn runtime_class_managers_is_used_as_it_is() {
        let existing = canned("runtimeclass-rcm.json");
        let decision = decide(Some(&existing), &ours(), &canned("nodes-pool.json")).unwrap();
        assert_eq!(
            decision,
            Decision::UseTheirs(
                "RuntimeClass wasmtime-spin-v2: the cluster's own (no app.kubernetes.io/part-of=time-service \
                 label), used as it is (handler spin-v2, node selector spin=true: 2 of 4 nodes)"
                    .into()
            )
        );
    }

    #[test]
    fn one_without_scheduling_selects_every_node() {
        let existing = canned("runtimeclass-operator-sample.json");
        let decision = decide(Some(&existing), &ours(), &canned("nodes-unlabelled.json")).unwrap();
        assert!(
            matches!(&decision, Decision::UseTheirs(line)
                if line.ends_with("(handler spin, node selector none: 1 of 1 nodes)")),
            "{decision:?}"
        );
    }

    #[test]
    fn theirs_selecting_no_node_is_an_error_naming_its_label() {
        let existing = canned("runtimeclass-kwasm.json");
        let error = decide(Some(&existing), &ours(), &canned("nodes-pool.json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "RuntimeClass wasmtime-spin-v2 (the cluster's own, handler spin) selects nodes labelled \
             kwasm.sh/kwasm-node=true, and no node of the cluster (4) has that label: label the nodes \
             that run its handler (kubectl label node NODE kwasm.sh/kwasm-node=true)"
        );
    }

    #[test]
    fn ours_selecting_no_node_is_an_error_before_anything_is_applied() {
        let error = decide(None, &ours(), &canned("nodes-unlabelled.json")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("RuntimeClass wasmtime-spin-v2 (this project's, handler spin) selects nodes labelled spin=true, and no node of the cluster (1) has that label"),
            "{message}"
        );
        assert!(message.contains("WASM_NODE_SELECTOR"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }

    #[test]
    fn wasm_node_selector_replaces_ours() {
        let mut ours = ours();
        set_node_selector(
            &mut ours,
            &parse_selector("kubernetes.io/hostname=k3d-time-service-agent-2").unwrap(),
        );
        let decision = decide(None, &ours, &canned("nodes-pool.json")).unwrap();
        assert!(
            matches!(&decision, Decision::ApplyOurs(line)
                if line.contains("node selector kubernetes.io/hostname=k3d-time-service-agent-2: 1 of 4 nodes")),
            "{decision:?}"
        );
        set_node_selector(&mut ours, &parse_selector("").unwrap());
        assert!(ours.get("scheduling").is_none());
        assert_eq!(
            matching_nodes(&canned("nodes-pool.json"), &node_selector(&ours)).len(),
            4
        );
    }

    #[test]
    fn selectors_parse_as_kubectl_label_takes_them() {
        let selector = parse_selector("spin=true, pool=wasm").unwrap();
        assert_eq!(describe(&selector), "pool=wasm,spin=true");
        assert!(parse_selector("spin").is_err());
        assert!(parse_selector("").unwrap().is_empty());
    }

    #[test]
    fn matching_nodes_needs_every_label() {
        let nodes = canned("nodes-pool.json");
        let spin = parse_selector("spin=true").unwrap();
        assert_eq!(
            matching_nodes(&nodes, &spin),
            ["k3d-time-service-agent-0", "k3d-time-service-agent-1"]
        );
        let both =
            parse_selector("spin=true,kubernetes.io/hostname=k3d-time-service-agent-1").unwrap();
        assert_eq!(matching_nodes(&nodes, &both), ["k3d-time-service-agent-1"]);
        let wrong_value = parse_selector("spin=false").unwrap();
        assert!(matching_nodes(&nodes, &wrong_value).is_empty());
    }
}
