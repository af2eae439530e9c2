//! `make deploy-spinapp`: the app as a SpinApp on a cluster that runs spin-operator (SpinKube), with
//! what make deploy's path has and a SpinApp cannot ask for.
//!
//! Before anything is applied (`spinapp-prepare`): spin-operator's CRDs must be on the cluster, and
//! make deploy's Deployment, whose name the operator's would take, must not. The executor the
//! SpinApp names is the namespace's own when it has one, else k8s/spinapp-executor/ (labelled as
//! ours, which make undeploy-spinapp deletes); its RuntimeClass is settled as make deploy settles
//! it. After the SpinApp is applied (`spinapp-harden`), the operator's Deployment gets, by a
//! strategic-merge patch, what k8s/base/deployment.yaml sets and a SpinApp has no field for
//! (spin-operator v0.6.1, `api/v1alpha1/spinapp_types.go`): the rollout strategy, the preStop pause
//! and grace period, the security contexts, the spread and the startup probe.
//!
//! The operator writes its Deployment by server-side apply, forced, as field manager
//! `spin-operator`, at every reconcile (`internal/controller/spinapp_controller.go`,
//! `reconcileDeployment`). Apply takes over, and on a later apply drops, only fields the applier
//! sets; a field it never sets stays with whoever set it. So the patch keeps as long as none of its
//! fields is one the operator applies. Which those are is read from what the apiserver records, not
//! from the object's fields (a live object also has every default the apiserver filled in, which
//! nobody applied): the Deployment's `managedFields` entry of manager `spin-operator`, operation
//! `Apply` (`owned_fields`), the ownership server-side apply itself decides conflicts by. Chosen
//! over an unforced server-side apply of the patch because it decides before anything is written,
//! and is unit-tested on a real apiserver's object; what it cannot see (a struct the schema makes
//! atomic) the reconcile check after the patch catches: the SpinApp touched, the operator's apply
//! awaited, the Deployment read back (`not_kept`).

use crate::kube::{get_optional, has_crd, kubectl, kubectl_json, objects};
use crate::runtime_class::{self, is_ours, PROJECT_LABEL};
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const SPINAPP_CRD: &str = "spinapps.core.spinkube.dev";
const EXECUTOR_CRD: &str = "spinappexecutors.core.spinkube.dev";
/// The field manager the operator applies its Deployment as (`internal/controller/spinapp_controller.go`,
/// `FieldManager`).
const OPERATOR_MANAGER: &str = "spin-operator";
/// The deployment annotation spinapp-harden sets on the SpinApp to see the operator's next apply.
const RECONCILE_MARK: &str = "time-service/reconciled";
/// The operator's name for the container's port 80 (`pkg/spinapp/spinapp.go`, `HTTPPortName`).
const OPERATOR_PORT: &str = "http-app";

/// The Deployment's fields, then the pod's, then the container's, that the patch copies from
/// k8s/base/deployment.yaml: none of them is a SpinApp field or one the operator sets.
const DEPLOYMENT_FIELDS: [&str; 2] = ["strategy", "revisionHistoryLimit"];
const POD_FIELDS: [&str; 4] = [
    "automountServiceAccountToken",
    "terminationGracePeriodSeconds",
    "securityContext",
    "topologySpreadConstraints",
];
const CONTAINER_FIELDS: [&str; 4] = [
    "imagePullPolicy",
    "lifecycle",
    "securityContext",
    "startupProbe",
];

/// spin-operator is installed: `crds` (`kubectl get crd -o json`) has its two CRDs.
pub fn check_operator(crds: &Value) -> Result<()> {
    let missing: Vec<&str> = [SPINAPP_CRD, EXECUTOR_CRD]
        .into_iter()
        .filter(|crd| !has_crd(crds, crd))
        .collect();
    ensure!(
        missing.is_empty(),
        "spin-operator is not installed on this cluster (no CRD {}): make cluster-spinkube installs it \
         as SpinKube's quickstart does (cert-manager, the CRDs, the RuntimeClass, the chart, the shim executor)",
        missing.join(", ")
    );
    Ok(())
}

/// The Deployment of the app's name, if any, is the operator's: make deploy's would be taken over.
pub fn check_not_deployed_plainly(deployment: Option<&Value>) -> Result<()> {
    if let Some(deployment) = deployment {
        ensure!(
            owned_by_spinapp(deployment),
            "deployment/{} is make deploy's, not spin-operator's: make undeploy first (the operator \
             makes a Deployment of the same name)",
            deployment["metadata"]["name"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// Whether a SpinApp owns `object`: spin-operator made it.
fn owned_by_spinapp(object: &Value) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|owner| owner["kind"] == "SpinApp")
}

/// What make deploy-spinapp does about the executor the SpinApp names.
#[derive(Debug, PartialEq)]
pub struct ExecutorPlan {
    /// Apply k8s/spinapp-executor/: the namespace has none of that name, or this project's.
    pub apply_ours: bool,
    /// The RuntimeClass its pods get.
    pub runtime_class: String,
    pub line: String,
}

/// `existing`: the namespace's executor of our name, if any; `ours`: k8s/spinapp-executor/'s.
pub fn decide_executor(existing: Option<&Value>, ours: &Value) -> Result<ExecutorPlan> {
    let theirs = existing.filter(|executor| !is_ours(executor, ours));
    let used = theirs.unwrap_or(ours);
    let name = used["metadata"]["name"].as_str().unwrap_or_default();
    ensure!(
        used["spec"]["createDeployment"] == true,
        "SpinAppExecutor {name} makes no Deployment (createDeployment is not true): the SpinApp would \
         have no pods; point k8s/spinapp/spinapp.yaml's executor at one that does"
    );
    let runtime_class = used["spec"]["deploymentConfig"]["runtimeClassName"]
        .as_str()
        .with_context(|| {
            format!(
                "SpinAppExecutor {name} names no runtimeClassName: its pods would not run on \
                 containerd-shim-spin (a spinImage executor runs Spin in a container)"
            )
        })?
        .to_string();
    let line = match (existing, theirs) {
        (_, Some(_)) => format!(
            "SpinAppExecutor {name}: the namespace's own (no {PROJECT_LABEL} label of this project), \
             used as it is (RuntimeClass {runtime_class})"
        ),
        (Some(_), None) => {
            format!("SpinAppExecutor {name}: this project's, applied again (RuntimeClass {runtime_class})")
        }
        (None, None) => format!(
            "SpinAppExecutor {name}: none in the namespace, applying this project's (RuntimeClass {runtime_class})"
        ),
    };
    Ok(ExecutorPlan {
        apply_ours: theirs.is_none(),
        runtime_class,
        line,
    })
}

/// k8s/base/deployment.yaml's Deployment (as kubectl renders it) -> the strategic-merge patch that
/// gives the operator's Deployment, whose container is named `container`, what the SpinApp cannot.
pub fn hardening_patch(base: &Value, container: &str) -> Result<Value> {
    let pick = |from: &Value, fields: &[&str]| -> Result<serde_json::Map<String, Value>> {
        fields
            .iter()
            .map(|&field| {
                let value = from
                    .get(field)
                    .with_context(|| format!("k8s/base/deployment.yaml no longer sets {field}"))?;
                Ok((field.to_string(), value.clone()))
            })
            .collect()
    };
    let pod = &base["spec"]["template"]["spec"];
    let mut spec = pick(&base["spec"], &DEPLOYMENT_FIELDS)?;
    let mut pod_patch = pick(pod, &POD_FIELDS)?;
    let mut container_patch = pick(&pod["containers"][0], &CONTAINER_FIELDS)?;
    // The operator's port is named http-app; it serves on 80 as make deploy's does.
    container_patch["startupProbe"]["httpGet"]["port"] = json!(OPERATOR_PORT);
    container_patch.insert("name".into(), json!(container));
    pod_patch.insert("containers".into(), json!([container_patch]));
    spec.insert("template".into(), json!({ "spec": pod_patch }));
    Ok(json!({ "spec": spec }))
}

/// The leaves of `value` as server-side apply tracks ownership, each with whether it is an (empty)
/// object: object members one by one, `containers` items by their name (the key of that list), any
/// other list whole.
pub fn field_paths(value: &Value) -> BTreeMap<String, bool> {
    fn walk(value: &Value, path: &str, out: &mut BTreeMap<String, bool>) {
        match value {
            Value::Object(members) if !members.is_empty() => {
                for (key, member) in members {
                    let here = format!("{path}.{key}");
                    match member.as_array() {
                        Some(list) if key == "containers" => {
                            for item in list {
                                let keyed = format!(
                                    "{here}[name={}]",
                                    item["name"].as_str().unwrap_or_default()
                                );
                                let mut rest = item.clone();
                                rest.as_object_mut().map(|item| item.remove("name"));
                                walk(&rest, &keyed, out);
                            }
                        }
                        _ => walk(member, &here, out),
                    }
                }
            }
            _ => {
                out.insert(path.to_string(), value.is_object());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, "", &mut out);
    out
}

/// The fields a live object records as applied by `manager`: its `managedFields` entry of that
/// manager with operation `Apply`, as paths in `field_paths`' form. In `fieldsV1` (structured-merge-
/// diff's format) `f:NAME` is a member, `k:{...}` a list item by its key fields, `v:...` a set's value,
/// `i:N` an index, `.` the item itself; an entry with nothing under it is a field the manager owns.
pub fn owned_fields(live: &Value, manager: &str) -> Result<BTreeSet<String>> {
    fn walk(fields: &serde_json::Map<String, Value>, path: &str, out: &mut BTreeSet<String>) {
        for (key, under) in fields {
            let here = match key.split_once(':') {
                Some(("f", name)) => format!("{path}.{name}"),
                Some(("k", item)) => {
                    let keys: serde_json::Map<String, Value> =
                        serde_json::from_str(item).unwrap_or_default();
                    let keys: Vec<String> = keys
                        .iter()
                        .map(|(field, value)| match value {
                            Value::String(text) => format!("{field}={text}"),
                            other => format!("{field}={other}"),
                        })
                        .collect();
                    format!("{path}[{}]", keys.join(","))
                }
                Some((_, value)) => format!("{path}[{value}]"),
                None => path.to_string(), // "."
            };
            match under.as_object() {
                Some(members) if !members.is_empty() => walk(members, &here, out),
                _ => {
                    out.insert(here);
                }
            }
        }
    }
    let entry = live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|entry| entry["manager"] == manager && entry["operation"] == "Apply")
        .with_context(|| {
            format!(
                "deployment/{} records no server-side apply by {manager} (metadata.managedFields): \
                 which of its fields the operator owns cannot be told",
                live["metadata"]["name"].as_str().unwrap_or_default()
            )
        })?;
    let mut out = BTreeSet::new();
    walk(
        entry["fieldsV1"]
            .as_object()
            .context("managedFields entry without fieldsV1")?,
        "",
        &mut out,
    );
    Ok(out)
}

/// The fields of `patch` that `owned` (the paths the operator applies) covers, as server-side apply
/// decides a conflict: a path both set, or one of the operator's inside a list or value the patch
/// sets whole. An empty object the operator applies (its `strategy: {}`) owns none of the members
/// others set in it. Each conflict would be taken back at the operator's next reconcile.
pub fn conflicts(patch: &Value, owned: &BTreeSet<String>) -> Vec<String> {
    field_paths(patch)
        .into_iter()
        .filter(|(ours, is_object)| {
            owned.iter().any(|theirs| {
                theirs == ours
                    || (!is_object
                        && (theirs.starts_with(&format!("{ours}."))
                            || theirs.starts_with(&format!("{ours}["))))
            })
        })
        .map(|(ours, _)| ours)
        .collect()
}

/// The fields of `patch` that `live` does not hold as the patch set them: objects member by member
/// (the apiserver's defaults beside them are no difference), `containers` items by name, lists item
/// by item. Empty once the patch has kept.
pub fn not_kept(patch: &Value, live: &Value) -> Vec<String> {
    fn holds(live: &Value, patch: &Value) -> bool {
        match (live, patch) {
            (Value::Object(live), Value::Object(patch)) => patch
                .iter()
                .all(|(key, value)| live.get(key).is_some_and(|found| holds(found, value))),
            (Value::Array(live), Value::Array(patch)) => {
                live.len() == patch.len() && live.iter().zip(patch).all(|(l, p)| holds(l, p))
            }
            _ => live == patch,
        }
    }
    fn walk(patch: &Value, live: &Value, path: &str, out: &mut Vec<String>) {
        let Some(members) = patch.as_object().filter(|members| !members.is_empty()) else {
            if !holds(live, patch) {
                out.push(path.to_string());
            }
            return;
        };
        for (key, member) in members {
            let here = format!("{path}.{key}");
            match member.as_array() {
                Some(items) if key == "containers" => {
                    for item in items {
                        let name = item["name"].as_str().unwrap_or_default();
                        let found = live[key]
                            .as_array()
                            .and_then(|found| found.iter().find(|c| c["name"] == name));
                        walk(
                            item,
                            found.unwrap_or(&Value::Null),
                            &format!("{here}[name={name}]"),
                            out,
                        );
                    }
                }
                _ => walk(member, &live[key], &here, out),
            }
        }
    }
    let mut out = Vec::new();
    walk(patch, live, "", &mut out);
    out
}

/// `patch` merged into `target` as a strategic-merge patch merges these fields: objects member by
/// member, `containers` item by name, any other list replaced.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) else {
        return;
    };
    for (key, value) in patch {
        match (target.get_mut(key), value) {
            (Some(Value::Array(items)), Value::Array(patches)) if key == "containers" => {
                for patch_item in patches {
                    match items
                        .iter_mut()
                        .find(|item| item["name"] == patch_item["name"])
                    {
                        Some(item) => strategic_merge(item, patch_item),
                        None => items.push(patch_item.clone()),
                    }
                }
            }
            (Some(existing), Value::Object(_)) if existing.is_object() => {
                strategic_merge(existing, value)
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The patch for `operators` (the operator's Deployment) from `base` (k8s/'s), refused when a field
/// of it is one the operator owns (`owned`), since its reconcile would undo it.
fn patch_for(operators: &Value, owned: &BTreeSet<String>, base: &Value) -> Result<Value> {
    let container = operators["spec"]["template"]["spec"]["containers"][0]["name"]
        .as_str()
        .context("the operator's Deployment has no container")?;
    let patch = hardening_patch(base, container)?;
    let taken = conflicts(&patch, owned);
    ensure!(
        taken.is_empty(),
        "{OPERATOR_MANAGER} applies {taken:?} itself (its managedFields entry): its next reconcile \
         would take them back from the patch"
    );
    Ok(patch)
}

/// `cluster-checks spinapp-prepare EXECUTOR_FILE DEPLOYMENT`, run by make deploy-spinapp before
/// it applies k8s/spinapp/.
pub fn prepare(executor_file: &str, deployment: &str) -> Result<()> {
    check_operator(&kubectl_json(&["get", "crd", "-o", "json"])?)?;
    check_not_deployed_plainly(get_optional("deployment", deployment)?.as_ref())?;
    let ours = kubectl_json(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        executor_file,
    ])?;
    let name = ours["metadata"]["name"]
        .as_str()
        .context("the executor has no name")?;
    let plan = decide_executor(get_optional("spinappexecutor", name)?.as_ref(), &ours)?;
    // Its RuntimeClass as make deploy's: the cluster's of that name, else runtimeclass.yaml (under
    // that name); whichever, stopping here when it selects no node.
    let mut runtime_class = runtime_class::ours()?;
    if runtime_class["metadata"]["name"] != plan.runtime_class.as_str() {
        ensure!(
            runtime_class::find(&plan.runtime_class)?.is_some(),
            "SpinAppExecutor {name} names RuntimeClass {}, which the cluster does not have",
            plan.runtime_class
        );
        runtime_class["metadata"]["name"] = json!(plan.runtime_class);
    }
    runtime_class::settle(runtime_class)?;
    println!("{}", plan.line);
    if plan.apply_ours {
        print!("{}", kubectl(&["apply", "-f", executor_file])?);
    }
    Ok(())
}

/// `cluster-checks spinapp-harden BASE_DIR DEPLOYMENT`, run by make deploy-spinapp after it applied
/// k8s/spinapp/: waits for the operator's Deployment, patches it with what BASE_DIR's Deployment
/// sets and a SpinApp cannot, checks that the operator's next reconcile keeps the patch, and waits
/// for the rollout and the SpinApp to be available.
pub fn harden(base_dir: &str, deployment: &str) -> Result<()> {
    let operators = wait_for(deployment, 120, Option::is_some)
        .with_context(|| {
            format!("spin-operator made no Deployment: see kubectl describe spinapp {deployment}")
        })?
        .context("the Deployment went away")?;
    check_not_deployed_plainly(Some(&operators))?;
    let rendered = objects(&kubectl(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-k",
        base_dir,
    ])?)?;
    let base = rendered
        .iter()
        .find(|object| object["kind"] == "Deployment")
        .with_context(|| format!("{base_dir} renders no Deployment"))?;
    let owned = owned_fields(&operators, OPERATOR_MANAGER)?;
    let patch = patch_for(&operators, &owned, base)?;
    let target = format!("deployment/{deployment}");
    print!(
        "{}",
        kubectl(&[
            "patch",
            &target,
            "--type=strategic",
            "-p",
            &patch.to_string()
        ])?
    );
    check_kept_after_reconcile(deployment, &patch)?;
    print!(
        "{}",
        kubectl(&["rollout", "status", &target, "--timeout=180s"])?
    );
    let spinapp = format!("spinapp/{deployment}");
    print!(
        "{}",
        kubectl(&[
            "wait",
            &spinapp,
            "--for=condition=Available",
            "--timeout=180s"
        ])?
    );
    Ok(())
}

/// The Deployment `name` (or its absence) once `done` holds for it, read every half second for up
/// to `seconds`.
fn wait_for(
    name: &str,
    seconds: u64,
    done: impl Fn(&Option<Value>) -> bool,
) -> Result<Option<Value>> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let found = get_optional("deployment", name)?;
        if done(&found) {
            return Ok(found);
        }
        ensure!(
            Instant::now() < deadline,
            "deployment/{name}: still not so after {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// After the patch, one reconcile of the operator's for sure, then the Deployment read back: every
/// field of the patch must still be there. A no-op apply leaves no trace on the Deployment, so the
/// SpinApp is touched where the operator copies it onto the Deployment (a deployment annotation,
/// `constructDeployment`: no new pods); once the Deployment shows it, the operator has applied
/// since the patch.
fn check_kept_after_reconcile(deployment: &str, patch: &Value) -> Result<()> {
    let mark = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos()
        .to_string();
    let touch = json!({"spec": {"deploymentAnnotations": {RECONCILE_MARK: mark}}});
    kubectl(&[
        "patch",
        &format!("spinapp/{deployment}"),
        "--type=merge",
        "-p",
        &touch.to_string(),
    ])?;
    let live = wait_for(deployment, 120, |found| {
        found.as_ref().is_some_and(|found| found["metadata"]["annotations"][RECONCILE_MARK] == mark.as_str())
    })
    .with_context(|| format!("spin-operator did not apply the touched SpinApp to its Deployment: see kubectl describe spinapp {deployment}"))?
    .context("the Deployment went away")?;
    let taken = not_kept(patch, &live);
    ensure!(
        taken.is_empty(),
        "{OPERATOR_MANAGER}'s reconcile took back {taken:?} of the patch: this operator version sets \
         them itself (docs/spinkube.md)"
    );
    println!(
        "deployment/{deployment}: the patch kept through {OPERATOR_MANAGER}'s reconcile ({} fields)",
        field_paths(patch).len()
    );
    Ok(())
}

/// kustomize's output (`kubectl kustomize`: YAML documents, `---` between them, `kind:` at the top
/// level of each) split into the documents of custom resources of `kinds` and the others.
pub fn split_kinds<'a>(rendered: &'a str, kinds: &[&str]) -> (Vec<&'a str>, Vec<&'a str>) {
    rendered
        .split("\n---\n")
        .map(|document| document.trim_start_matches("---\n"))
        .filter(|document| !document.trim().is_empty())
        .partition(|document| {
            document
                .lines()
                .filter_map(|line| line.strip_prefix("kind: "))
                .any(|kind| kinds.contains(&kind.trim()))
        })
}

/// `cluster-checks spinapp-undeploy DIR APP EXECUTOR`, run by make undeploy-spinapp: DIR's objects
/// (the SpinApp APP first, so that the operator lets the executor go), then the executor EXECUTOR if
/// it is this project's. When spin-operator's CRDs are gone kubectl cannot name a SpinApp, and would
/// stop there leaving the rest: then the rest is deleted without it, and what the SpinApp owned and
/// is still there is named.
pub fn undeploy(dir: &str, app: &str, executor: &str) -> Result<()> {
    let crds = kubectl_json(&["get", "crd", "-o", "json"])?;
    if has_crd(&crds, SPINAPP_CRD) && has_crd(&crds, EXECUTOR_CRD) {
        print!("{}", kubectl(&["delete", "-k", dir, "--ignore-not-found"])?);
        // The garbage collector takes the operator's Deployment after its SpinApp; until it has,
        // the RuntimeClass counts as used (make undeploy-spinapp's runtime-class-release).
        wait_for(app, 60, |found| {
            !found.as_ref().is_some_and(owned_by_spinapp)
        })
        .context(
            "the garbage collector left the operator's Deployment after its SpinApp was deleted",
        )?;
        let project = &runtime_class::ours()?["metadata"]["labels"][PROJECT_LABEL];
        let selector = format!("{PROJECT_LABEL}={}", project.as_str().unwrap_or_default());
        let name = format!("metadata.name={executor}");
        print!(
            "{}",
            kubectl(&[
                "delete",
                "spinappexecutor",
                "--selector",
                &selector,
                "--field-selector",
                &name,
                "--ignore-not-found"
            ])?
        );
        return Ok(());
    }
    let rendered = kubectl(&["kustomize", dir])?;
    let (custom, rest) = split_kinds(&rendered, &["SpinApp", "SpinAppExecutor"]);
    let file = std::env::temp_dir().join("time-service-spinapp-undeploy.yaml");
    std::fs::write(&file, rest.join("\n---\n"))?;
    print!(
        "{}",
        kubectl(&[
            "delete",
            "-f",
            &file.to_string_lossy(),
            "--ignore-not-found"
        ])?
    );
    println!(
        "spin-operator's CRDs are not on this cluster: {} SpinApp of {dir} not deleted (it went with its \
         CRD), nor executor {executor}",
        custom.len()
    );
    let mut left = Vec::new();
    for kind in ["deployment", "service"] {
        if get_optional(kind, app)?.is_some_and(|found| owned_by_spinapp(&found)) {
            left.push(format!("{kind}/{app}"));
        }
    }
    ensure!(
        left.is_empty(),
        "left: {left:?}, spin-operator's for SpinApp {app}, which the garbage collector has not removed \
         (the SpinApp is not gone yet: kubectl get crd spinapps.core.spinkube.dev): kubectl delete them"
    );
    Ok(())
}

/// `cluster-checks spinapp-render BASE OPERATORS`: the operator's Deployment (OPERATORS, JSON) as
/// make deploy-spinapp leaves it, patched from BASE (k8s/'s Deployment, JSON), for check-manifests.
pub fn render(base: &str, operators: &str) -> Result<()> {
    let read = |path: &str| -> Result<Value> {
        Ok(serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        )?)
    };
    let mut deployment = read(operators)?;
    // What the operator applies is what it owns: the fields of the object it sends.
    let owned = field_paths(&deployment).into_keys().collect();
    let patch = patch_for(&deployment, &owned, &read(base)?)?;
    strategic_merge(&mut deployment, &patch);
    println!("{deployment:#}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::canned;

    fn executor_ours() -> Value {
        canned("spinappexecutor-file.json")
    }

    #[test]
    fn no_operator_is_one_line_naming_what_installs_it() {
        let error = check_operator(&canned("crds-none.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "spin-operator is not installed on this cluster (no CRD spinapps.core.spinkube.dev, \
             spinappexecutors.core.spinkube.dev): make cluster-spinkube installs it as SpinKube's \
             quickstart does (cert-manager, the CRDs, the RuntimeClass, the chart, the shim executor)"
        );
        check_operator(&canned("crds-spinkube.json")).unwrap();
    }

    #[test]
    fn make_deploys_deployment_stops_it_the_operators_does_not() {
        let error = check_not_deployed_plainly(Some(&canned("deployment-base.json"))).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("deployment/time-service is make deploy's"),
            "{error}"
        );
        check_not_deployed_plainly(Some(&live())).unwrap();
        check_not_deployed_plainly(None).unwrap();
    }

    #[test]
    fn no_executor_applies_ours() {
        let plan = decide_executor(None, &executor_ours()).unwrap();
        assert_eq!(
            plan,
            ExecutorPlan {
                apply_ours: true,
                runtime_class: "wasmtime-spin-v2".into(),
                line: "SpinAppExecutor containerd-shim-spin: none in the namespace, applying this \
                       project's (RuntimeClass wasmtime-spin-v2)"
                    .into(),
            }
        );
    }

    #[test]
    fn ours_is_applied_again() {
        let existing = canned("spinappexecutor-ours.json");
        let plan = decide_executor(Some(&existing), &executor_ours()).unwrap();
        assert!(plan.apply_ours);
        assert!(
            plan.line.contains("this project's, applied again"),
            "{}",
            plan.line
        );
    }

    #[test]
    fn spinkubes_is_used_as_it_is() {
        let existing = canned("spinappexecutor-spinkube.json");
        let plan = decide_executor(Some(&existing), &executor_ours()).unwrap();
        assert_eq!(
            plan,
            ExecutorPlan {
                apply_ours: false,
                runtime_class: "wasmtime-spin-v2".into(),
                line: "SpinAppExecutor containerd-shim-spin: the namespace's own (no \
                       app.kubernetes.io/part-of label of this project), used as it is (RuntimeClass wasmtime-spin-v2)"
                    .into(),
            }
        );
    }

    #[test]
    fn an_executor_that_runs_no_shim_is_refused() {
        let mut spintainer = canned("spinappexecutor-spinkube.json");
        spintainer["spec"]["deploymentConfig"] =
            json!({"spinImage": "ghcr.io/spinframework/spintainer:v3.6.3"});
        let error = decide_executor(Some(&spintainer), &executor_ours()).unwrap_err();
        assert!(
            error.to_string().contains("names no runtimeClassName"),
            "{error}"
        );
        let mut no_deployment = canned("spinappexecutor-spinkube.json");
        no_deployment["spec"]["createDeployment"] = json!(false);
        let error = decide_executor(Some(&no_deployment), &executor_ours()).unwrap_err();
        assert!(error.to_string().contains("makes no Deployment"), "{error}");
    }

    /// The operator's Deployment as a real apiserver returned it (../shared/real-cluster/ of the
    /// project's developers: spin-operator v0.6.1, Kubernetes v1.36.2): defaults, managedFields, status.
    fn live() -> Value {
        canned("deployment-spin-operator-live.json")
    }

    fn patch() -> Value {
        hardening_patch(&canned("deployment-base.json"), "time-service").unwrap()
    }

    fn owned() -> BTreeSet<String> {
        owned_fields(&live(), OPERATOR_MANAGER).unwrap()
    }

    #[test]
    fn what_the_operator_owns_is_its_apply_not_the_defaults() {
        let owned = owned();
        for path in [
            ".spec.template.spec.containers[name=time-service].readinessProbe.periodSeconds",
            ".spec.template.spec.containers[name=time-service].ports[containerPort=80,protocol=TCP].name",
            ".spec.template.spec.containers[name=time-service].env[name=SPIN_HTTP_LISTEN_ADDR].value",
            ".spec.template.spec.runtimeClassName",
            ".spec.strategy",
        ] {
            assert!(owned.contains(path), "{path} not in {owned:#?}");
        }
        // Filled in by the apiserver, applied by nobody: the old check read these as the operator's.
        let live = live();
        assert_eq!(live["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(
            live["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
            30
        );
        assert!(!owned.contains(".spec.revisionHistoryLimit"));
        assert!(!owned
            .iter()
            .any(|path| path.contains("terminationGracePeriodSeconds")));
        let defaults: BTreeSet<String> = field_paths(&live).into_keys().collect();
        assert!(conflicts(&patch(), &defaults).contains(&".spec.revisionHistoryLimit".to_string()));
        // An object no apply wrote (the applied one, or one only updated) says nothing of ownership.
        let error = owned_fields(
            &canned("deployment-spin-operator-applied.json"),
            OPERATOR_MANAGER,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("records no server-side apply by spin-operator"),
            "{error}"
        );
        assert!(owned_fields(&live, "kube-controller-manager").is_err());
    }

    #[test]
    fn the_patch_sets_nothing_the_operator_owns() {
        assert_eq!(conflicts(&patch(), &owned()), Vec::<String>::new());
        patch_for(&live(), &owned(), &canned("deployment-base.json")).unwrap();
        // The same on the object the operator applies (spinapp-render), whose fields are what it owns.
        let applied = canned("deployment-spin-operator-applied.json");
        let applied_fields: BTreeSet<String> = field_paths(&applied).into_keys().collect();
        assert!(applied_fields.contains(".spec.strategy"));
        assert_eq!(conflicts(&patch(), &applied_fields), Vec::<String>::new());
        let ours = field_paths(&patch());
        assert!(ours.contains_key(
            ".spec.template.spec.containers[name=time-service].lifecycle.preStop.sleep.seconds"
        ));
        assert!(ours.contains_key(".spec.template.spec.securityContext.runAsNonRoot"));
    }

    #[test]
    fn a_field_the_operator_owns_is_a_conflict() {
        let owned = owned();
        let container = |fields: Value| {
            let mut container = json!({"name": "time-service"});
            strategic_merge(&mut container, &fields);
            json!({"spec": {"template": {"spec": {"containers": [container]}}}})
        };
        let limits = container(json!({"resources": {"limits": {"cpu": "1"}}}));
        assert_eq!(
            conflicts(&limits, &owned),
            [".spec.template.spec.containers[name=time-service].resources.limits.cpu"]
        );
        let probe = container(json!({"readinessProbe": {"periodSeconds": 1}}));
        assert_eq!(conflicts(&probe, &owned).len(), 1);
        // A list set whole, of whose items the operator owns some.
        let ports = container(json!({"ports": [{"name": "http", "containerPort": 80}]}));
        assert_eq!(
            conflicts(&ports, &owned),
            [".spec.template.spec.containers[name=time-service].ports"]
        );
        // Another container's field, or a member of the operator's empty strategy, is no conflict.
        let sidecar = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "readinessProbe": {"periodSeconds": 1}}]}}}});
        assert!(conflicts(&sidecar, &owned).is_empty());
        assert!(conflicts(&json!({"spec": {"strategy": {"type": "Recreate"}}}), &owned).is_empty());
    }

    #[test]
    fn an_operator_that_applies_a_field_of_the_patch_is_refused() {
        // As a later operator version might: its own preStop pause.
        let mut live = live();
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
            ["f:containers"]["k:{\"name\":\"time-service\"}"]["f:lifecycle"] =
            json!({"f:preStop": {"f:sleep": {"f:seconds": {}}}});
        let owned = owned_fields(&live, OPERATOR_MANAGER).unwrap();
        let error = patch_for(&live, &owned, &canned("deployment-base.json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spin-operator applies [\".spec.template.spec.containers[name=time-service].lifecycle.preStop.sleep.seconds\"] \
             itself (its managedFields entry): its next reconcile would take them back from the patch"
        );
    }

    #[test]
    fn the_patched_deployment_has_the_hardening_and_keeps_the_operators_fields() {
        let mut deployment = live();
        strategic_merge(&mut deployment, &patch());
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(pod["terminationGracePeriodSeconds"], 20);
        assert_eq!(container["lifecycle"]["preStop"]["sleep"]["seconds"], 10);
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"],
            json!(["ALL"])
        );
        assert_eq!(container["startupProbe"]["httpGet"]["port"], "http-app");
        assert_eq!(container["startupProbe"]["periodSeconds"], 1);
        assert_eq!(
            deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            0
        );
        // The operator's own, untouched.
        assert_eq!(container["ports"][0]["name"], "http-app");
        assert_eq!(container["readinessProbe"]["periodSeconds"], 5);
        assert_eq!(container["command"], json!(["/"]));
        assert_eq!(pod["runtimeClassName"], "wasmtime-spin-v2");
    }

    #[test]
    fn the_patch_kept_is_seen_through_the_apiservers_defaults() {
        let patch = patch();
        let mut patched = live();
        strategic_merge(&mut patched, &patch);
        // What the apiserver adds to the startup probe and to the spread is no difference.
        let container = &mut patched["spec"]["template"]["spec"]["containers"][0];
        container["startupProbe"]["timeoutSeconds"] = json!(1);
        container["startupProbe"]["httpGet"]["scheme"] = json!("HTTP");
        patched["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["nodeTaintsPolicy"] =
            json!("Ignore");
        assert_eq!(not_kept(&patch, &patched), Vec::<String>::new());
        // A reconcile that took fields back.
        let mut taken = patched.clone();
        taken["spec"]["template"]["spec"]["securityContext"] = json!({});
        taken["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("lifecycle");
        let lost = not_kept(&patch, &taken);
        assert!(
            lost.contains(&".spec.template.spec.securityContext.runAsNonRoot".to_string()),
            "{lost:?}"
        );
        assert!(lost.contains(
            &".spec.template.spec.containers[name=time-service].lifecycle.preStop.sleep.seconds"
                .to_string()
        ));
        // The operator's Deployment as it was before the patch holds none of it but what matches.
        let before = not_kept(&patch, &live());
        assert!(
            before.contains(&".spec.revisionHistoryLimit".to_string()),
            "{before:?}"
        );
        assert!(before.contains(&".spec.strategy.rollingUpdate.maxUnavailable".to_string()));
    }

    #[test]
    fn kustomize_output_splits_into_the_spinapp_and_the_rest() {
        // Only a document's own kind counts, not a nested one.
        let rendered = "apiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    kind: SpinApp\n  \
                        name: time-service-nodeport\n---\napiVersion: core.spinkube.dev/v1alpha1\n\
                        kind: SpinApp\nmetadata:\n  name: time-service\n---\napiVersion: autoscaling/v2\n\
                        kind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef:\n    kind: Deployment\n";
        let (spinapps, rest) = split_kinds(rendered, &["SpinApp"]);
        assert_eq!(spinapps.len(), 1);
        assert!(spinapps[0].ends_with("  name: time-service"));
        assert_eq!(rest.len(), 2);
        assert!(rest[0].starts_with("apiVersion: v1\nkind: Service"));
        assert!(rest[1].contains("kind: HorizontalPodAutoscaler"));
    }

    #[test]
    fn a_base_without_a_field_is_an_error_not_a_silent_gap() {
        let mut base = canned("deployment-base.json");
        base["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("lifecycle");
        let error = hardening_patch(&base, "time-service").unwrap_err();
        assert_eq!(
            error.to_string(),
            "k8s/base/deployment.yaml no longer sets lifecycle"
        );
    }
}
