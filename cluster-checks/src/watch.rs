//! `kubectl get --watch` in the background, each event stamped with the local time it arrived: what
//! make cold-start reads a cold request's steps from. The objects' own times will not do: a
//! condition's lastTransitionTime and a creationTimestamp are whole seconds.

use anyhow::{Context, Result};
use serde_json::Value;
use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// One watch event as `kubectl get --watch --output-watch-events -o json` prints it (a
/// metav1.WatchEvent: `type` and `object`; the objects listed first come as ADDED, kubectl's
/// get.go), and when it came, in seconds on the caller's clock.
#[derive(Debug, Clone)]
pub struct Event {
    pub seconds: f64,
    pub kind: String,
    pub object: Value,
}

impl Event {
    pub fn of(seconds: f64, event: Value) -> Event {
        Event {
            seconds,
            kind: event["type"].as_str().unwrap_or_default().to_string(),
            object: event["object"].clone(),
        }
    }

    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// A running `kubectl get ARGS --watch`; it is stopped when dropped.
pub struct Watch {
    kubectl: Child,
    reader: Option<JoinHandle<()>>,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Watch {
    /// Watches `kubectl get WHAT`, stamping events with `clock.elapsed()`; kubectl's own errors (a
    /// watch refused, say) go to stderr as they come.
    pub fn start(clock: Instant, what: &[&str]) -> Result<Watch> {
        let mut kubectl = Command::new("kubectl")
            .arg("get")
            .args(what)
            .args(["--watch", "--output-watch-events", "-o", "json"])
            .stdout(Stdio::piped())
            .spawn()
            .context("running kubectl get --watch")?;
        let stdout = kubectl.stdout.take().context("kubectl's stdout")?;
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        // kubectl prints each event whole; the stream parser yields it at its last byte.
        let reader = thread::spawn(move || {
            let stream =
                serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>();
            for event in stream.map_while(Result::ok) {
                let event = Event::of(clock.elapsed().as_secs_f64(), event);
                sink.lock().unwrap().push(event);
            }
        });
        Ok(Watch {
            kubectl,
            reader: Some(reader),
            events,
        })
    }

    /// Whether kubectl has printed anything yet.
    pub fn printed(&self) -> bool {
        !self.events.lock().unwrap().is_empty()
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.kubectl.kill();
        let _ = self.kubectl.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// kubectl's watch output as the unit tests have it, canned in testdata/kubectl/, with the times
/// the test gives its events.
#[cfg(test)]
pub fn canned(name: &str, seconds: &[f64]) -> Vec<Event> {
    let path = format!("{}/testdata/kubectl/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let events: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events.len(), seconds.len(), "{name}: one time per event");
    events
        .into_iter()
        .zip(seconds)
        .map(|(event, &at)| Event::of(at, event))
        .collect()
}
