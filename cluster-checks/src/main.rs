//! `cluster-checks COMMAND`: what the Makefile runs against the cluster kubectl's context names, one
//! command per make target:
//!
//! | command | make target | what it does |
//! |---|---|---|
//! | `runtime-class` | `make deploy` | uses the cluster's RuntimeClass, or applies runtimeclass.yaml when there is none |
//! | `scale-out` | `make scale-out` | 1 -> 10 replicas: fails on a restart or a pod placed off the RuntimeClass's nodes |
//! | `rollout` | `make rollout` | load through the NodePorts during a rollout restart and an eviction |
//! | `drain-check` | `make drain-check` | load through the NodePort while a wasm node is drained |
//! | `compare` | `make compare` | the component and the container side by side |
//! | `self-test` | `make test-cluster-checks` | the load check on loopback, where the outcome is known |
//!
//! Every figure and verdict is printed; a failed check exits 1.

mod compare;
mod drain;
mod kube;
mod load;
mod rollout;
mod runtime_class;
mod scale_out;
mod self_test;
#[path = "../../tests/support/mod.rs"]
mod support;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("runtime-class") => runtime_class::runtime_class(),
        Some("scale-out") => scale_out::scale_out(),
        Some("rollout") => rollout::rollout(),
        Some("drain-check") => drain::drain_check(),
        Some("compare") => compare::compare(),
        Some("self-test") => self_test::self_test(),
        other => bail!(
            "cluster-checks runtime-class | scale-out | rollout | drain-check | compare | self-test, not {other:?}"
        ),
    }
}
