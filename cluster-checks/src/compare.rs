//! `make compare`: the component and the book's Go service as a container, both deployed on one
//! cluster (`make deploy deploy-container`), measured side by side in one interleaved run:
//!
//! - the bytes a new node pulls for each: manifest, config and layers, as the registry serves them;
//! - scale-out from 1 to 4 and to 10 replicas until every pod is Ready, COMPARE_ROUNDS rounds each,
//!   with the restarts among the new pods (the shim's start race shows up here);
//! - memory per pod from the metrics API at 10 pods after a warm-up, and the node's total then;
//! - throughput, p50 and p99 through each NodePort with oha, one pod each, same concurrency and
//!   duration.
//!
//! It prints a Markdown table with the cluster's versions above it and writes it to COMPARE_OUT. It
//! reports; nothing here passes or fails on a figure. The HPAs are taken away while it scales by
//! hand, and put back at the end. COMPARE_LOCAL=1 (make test) measures what needs no cluster: the
//! registry bytes, and the load figures of the two served locally (COMPONENT under scripts/serve,
//! BOOK_SERVICE as itself); the cluster's rows then say so.

use crate::kube::{self, env, env_number, kubectl_json, run, App, HpasAway};
use crate::support::{median, oha, Server, Stdout};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const CONCURRENCY: u32 = 64;
const SCALE_OUT: [u32; 2] = [4, 10];
const MEMORY_REPLICAS: u32 = 10;
const NOT_MEASURED: &str = "–";

#[derive(Default)]
struct Figures {
    registry_bytes: u64,
    /// Per SCALE_OUT target: the seconds to all Ready and the restarts among the new pods, per round.
    scale_out: Vec<(Vec<f64>, Vec<u64>)>,
    memory_per_pod_mib: Option<f64>,
    node_memory_mib: Option<f64>,
    requests_per_sec: Vec<f64>,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
    failed_requests: u64,
}

/// Manifest, config and layers of REGISTRY/NAME:TAG, through the registry API (plain HTTP, as the
/// clusters' registries and the test's speak it). For an index, the index and its first manifest.
fn registry_bytes(reference: &str) -> Result<u64> {
    let (registry, repository) = reference.split_once('/').context("REGISTRY/NAME:TAG")?;
    let (name, tag) = repository.rsplit_once(':').context("REGISTRY/NAME:TAG")?;
    let accept = "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                  application/vnd.docker.distribution.manifest.v2+json";
    let manifest_bytes = |reference: &str| {
        run(
            "curl",
            &[
                "-fsS",
                "-H",
                accept,
                &format!("http://{registry}/v2/{name}/manifests/{reference}"),
            ],
        )
    };
    let mut body = manifest_bytes(tag)?;
    let mut total = body.len() as u64;
    let mut manifest: Value = serde_json::from_slice(&body)?;
    if let Some(first) = manifest["manifests"].get(0) {
        body = manifest_bytes(first["digest"].as_str().context("index entry digest")?)?;
        total += body.len() as u64;
        manifest = serde_json::from_slice(&body)?;
    }
    let size = |descriptor: &Value| descriptor["size"].as_u64().context("descriptor size");
    total += size(&manifest["config"])?;
    for layer in manifest["layers"].as_array().context("manifest layers")? {
        total += size(layer)?;
    }
    Ok(total)
}

/// A Kubernetes quantity of bytes (`3456Ki`, `12Mi`, `1G`, `123456`) in MiB.
fn mebibytes(quantity: &str) -> Result<f64> {
    let split = quantity
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(quantity.len());
    let (number, unit) = quantity.split_at(split);
    let factor = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => bail!("unknown quantity {quantity}"),
    };
    Ok(number.parse::<f64>()? * factor / (1024.0 * 1024.0))
}

fn progress(step: &str) {
    println!("compare: {step}");
}

/// At MEMORY_REPLICAS pods of `app`, after `warm_up`: the mean working set per pod and the nodes' total.
fn memory(app: &App, namespace: &str, warm_up: Duration) -> Result<(f64, f64)> {
    app.scale(MEMORY_REPLICAS)?;
    std::thread::sleep(warm_up);
    let pods = kubectl_json(&[
        "get",
        "--raw",
        &format!(
            "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods?labelSelector={}",
            app.selector().replace('/', "%2F").replace('=', "%3D")
        ),
    ])?;
    let per_pod = pods["items"]
        .as_array()
        .context("pod metrics")?
        .iter()
        .map(|pod| {
            pod["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| mebibytes(c["usage"]["memory"].as_str().unwrap_or("0")))
                .sum::<Result<f64>>()
        })
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        !per_pod.is_empty(),
        "{}: the metrics API has no figures for its pods yet",
        app.deployment
    );
    let nodes = kubectl_json(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])?;
    let node_total = nodes["items"]
        .as_array()
        .context("node metrics")?
        .iter()
        .map(|node| mebibytes(node["usage"]["memory"].as_str().unwrap_or("0")))
        .sum::<Result<f64>>()?;
    Ok((
        per_pod.iter().sum::<f64>() / per_pod.len() as f64,
        node_total,
    ))
}

/// Interleaved oha rounds against each address, after a second's warm-up each.
fn load(addrs: &[SocketAddr], rounds: u32, seconds: u32, figures: &mut [Figures]) -> Result<()> {
    for addr in addrs {
        oha(*addr, "/time", &["-w", "-z", "1s"], CONCURRENCY)?;
    }
    for round in 1..=rounds {
        for (addr, figures) in addrs.iter().zip(figures.iter_mut()) {
            progress(&format!(
                "oha on http://{addr}/time, {seconds} s at c={CONCURRENCY}, round {round}/{rounds}"
            ));
            let duration = format!("{seconds}s");
            // -w: the requests still running at the deadline finish, rather than count as errors.
            let report = oha(*addr, "/time", &["-w", "-z", &duration], CONCURRENCY)?;
            figures.requests_per_sec.push(report.requests_per_sec);
            figures.p50_ms.push(report.p50_ms);
            figures.p99_ms.push(report.p99_ms);
            figures.failed_requests += report.errors + report.non_2xx;
        }
    }
    Ok(())
}

fn cluster_versions(apps: &[App]) -> Result<String> {
    let nodes = kubectl_json(&["get", "nodes", "-o", "json"])?;
    let nodes = nodes["items"].as_array().context("node list")?;
    let info = &nodes.first().context("no nodes")?["status"]["nodeInfo"];
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    Ok(format!(
        "Cluster: {} node{}: Kubernetes {}, {}, {}; containerd-shim-spin {} (the Makefile's SHIM_VERSION); \
         the component pushed as IMAGE_FORM={}: `{}`; the container: `{}`.",
        nodes.len(),
        if nodes.len() == 1 { "" } else { "s" },
        text(&info["kubeletVersion"]),
        text(&info["containerRuntimeVersion"]),
        text(&info["osImage"]),
        std::env::var("SHIM_VERSION").unwrap_or_else(|_| "?".into()),
        std::env::var("IMAGE_FORM").unwrap_or_else(|_| "wasm".into()),
        apps[0].image,
        apps[1].image,
    ))
}

fn list<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn table(figures: &[Figures], rounds: u32, seconds: u32, served: &str) -> String {
    let mut out = String::from("| | WebAssembly | container |\n|---|---:|---:|\n");
    let mut row = |label: String, cell: &dyn Fn(&Figures) -> String| {
        let _ = writeln!(
            out,
            "| {label} | {} | {} |",
            cell(&figures[0]),
            cell(&figures[1])
        );
    };
    row(
        "artifact bytes in the registry (manifest + config + layers)".into(),
        &|f| f.registry_bytes.to_string(),
    );
    for (index, replicas) in SCALE_OUT.iter().enumerate() {
        let cells = |f: &Figures, restarts: bool| {
            f.scale_out
                .get(index)
                .map_or(NOT_MEASURED.into(), |(secs, rs)| {
                    if restarts {
                        list(rs)
                    } else {
                        list(&secs.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>())
                    }
                })
        };
        row(
            format!("scale 1 → {replicas}: seconds until every pod is Ready, per round"),
            &|f| cells(f, false),
        );
        row(
            format!("restarts among the {} new pods, per round", replicas - 1),
            &|f| cells(f, true),
        );
    }
    let mib = |value: Option<f64>| value.map_or(NOT_MEASURED.into(), |v| format!("{v:.1}"));
    row(
        format!("working set per pod at {MEMORY_REPLICAS} pods, MiB (metrics API)"),
        &|f| mib(f.memory_per_pod_mib),
    );
    row(
        format!("the nodes' memory at {MEMORY_REPLICAS} pods, MiB"),
        &|f| mib(f.node_memory_mib),
    );
    row(
        format!("throughput {served}, req/s (median of {rounds} × {seconds} s, c={CONCURRENCY})"),
        &|f| format!("{:.0}", median(&f.requests_per_sec)),
    );
    row("p50 latency, ms".into(), &|f| {
        format!("{:.2}", median(&f.p50_ms))
    });
    row("p99 latency, ms".into(), &|f| {
        format!("{:.2}", median(&f.p99_ms))
    });
    row("failed requests (errors + non-2xx)".into(), &|f| {
        f.failed_requests.to_string()
    });
    out
}

pub fn compare() -> Result<()> {
    let local = std::env::var_os("COMPARE_LOCAL").is_some();
    let rounds: u32 = env_number("COMPARE_ROUNDS", 3)?;
    let seconds: u32 = env_number("COMPARE_SECONDS", 10)?;
    let warm_up = Duration::from_secs(env_number("COMPARE_WARMUP_SECONDS", 60)?);
    let out =
        PathBuf::from(std::env::var("COMPARE_OUT").unwrap_or_else(|_| "target/compare.md".into()));
    let apps = App::both()?;
    let mut figures: Vec<Figures> = apps.iter().map(|_| Figures::default()).collect();

    for (app, figures) in apps.iter().zip(&mut figures) {
        progress(&format!("registry bytes of {} ({})", app.image, app.column));
        figures.registry_bytes = registry_bytes(&app.image)?;
    }

    let (heading, served) = if local {
        // make test: no cluster; the two served on loopback, as the e2e suite serves them.
        let servers = [
            Server::serve_component(&PathBuf::from(env("COMPONENT")?), Stdout::Discard)?,
            Server::serve_program(&PathBuf::from(env("BOOK_SERVICE")?), Stdout::Discard)?,
        ];
        let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
        load(&addrs, rounds, seconds, &mut figures)?;
        (
            "No cluster (COMPARE_LOCAL=1): the rows that need one were not measured; the load ran \
             against the component under `scripts/serve` and the Go binary, on loopback."
                .to_string(),
            "on loopback",
        )
    } else {
        let heading = cluster_versions(&apps)?;
        progress(&heading);
        let namespace = kube::namespace()?;
        let hpas = HpasAway::take(&[&apps[0], &apps[1]])?;
        for (index, replicas) in SCALE_OUT.iter().enumerate() {
            for figures in &mut figures {
                figures.scale_out.push((Vec::new(), Vec::new()));
            }
            for round in 1..=rounds {
                for (app, figures) in apps.iter().zip(&mut figures) {
                    progress(&format!(
                        "scale {} 1 -> {replicas}, round {round}/{rounds}",
                        app.deployment
                    ));
                    let (secs, restarts) = app.scale_out(*replicas)?;
                    let (all_secs, all_restarts) = &mut figures.scale_out[index];
                    all_secs.push(secs);
                    all_restarts.push(restarts);
                }
            }
        }
        for (app, figures) in apps.iter().zip(&mut figures) {
            progress(&format!(
                "memory of {} at {MEMORY_REPLICAS} pods, after {} s of warm-up",
                app.deployment,
                warm_up.as_secs()
            ));
            let (per_pod, nodes) = memory(app, &namespace, warm_up)?;
            figures.memory_per_pod_mib = Some(per_pod);
            figures.node_memory_mib = Some(nodes);
            app.scale(1)?;
        }
        let addrs = apps
            .iter()
            .map(App::node_port_addr)
            .collect::<Result<Vec<_>>>()?;
        load(&addrs, rounds, seconds, &mut figures)?;
        drop(hpas);
        (heading, "through the NodePort, one pod")
    };

    let report = format!(
        "# Container or WebAssembly: `make compare`\n\n{heading} Run on {}.\n\n{}",
        String::from_utf8_lossy(&run("date", &["-u", "+%Y-%m-%d"])?).trim(),
        table(&figures, rounds, seconds, served)
    );
    println!("\n{report}");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &report)?;
    println!("wrote {}", out.display());
    Ok(())
}
