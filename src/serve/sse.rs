//! The library's two event streams (`sse.ts`): `data: <JSON>\n\n` frames with
//! `Content-Type: text/event-stream`, `Cache-Control: no-cache`, `Connection: keep-alive`.
//! Each stream is a task that filters the feed's broadcast into a channel the response body
//! reads; a comment frame (`: keep-alive`) every [`KEEP_ALIVE`] on an idle stream (EventSource
//! ignores it, proxies see traffic). A stream ends when the client goes, when it falls more
//! than the channel's capacity behind (the client reconnects and reads the state again), and
//! when the server stops.

use super::events::Event;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Response};
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// How long a stream stays silent before a comment frame.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What a stream does with one event.
pub enum Decision {
    Skip,
    Send(Value),
    /// Send it, then end the stream.
    Last(Value),
}

/// One `data:` frame.
pub fn frame(value: &Value) -> Bytes {
    let mut text = b"data: ".to_vec();
    text.extend(serde_json::to_vec(value).unwrap_or_default());
    text.extend(b"\n\n");
    Bytes::from(text)
}

/// A streaming response: `first` frames, then, unless `ended`, the feed's events as `decide`
/// says, until it says [`Decision::Last`]. `keep` lives as long as the stream (a watch on the
/// run).
pub fn stream<K: Send + 'static>(
    first: Vec<Value>,
    ended: bool,
    mut events: broadcast::Receiver<Arc<Event>>,
    mut shutdown: watch::Receiver<bool>,
    keep: K,
    mut decide: impl FnMut(&Event) -> Decision + Send + 'static,
) -> Response<Body> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let _keep = keep;
        for v in &first {
            if tx.send(frame(v)).await.is_err() {
                return;
            }
        }
        if ended || *shutdown.borrow() {
            return;
        }
        let mut quiet =
            tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        loop {
            tokio::select! {
                received = events.recv() => {
                    let Ok(event) = received else { break };
                    match decide(&event) {
                        Decision::Skip => {}
                        Decision::Send(v) => {
                            if tx.send(frame(&v)).await.is_err() {
                                break;
                            }
                        }
                        Decision::Last(v) => {
                            let _ = tx.send(frame(&v)).await;
                            break;
                        }
                    }
                }
                _ = quiet.tick() => {
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        break;
                    }
                }
                _ = tx.closed() => break,
                _ = shutdown.changed() => break,
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok::<_, Infallible>))
    });
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    r
}

/// `/runs/subscribe`'s filter: any of the job names (none: every job) and every label.
pub struct RunsFilter {
    pub jobs: Vec<String>,
    pub labels: Vec<(String, String)>,
}

impl RunsFilter {
    pub fn matches(&self, event: &Event) -> bool {
        if !self.jobs.is_empty() && !self.jobs.contains(&event.job_name) {
            return false;
        }
        self.labels
            .iter()
            .all(|(k, v)| label_is(&event.labels, k, v))
    }
}

fn label_is(labels: &Map<String, Value>, key: &str, value: &str) -> bool {
    matches!(labels.get(key), Some(Value::String(s)) if s == value)
}
