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
//! `cold-start` (make cold-start): for the component and the container, as deployed so, rounds of:
//! until the app has no pod, one request through the interceptor (the cold one, timed, with the
//! add-on's `X-KEDA-HTTP-Cold-Start` header read), the same request again (warm), then idle until
//! it is back at zero. It prints a table and fails on a failed or non-200 request or a round that
//! never reached zero.

use crate::kube::{apply_json, env, env_number, get_optional, has_crd, kubectl, kubectl_json, App};
use crate::runtime_class;
use crate::support::{exchange, median, Response};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::net::SocketAddr;
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
/// The add-on's answer header (pkg/http/headers.go): true when the request waited for a pod.
const COLD_START_HEADER: &str = "X-KEDA-HTTP-Cold-Start";

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

/// One timed request through the interceptor: its status and cold-start header, or why it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub outcome: Result<(u16, Option<bool>), String>,
}

impl Sample {
    pub fn of(response: Result<Response>, seconds: f64) -> Sample {
        let outcome = response
            .map_err(|error| format!("{error:#}"))
            .map(|response| {
                let cold = response
                    .header(COLD_START_HEADER)
                    .and_then(|v| v.parse().ok());
                (response.status, cold)
            });
        Sample { seconds, outcome }
    }

    fn ok(&self) -> bool {
        matches!(self.outcome, Ok((200, _)))
    }

    /// The seconds to a 200, if it was one.
    fn answered(&self) -> Option<f64> {
        self.ok().then_some(self.seconds)
    }

    fn describe(&self) -> String {
        match &self.outcome {
            Ok((status, cold)) => format!(
                "{status} after {:.2} s (cold-start header {cold:?})",
                self.seconds
            ),
            Err(error) => format!("failed after {:.2} s: {error}", self.seconds),
        }
    }
}

/// One round of one app: whether it was at zero before the request, the cold and the warm request,
/// and the seconds from the warm answer until it was back at zero (None: it never got there).
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub from_zero: bool,
    pub cold: Sample,
    pub warm: Sample,
    pub back_at_zero: Option<f64>,
}

/// What is wrong with an app's rounds: a round that did not start from zero or never returned to
/// it, a cold or warm request that failed or did not answer 200.
pub fn problems(rounds: &[Round]) -> Vec<String> {
    let mut problems = Vec::new();
    for (number, round) in rounds.iter().enumerate().map(|(i, r)| (i + 1, r)) {
        if !round.from_zero {
            problems.push(format!(
                "round {number}: the app never scaled to zero before the request"
            ));
        }
        for (which, sample) in [("cold", &round.cold), ("warm", &round.warm)] {
            if !sample.ok() {
                problems.push(format!(
                    "round {number}: the {which} request {}",
                    sample.describe()
                ));
            }
        }
        if round.back_at_zero.is_none() {
            problems.push(format!("round {number}: the app never scaled back to zero"));
        }
    }
    problems
}

/// The Markdown table: a column per app.
pub fn table(columns: &[(&str, &[Round])]) -> String {
    let mut out = String::from("|");
    for (name, _) in columns {
        write!(out, " | {name}").unwrap();
    }
    out.push_str(" |\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    let row = |out: &mut String, label: &str, cell: &dyn Fn(&[Round]) -> String| {
        write!(out, "| {label}").unwrap();
        for (_, rounds) in columns {
            write!(out, " | {}", cell(rounds)).unwrap();
        }
        out.push_str(" |\n");
    };
    fn seconds(rounds: &[Round], pick: impl Fn(&Round) -> Option<f64>) -> Vec<f64> {
        rounds.iter().filter_map(pick).collect()
    }
    row(&mut out, "rounds", &|r| r.len().to_string());
    row(&mut out, "cold request, p50 / max", &|r| {
        let cold = seconds(r, |round| round.cold.answered());
        if cold.is_empty() {
            return "–".into();
        }
        format!(
            "{:.2} / {:.2} s",
            median(&cold),
            cold.iter().copied().fold(0.0, f64::max)
        )
    });
    row(
        &mut out,
        "cold requests the interceptor marked cold",
        &|r| {
            let marked = r
                .iter()
                .filter(|round| matches!(round.cold.outcome, Ok((_, Some(true)))))
                .count();
            format!("{marked} of {}", r.len())
        },
    );
    row(&mut out, "warm request, p50", &|r| {
        let warm = seconds(r, |round| round.warm.answered());
        if warm.is_empty() {
            return "–".into();
        }
        format!("{:.1} ms", median(&warm) * 1000.0)
    });
    row(&mut out, "back at zero pods after the request, p50", &|r| {
        let back = seconds(r, |round| round.back_at_zero);
        if back.is_empty() {
            return "–".into();
        }
        format!("{:.0} s", median(&back))
    });
    row(&mut out, "failures", &|r| problems(r).len().to_string());
    out
}

/// One app scaled to zero: its Deployment and the Host its InterceptorRoute answers.
struct Target {
    column: &'static str,
    app: App,
    host: String,
}

/// Until the Deployment asks for no replica and no pod of it is left, at most `timeout`: the
/// seconds it took, or None.
fn wait_zero(app: &App, timeout: Duration) -> Result<Option<f64>> {
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

fn timed_get(addr: SocketAddr, host: &str) -> Sample {
    let request = format!(
        "GET /time HTTP/1.1\r\nHost: {host}\r\nUser-Agent: time-service-cold-start\r\nConnection: close\r\n\r\n"
    );
    let started = Instant::now();
    let response = exchange(addr, request.as_bytes());
    Sample::of(response, started.elapsed().as_secs_f64())
}

/// `cluster-checks cold-start`, run by make cold-start.
pub fn cold_start() -> Result<()> {
    let rounds: usize = env_number("COLD_START_ROUNDS", 3)?;
    let timeout = Duration::from_secs(env_number("COLD_START_ZERO_SECONDS", 180)?);
    let addr: SocketAddr = format!("127.0.0.1:{}", env("SCALE_TO_ZERO_NODE_PORT")?).parse()?;
    let [component, container] = App::both()?;
    let mut targets = Vec::new();
    for (column, app) in [("WebAssembly", component), ("container", container)] {
        let Some(route) = get_optional("interceptorroute", app.deployment)? else {
            println!(
                "{column}: no InterceptorRoute {} (make deploy-scale-to-zero), left out",
                app.deployment
            );
            continue;
        };
        // The first host of its first rule, or any Host when it has none (the catch-all).
        let host = route["spec"]["rules"][0]["hosts"][0]
            .as_str()
            .unwrap_or("localhost")
            .to_string();
        targets.push((Target { column, app, host }, Vec::new()));
    }
    if targets.is_empty() {
        bail!("nothing is scaled to zero: make deploy-scale-to-zero (SCALE_TO_ZERO=container for the container)");
    }
    // Interleaved, so that both meet the same cluster.
    for number in 1..=rounds {
        for (target, results) in &mut targets {
            println!(
                "round {number}/{rounds}, {}: waiting for zero pods",
                target.column
            );
            let from_zero = wait_zero(&target.app, timeout)?.is_some();
            let cold = timed_get(addr, &target.host);
            let warm = timed_get(addr, &target.host);
            println!("  cold: {}; warm: {}", cold.describe(), warm.describe());
            let back_at_zero = wait_zero(&target.app, timeout)?;
            results.push(Round {
                from_zero,
                cold,
                warm,
                back_at_zero,
            });
        }
    }
    let columns: Vec<(&str, &[Round])> = targets
        .iter()
        .map(|(t, r)| (t.column, r.as_slice()))
        .collect();
    println!("\n{}", table(&columns));
    let problems: Vec<String> = targets
        .iter()
        .flat_map(|(target, rounds)| {
            problems(rounds)
                .into_iter()
                .map(move |p| format!("{}: {p}", target.column))
        })
        .collect();
    for problem in &problems {
        eprintln!("FAIL {problem}");
    }
    ensure!(
        problems.is_empty(),
        "{} problems in make cold-start",
        problems.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::canned as kubectl_canned;
    use crate::support::parse_response;

    fn canned(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/testdata/interceptor/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn sample(name: &str, seconds: f64) -> Sample {
        Sample::of(parse_response(&canned(name), false), seconds)
    }

    fn good_round(cold: f64) -> Round {
        Round {
            from_zero: true,
            cold: sample("cold-200.http", cold),
            warm: sample("warm-200.http", 0.0018),
            back_at_zero: Some(19.0),
        }
    }

    #[test]
    fn answers_are_read_as_the_interceptor_writes_them() {
        assert_eq!(sample("cold-200.http", 2.1).outcome, Ok((200, Some(true))));
        assert_eq!(
            sample("warm-200.http", 0.002).outcome,
            Ok((200, Some(false)))
        );
        // The interceptor's own 504 (handler.NewStatic: http.Error), which carries no cold-start header.
        assert_eq!(sample("timeout-504.http", 20.0).outcome, Ok((504, None)));
        let cut = Sample::of(parse_response(b"HTTP/1.1 200 OK\r\nContent-Le", false), 1.0);
        assert!(cut.outcome.is_err());
    }

    #[test]
    fn good_rounds_pass_and_fill_the_table() {
        let rounds = [good_round(2.15), good_round(1.70), good_round(2.50)];
        assert!(problems(&rounds).is_empty());
        let table = table(&[("WebAssembly", &rounds)]);
        assert!(
            table.contains("| cold request, p50 / max | 2.15 / 2.50 s |"),
            "{table}"
        );
        assert!(
            table.contains("| cold requests the interceptor marked cold | 3 of 3 |"),
            "{table}"
        );
        assert!(table.contains("| warm request, p50 | 1.8 ms |"), "{table}");
        assert!(table.contains("| failures | 0 |"), "{table}");
    }

    #[test]
    fn a_504_fails() {
        let mut rounds = [good_round(2.0), good_round(2.0)];
        rounds[1].cold = sample("timeout-504.http", 20.0);
        assert_eq!(
            problems(&rounds),
            ["round 2: the cold request 504 after 20.00 s (cold-start header None)"]
        );
        let table = table(&[("WebAssembly", &rounds)]);
        assert!(
            table.contains("| cold request, p50 / max | 2.00 / 2.00 s |"),
            "{table}"
        );
        assert!(table.contains("| failures | 1 |"), "{table}");
    }

    #[test]
    fn a_round_that_never_reached_zero_fails() {
        let mut rounds = [good_round(2.0)];
        rounds[0].from_zero = false;
        rounds[0].back_at_zero = None;
        assert_eq!(
            problems(&rounds),
            [
                "round 1: the app never scaled to zero before the request",
                "round 1: the app never scaled back to zero"
            ]
        );
    }

    #[test]
    fn a_dropped_warm_request_fails() {
        let mut rounds = [good_round(2.0)];
        rounds[0].warm = Sample::of(Err(anyhow::anyhow!("connection reset")), 0.01);
        assert_eq!(
            problems(&rounds),
            ["round 1: the warm request failed after 0.01 s: connection reset"]
        );
    }

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
