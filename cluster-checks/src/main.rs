//! `cluster-checks COMMAND`: what the Makefile runs against the cluster kubectl's context names, one
//! command per make target:
//!
//! | command | make target | what it does |
//! |---|---|---|
//! | `runtime-class` | `make deploy` | uses the cluster's RuntimeClass, or applies runtimeclass.yaml when there is none |
//! | `spinapp-prepare` | `make deploy-spinapp` | spin-operator is there, make deploy's app is not; the executor and its RuntimeClass settled |
//! | `spinapp-harden` | `make deploy-spinapp` | the operator's Deployment given what a SpinApp cannot ask for, then ready |
//! | `spinapp-undeploy` | `make undeploy-spinapp` | the SpinApp's objects and our executor; the rest when the operator's CRDs are gone |
//! | `spinapp-render` | `make test-manifests` | the operator's Deployment as make deploy-spinapp leaves it, for check-manifests |
//! | `scale-out` | `make scale-out` | 1 -> 10 replicas: fails on a restart or a pod placed off the RuntimeClass's nodes |
//! | `rollout` | `make rollout` | load through the NodePorts during a rollout restart and an eviction |
//! | `drain-check` | `make drain-check` | load through the NodePort while a wasm node is drained |
//! | `scale-to-zero-prepare` | `make deploy-scale-to-zero` | KEDA and its HTTP Add-on are there; the component's RuntimeClass settled; a NodePort for the interceptor |
//! | `runtime-class-release` | every `make undeploy*` | deletes the RuntimeClass if it is ours and no Deployment uses it |
//! | `scale-to-zero-wait` | `make deploy-scale-to-zero` | until the app has no pod |
//! | `interceptor-nodeport` | `make test-manifests` | the interceptor's NodePort for a given interceptor Service |
//! | `cold-start` | `make cold-start` | the first request after zero pods and where its time went, a burst of them, the CPU trigger 1 -> 3 -> 0; component and container |
//! | `registry-outage` | `make registry-outage` | 1 -> 10 and a pod replaced with the registry stopped: every pod starts from the node's image |
//! | `compare` | `make compare` | the component and the container side by side |
//! | `self-test` | `make test-cluster-checks` | the load check on loopback, where the outcome is known |
//!
//! Every figure and verdict is printed; a failed check exits 1.

mod cold_start;
mod compare;
mod drain;
mod kube;
mod load;
mod registry_outage;
mod rollout;
mod runtime_class;
mod scale_out;
mod scale_to_zero;
mod self_test;
mod spinapp;
#[path = "../../tests/support/mod.rs"]
mod support;
mod watch;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["runtime-class"] => runtime_class::runtime_class(),
        ["spinapp-prepare", executor_file, deployment] => spinapp::prepare(executor_file, deployment),
        ["spinapp-harden", base_dir, deployment] => spinapp::harden(base_dir, deployment),
        ["spinapp-render", base, operators] => spinapp::render(base, operators),
        ["spinapp-undeploy", dir, app, executor] => spinapp::undeploy(dir, app, executor),
        ["scale-out"] => scale_out::scale_out(),
        ["scale-to-zero-prepare", deployment] => scale_to_zero::prepare(deployment),
        ["runtime-class-release"] => runtime_class::runtime_class_release(),
        ["scale-to-zero-wait", deployment] => scale_to_zero::wait(deployment),
        ["interceptor-nodeport", interceptor] => scale_to_zero::render_node_port(interceptor),
        ["cold-start"] => cold_start::cold_start(),
        ["rollout"] => rollout::rollout(),
        ["drain-check"] => drain::drain_check(),
        ["compare"] => compare::compare(),
        ["registry-outage"] => registry_outage::registry_outage(),
        ["self-test"] => self_test::self_test(),
        _ => bail!(
            "cluster-checks runtime-class | spinapp-prepare EXECUTOR_FILE DEPLOYMENT | spinapp-harden BASE_DIR \
             DEPLOYMENT | spinapp-render BASE OPERATORS | spinapp-undeploy DIR APP EXECUTOR | scale-out | scale-to-zero-prepare DEPLOYMENT | runtime-class-release | \
             scale-to-zero-wait DEPLOYMENT | interceptor-nodeport SERVICE_JSON | cold-start | rollout | drain-check | compare | registry-outage | \
             self-test, \
             not {args:?}"
        ),
    }
}
