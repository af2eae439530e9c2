//! Scale to zero with KEDA and its HTTP Add-on (v2.20.2 and v0.15.0).
//!
//! `scale-to-zero-prepare` (make deploy-scale-to-zero, before it applies anything): KEDA's and the
//! add-on's CRDs must be on the cluster; the component's RuntimeClass is settled as make deploy
//! settles it (`runtime_class::settle`: on a cluster where make deploy never ran, the pods would be
//! refused without it); then the add-on's interceptor proxy gets a NodePort of this
//! project's, selecting what the interceptor's own Service selects (the Helm chart and the release
//! YAML label the interceptor's pods differently), since a request counts, and wakes the app, only
//! when it passes through the interceptor.
//!
//! `scale-to-zero-wait`: until an app has no pod; `cold-start` (src/cold_start.rs) times what follows.

use crate::kube::{apply_json, env_number, has_crd, kubectl, kubectl_json, App};
use crate::runtime_class;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// KEDA's ScaledObject and the add-on's InterceptorRoute, the two objects k8s/keda-http/ applies.
const KEDA_CRD: &str = "scaledobjects.keda.sh";
const ADD_ON_CRD: &str = "interceptorroutes.http.keda.sh";
/// The interceptor proxy's Service (config/interceptor/proxy-service.yaml, namePrefix
/// keda-add-ons-http-, namespace keda) and its port for plain HTTP.
const INTERCEPTOR_NAMESPACE: &str = "keda";
const INTERCEPTOR_SERVICE: &str = "keda-add-ons-http-interceptor-proxy";
const INTERCEPTOR_PORT: &str = "proxy";
/// This project's NodePort for it.
pub const NODE_PORT_SERVICE: &str = "time-service-interceptor";

/// KEDA and the add-on are installed: `crds` (`kubectl get crd -o json`) has both CRDs.
pub fn check_keda(crds: &Value) -> Result<()> {
    let (names, missing): (Vec<&str>, Vec<&str>) =
        [("KEDA", KEDA_CRD), ("KEDA's HTTP Add-on", ADD_ON_CRD)]
            .into_iter()
            .filter(|(_, crd)| !has_crd(crds, crd))
            .unzip();
    ensure!(
        missing.is_empty(),
        "not on this cluster: {} (no CRD {}): make cluster-keda installs KEDA v2.20.2 and its HTTP Add-on v0.15.0",
        names.join(" and "),
        missing.join(", ")
    );
    Ok(())
}

/// The NodePort Service, beside `interceptor` (the add-on's proxy Service as the cluster has it),
/// that reaches the same pods on the same port from `node_port`.
pub fn interceptor_node_port(interceptor: &Value, node_port: u16) -> Result<Value> {
    let selector = &interceptor["spec"]["selector"];
    ensure!(
        selector.as_object().is_some_and(|s| !s.is_empty()),
        "{INTERCEPTOR_SERVICE} selects no pods"
    );
    let port = interceptor["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|port| port["name"] == INTERCEPTOR_PORT)
        .with_context(|| format!("{INTERCEPTOR_SERVICE} has no port named {INTERCEPTOR_PORT}"))?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NODE_PORT_SERVICE,
            "namespace": interceptor["metadata"]["namespace"],
            "labels": {
                "app.kubernetes.io/name": "time-service",
                "app.kubernetes.io/part-of": "time-service",
            },
        },
        "spec": {
            "type": "NodePort",
            "selector": selector,
            "ports": [{
                "name": INTERCEPTOR_PORT,
                "protocol": "TCP",
                "port": port["port"],
                "targetPort": port["targetPort"],
                "nodePort": node_port,
            }],
        },
    }))
}

/// `cluster-checks scale-to-zero-prepare DEPLOYMENT`, run by make deploy-scale-to-zero first.
pub fn prepare(deployment: &str) -> Result<()> {
    check_keda(&kubectl_json(&["get", "crd", "-o", "json"])?)?;
    let interceptor = kubectl_json(&[
        "get",
        "service",
        INTERCEPTOR_SERVICE,
        "-n",
        INTERCEPTOR_NAMESPACE,
        "-o",
        "json",
    ])
    .with_context(|| {
        format!("KEDA's HTTP Add-on has no Service {INTERCEPTOR_NAMESPACE}/{INTERCEPTOR_SERVICE}")
    })?;
    let service =
        interceptor_node_port(&interceptor, env_number("SCALE_TO_ZERO_NODE_PORT", 30082)?)?;
    // The component's pods need the RuntimeClass, settled as make deploy settles it (the container's
    // run on the default runtime).
    let [component, _] = App::both()?;
    if deployment == component.deployment {
        runtime_class::settle(runtime_class::ours()?)?;
    }
    print!("{}", apply_json(&service)?);
    Ok(())
}

/// `cluster-checks interceptor-nodeport SERVICE_JSON`: the NodePort make deploy-scale-to-zero would
/// apply beside that interceptor Service, for make test-manifests.
pub fn render_node_port(interceptor: &str) -> Result<()> {
    let interceptor: Value = serde_json::from_str(&std::fs::read_to_string(interceptor)?)?;
    let service =
        interceptor_node_port(&interceptor, env_number("SCALE_TO_ZERO_NODE_PORT", 30082)?)?;
    println!("{service:#}");
    Ok(())
}

/// `cluster-checks scale-to-zero-wait DEPLOYMENT`: until that app has no pod (COLD_START_ZERO_SECONDS).
pub fn wait(deployment: &str) -> Result<()> {
    let app = App::both()?
        .into_iter()
        .find(|app| app.deployment == deployment)
        .with_context(|| format!("no app named {deployment}"))?;
    let timeout = env_number("COLD_START_ZERO_SECONDS", 180)?;
    match wait_zero(&app, Duration::from_secs(timeout))? {
        Some(seconds) => println!("{deployment}: 0 pods after {seconds:.0} s; the interceptor wakes it on the next request"),
        None => bail!("{deployment} still has pods after {timeout} s: kubectl describe scaledobject {deployment}"),
    }
    Ok(())
}

/// Until the Deployment asks for no replica and no pod of it is left, at most `timeout`: the
/// seconds it took, or None.
pub fn wait_zero(app: &App, timeout: Duration) -> Result<Option<f64>> {
    let started = Instant::now();
    loop {
        let replicas = kubectl(&[
            "get",
            "deployment",
            app.deployment,
            "-o",
            "jsonpath={.spec.replicas}",
        ])?;
        if replicas.trim() == "0" && app.pods()?.is_empty() {
            return Ok(Some(started.elapsed().as_secs_f64()));
        }
        if started.elapsed() > timeout {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::canned as kubectl_canned;

    #[test]
    fn a_missing_add_on_is_one_line_naming_what_installs_it() {
        let none = kubectl_canned("crds-none.json");
        assert_eq!(
            check_keda(&none).unwrap_err().to_string(),
            "not on this cluster: KEDA and KEDA's HTTP Add-on (no CRD scaledobjects.keda.sh, \
             interceptorroutes.http.keda.sh): make cluster-keda installs KEDA v2.20.2 and its HTTP Add-on v0.15.0"
        );
        let keda_only = kubectl_canned("crds-keda.json");
        let error = check_keda(&keda_only).unwrap_err().to_string();
        assert!(
            error.starts_with(
                "not on this cluster: KEDA's HTTP Add-on (no CRD interceptorroutes.http.keda.sh)"
            ),
            "{error}"
        );
        check_keda(&kubectl_canned("crds-keda-http.json")).unwrap();
    }

    #[test]
    fn the_node_port_selects_what_the_interceptor_selects() {
        let interceptor = kubectl_canned("service-interceptor-proxy.json");
        let service = interceptor_node_port(&interceptor, 30082).unwrap();
        assert_eq!(service["spec"]["selector"], interceptor["spec"]["selector"]);
        assert_eq!(service["metadata"]["namespace"], "keda");
        assert_eq!(service["spec"]["type"], "NodePort");
        assert_eq!(
            service["spec"]["ports"],
            json!([{"name": "proxy", "protocol": "TCP", "port": 8080, "targetPort": "proxy", "nodePort": 30082}])
        );
        // Whatever the install labels its pods with (the Helm chart's differ from the release YAML's).
        let mut other = interceptor.clone();
        other["spec"]["selector"] = json!({"app": "keda-add-ons-http-interceptor"});
        let service = interceptor_node_port(&other, 30082).unwrap();
        assert_eq!(
            service["spec"]["selector"],
            json!({"app": "keda-add-ons-http-interceptor"})
        );
        other["spec"]["ports"] =
            json!([{"name": "proxy-tls", "port": 8443, "targetPort": "proxy-tls"}]);
        assert!(interceptor_node_port(&other, 30082).is_err());
    }
}
