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
//! fields is one `constructDeployment` sets, which `conflicts` checks on the operator's object.

use crate::kube::{get_optional, has_crd, kubectl, kubectl_json, objects};
use crate::runtime_class::{self, is_ours, PROJECT_LABEL};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SPINAPP_CRD: &str = "spinapps.core.spinkube.dev";
const EXECUTOR_CRD: &str = "spinappexecutors.core.spinkube.dev";
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
        let operators = deployment["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|owner| owner["kind"] == "SpinApp");
        ensure!(
            operators,
            "deployment/{} is make deploy's, not spin-operator's: make undeploy first (the operator \
             makes a Deployment of the same name)",
            deployment["metadata"]["name"].as_str().unwrap_or_default()
        );
    }
    Ok(())
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

/// The paths of the fields `value` sets, as server-side apply tracks ownership: object members one
/// by one, `containers` items by their name (the key of that list), any other list whole.
pub fn field_paths(value: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, path: &str, out: &mut BTreeSet<String>) {
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
                out.insert(path.to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(value, "", &mut out);
    out
}

/// The fields of `patch` that `operators` (the object the operator applies) also sets, or sets a
/// part of or the whole of: each would be taken back at its next reconcile.
pub fn conflicts(patch: &Value, operators: &Value) -> Vec<String> {
    let theirs = field_paths(operators);
    field_paths(patch)
        .into_iter()
        .filter(|ours| {
            theirs.iter().any(|their| {
                their == ours
                    || their.starts_with(&format!("{ours}."))
                    || ours.starts_with(&format!("{their}."))
            })
        })
        .collect()
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
/// of it is one the operator sets, since its reconcile would undo it.
fn patch_for(operators: &Value, base: &Value) -> Result<Value> {
    let container = operators["spec"]["template"]["spec"]["containers"][0]["name"]
        .as_str()
        .context("the operator's Deployment has no container")?;
    let patch = hardening_patch(base, container)?;
    let taken = conflicts(&patch, operators);
    ensure!(
        taken.is_empty(),
        "the operator sets {taken:?} itself: its reconcile would undo the patch"
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
/// sets and a SpinApp cannot, and waits for the rollout and the SpinApp to be available.
pub fn harden(base_dir: &str, deployment: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let operators = loop {
        match get_optional("deployment", deployment)? {
            Some(found) => break found,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_secs(1)),
            None => bail!("spin-operator made no deployment/{deployment} in 120 s: see kubectl describe spinapp {deployment}"),
        }
    };
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
    let patch = patch_for(&operators, base)?;
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

/// `cluster-checks spinapp-render BASE OPERATORS`: the operator's Deployment (OPERATORS, JSON) as
/// make deploy-spinapp leaves it, patched from BASE (k8s/'s Deployment, JSON), for check-manifests.
pub fn render(base: &str, operators: &str) -> Result<()> {
    let read = |path: &str| -> Result<Value> {
        Ok(serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        )?)
    };
    let mut deployment = read(operators)?;
    let patch = patch_for(&deployment, &read(base)?)?;
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
        check_not_deployed_plainly(Some(&canned("deployment-spin-operator.json"))).unwrap();
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

    #[test]
    fn the_patch_sets_nothing_the_operator_sets() {
        let patch = hardening_patch(&canned("deployment-base.json"), "time-service").unwrap();
        let operators = canned("deployment-spin-operator.json");
        assert_eq!(conflicts(&patch, &operators), Vec::<String>::new());
        // The pod's and the container's fields are ours; the container's others the operator's.
        let ours = field_paths(&patch);
        assert!(ours.contains(
            ".spec.template.spec.containers[name=time-service].lifecycle.preStop.sleep.seconds"
        ));
        assert!(ours.contains(".spec.template.spec.securityContext.runAsNonRoot"));
        let theirs = field_paths(&operators);
        assert!(theirs.contains(
            ".spec.template.spec.containers[name=time-service].readinessProbe.periodSeconds"
        ));
        assert!(theirs.contains(".spec.template.spec.runtimeClassName"));
    }

    #[test]
    fn a_field_the_operator_sets_is_a_conflict() {
        let operators = canned("deployment-spin-operator.json");
        let probe = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "time-service", "readinessProbe": {"periodSeconds": 1}}]}}}});
        assert_eq!(
            conflicts(&probe, &operators),
            [".spec.template.spec.containers[name=time-service].readinessProbe.periodSeconds"]
        );
        // A whole object of which the operator sets a part.
        let resources = json!({"spec": {"template": {"spec": {"containers": [{"name": "time-service", "resources": {}}]}}}});
        assert_eq!(conflicts(&resources, &operators).len(), 1);
        // Another container's field is no conflict.
        let sidecar = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "readinessProbe": {"periodSeconds": 1}}]}}}});
        assert!(conflicts(&sidecar, &operators).is_empty());
    }

    #[test]
    fn the_patched_deployment_has_the_hardening_and_keeps_the_operators_fields() {
        let base = canned("deployment-base.json");
        let mut deployment = canned("deployment-spin-operator.json");
        strategic_merge(
            &mut deployment,
            &hardening_patch(&base, "time-service").unwrap(),
        );
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
