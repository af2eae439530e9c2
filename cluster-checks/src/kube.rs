//! What every subcommand shares: kubectl, the two deployments as the Makefile and k8s/ name them,
//! and the HPAs taken away (and a drained node cordoned) while they run.

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: run this through make"))
}

pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .ok()
            .with_context(|| format!("{name}={value} is not a number")),
        Err(_) => Ok(default),
    }
}

pub fn run(program: &str, args: &[&str]) -> Result<Vec<u8>> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    ensure!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(output.stdout)
}

pub fn kubectl(args: &[&str]) -> Result<String> {
    Ok(String::from_utf8(run("kubectl", args)?)?)
}

pub fn kubectl_json(args: &[&str]) -> Result<Value> {
    Ok(serde_json::from_str(&kubectl(args)?)?)
}

/// The objects in kubectl's JSON output: one object, a List, or (as `kubectl create -o json` prints
/// several) one JSON document after another.
pub fn objects(json: &str) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for value in serde_json::Deserializer::from_str(json).into_iter::<Value>() {
        match value? {
            Value::Object(list) if list.get("kind").is_some_and(|kind| kind == "List") => {
                objects.extend(list["items"].as_array().cloned().unwrap_or_default())
            }
            object => objects.push(object),
        }
    }
    Ok(objects)
}

/// Whether `crds` (`kubectl get crd -o json`) has the CRD called `name`: the API its tools need.
pub fn has_crd(crds: &Value, name: &str) -> bool {
    crds["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|crd| crd["metadata"]["name"] == name)
}

/// `kubectl get KIND NAME -o json`, or None when there is none.
pub fn get_optional(kind: &str, name: &str) -> Result<Option<Value>> {
    let found = kubectl(&["get", kind, name, "--ignore-not-found", "-o", "json"])?;
    Ok(match found.trim() {
        "" => None,
        json => Some(serde_json::from_str(json)?),
    })
}

/// `kubectl apply` of an object built here (through a file: kubectl reads stdin only with -f -).
pub fn apply_json(object: &Value) -> Result<String> {
    let file = std::env::temp_dir().join(format!(
        "time-service-{}-{}.json",
        object["kind"].as_str().unwrap_or("object").to_lowercase(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    ));
    std::fs::write(&file, object.to_string())?;
    kubectl(&["apply", "-f", &file.to_string_lossy()])
}

/// `kubectl get ... -o json` as the unit tests have it, canned in testdata/kubectl/.
#[cfg(test)]
pub fn canned(name: &str) -> Value {
    let path = format!("{}/testdata/kubectl/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The namespace kubectl's context works in.
pub fn namespace() -> Result<String> {
    let namespace = kubectl(&["config", "view", "--minify", "-o", "jsonpath={..namespace}"])?;
    Ok(match namespace.trim() {
        "" => "default".to_string(),
        namespace => namespace.to_string(),
    })
}

/// One of the two deployments: what the Makefile and k8s/ name it.
pub struct App {
    pub column: &'static str,
    pub deployment: &'static str,
    pub image: String,
    pub node_port_variable: &'static str,
}

/// One pod of an app, as `kubectl get pods` shows it.
pub struct Pod {
    pub name: String,
    /// Deleted and still stopping (kubectl's Terminating).
    pub leaving: bool,
    pub restarts: u64,
    /// The node it was scheduled on; empty while Pending.
    pub node: String,
    /// Its Ready condition is True.
    pub ready: bool,
    /// Why a container of it waits, as the kubelet puts it (ErrImagePull, ImagePullBackOff, ...).
    pub waiting: Option<String>,
}

/// Whether a pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The pods of `kubectl get pods -o json`.
pub fn pods_of(list: &Value) -> Result<Vec<Pod>> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    Ok(list["items"]
        .as_array()
        .context("pod list")?
        .iter()
        .map(|pod| {
            let statuses = pod["status"]["containerStatuses"].as_array();
            Pod {
                name: text(&pod["metadata"]["name"]),
                leaving: !pod["metadata"]["deletionTimestamp"].is_null(),
                node: text(&pod["spec"]["nodeName"]),
                restarts: statuses.map_or(0, |statuses| {
                    statuses
                        .iter()
                        .filter_map(|s| s["restartCount"].as_u64())
                        .sum()
                }),
                ready: is_ready(pod),
                waiting: statuses
                    .into_iter()
                    .flatten()
                    .find_map(|s| s["state"]["waiting"]["reason"].as_str())
                    .map(str::to_string),
            }
        })
        .collect())
}

impl App {
    /// The component (make deploy) and the container (make deploy-container), named from the
    /// environment make exports.
    pub fn both() -> Result<[App; 2]> {
        Ok([
            App {
                column: "WebAssembly",
                deployment: "time-service",
                image: env("REF")?,
                node_port_variable: "NODE_PORT",
            },
            App {
                column: "container",
                deployment: "time-service-container",
                image: env("CONTAINER_REF")?,
                node_port_variable: "CONTAINER_NODE_PORT",
            },
        ])
    }

    pub fn selector(&self) -> String {
        format!("app.kubernetes.io/name={}", self.deployment)
    }

    pub fn is_deployed(&self) -> Result<bool> {
        let name = kubectl(&[
            "get",
            "deployment",
            self.deployment,
            "--ignore-not-found",
            "-o",
            "name",
        ])?;
        Ok(!name.trim().is_empty())
    }

    pub fn node_port_addr(&self) -> Result<SocketAddr> {
        Ok(format!("127.0.0.1:{}", env(self.node_port_variable)?).parse()?)
    }

    pub fn pods(&self) -> Result<Vec<Pod>> {
        pods_of(&kubectl_json(&[
            "get",
            "pods",
            "-l",
            &self.selector(),
            "-o",
            "json",
        ])?)
    }

    /// The pods that are not stopping.
    pub fn running_pods(&self) -> Result<Vec<Pod>> {
        Ok(self
            .pods()?
            .into_iter()
            .filter(|pod| !pod.leaving)
            .collect())
    }

    /// The RuntimeClass its pods name, if any.
    pub fn runtime_class(&self) -> Result<Option<String>> {
        let name = kubectl(&[
            "get",
            "deployment",
            self.deployment,
            "-o",
            "jsonpath={.spec.template.spec.runtimeClassName}",
        ])?;
        Ok(Some(name.trim().to_string()).filter(|name| !name.is_empty()))
    }

    /// `kubectl rollout status`: returns when every replica is Ready.
    pub fn wait_ready(&self) -> Result<()> {
        let deployment = format!("deployment/{}", self.deployment);
        kubectl(&["rollout", "status", &deployment, "--timeout=300s"])?;
        Ok(())
    }

    /// Until the app has exactly `replicas` pods, none of them stopping.
    pub fn wait_settled(&self, replicas: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.pods()?.len() != replicas {
            ensure!(
                Instant::now() < deadline,
                "{}: old pods still terminating",
                self.deployment
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    }

    /// `kubectl scale`, then every replica Ready.
    pub fn scale(&self, replicas: u32) -> Result<()> {
        let deployment = format!("deployment/{}", self.deployment);
        kubectl(&["scale", &deployment, &format!("--replicas={replicas}")])?;
        self.wait_ready()
    }

    /// From one Ready pod, and no other left, to `replicas` Ready: the seconds and the new pods' restarts.
    pub fn scale_out(&self, replicas: u32) -> Result<(f64, u64)> {
        self.scale(1)?;
        self.wait_settled(1)?;
        let before: HashSet<String> = self.pods()?.into_iter().map(|pod| pod.name).collect();
        let started = Instant::now();
        self.scale(replicas)?;
        let seconds = started.elapsed().as_secs_f64();
        let restarts = self
            .running_pods()?
            .into_iter()
            .filter(|pod| !before.contains(&pod.name))
            .map(|pod| pod.restarts)
            .sum();
        Ok((seconds, restarts))
    }
}

/// The HPAs, as the cluster has them, put back when dropped: the scaling is by hand meanwhile.
pub struct HpasAway(Vec<Value>);

impl HpasAway {
    /// The apps' HPAs, where they have one (a user may have deleted it to scale by hand).
    pub fn take(apps: &[&App]) -> Result<HpasAway> {
        let mut saved = Vec::new();
        for app in apps {
            let Some(hpa) = get_optional("hpa", app.deployment)? else {
                continue;
            };
            saved.push(serde_json::json!({
                "apiVersion": hpa["apiVersion"],
                "kind": hpa["kind"],
                "metadata": {"name": hpa["metadata"]["name"], "labels": hpa["metadata"]["labels"]},
                "spec": hpa["spec"],
            }));
            kubectl(&["delete", "hpa", app.deployment])?;
        }
        Ok(HpasAway(saved))
    }
}

impl Drop for HpasAway {
    fn drop(&mut self) {
        for hpa in &self.0 {
            match apply_json(hpa) {
                Ok(out) => print!("put back {out}"),
                Err(error) => eprintln!("could not put the HPA back: {error:#}"),
            }
        }
    }
}

/// A node cordoned (by `kubectl drain`), made schedulable again when dropped.
pub struct Cordoned(pub String);

impl Drop for Cordoned {
    fn drop(&mut self) {
        match kubectl(&["uncordon", &self.0]) {
            Ok(out) => print!("{out}"),
            Err(error) => eprintln!("could not uncordon {}: {error:#}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::objects;

    #[test]
    fn kubectl_json_output_in_each_of_its_shapes() {
        let one = r#"{"kind": "Deployment", "metadata": {"name": "a"}}"#;
        let list = r#"{"kind": "List", "items": [{"kind": "Service"}, {"kind": "Deployment"}]}"#;
        let kinds = |text: &str| -> Vec<String> {
            objects(text)
                .unwrap()
                .iter()
                .map(|o| o["kind"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(kinds(one), ["Deployment"]);
        assert_eq!(kinds(list), ["Service", "Deployment"]);
        // kubectl create -o json: each object printed after the other.
        assert_eq!(
            kinds(&format!("{one}\n{list}\n")),
            ["Deployment", "Service", "Deployment"]
        );
        assert!(objects("{\"kind\": ").is_err());
    }
}
