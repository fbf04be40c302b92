//! `GET /metrics`: this node's figures in Prometheus' text format, for the operator's
//! monitoring (scrape every node; the figures are per node). Nothing secret and nothing
//! about a person: counts and times only.
//!
//! - `eid_http_requests_total{class="2xx"|…}`: responses by status class;
//! - `eid_http_request_duration_seconds_sum` / `_count`: time spent answering;
//! - `eid_store_up`: 1 when the store answered this scrape, else 0;
//! - `eid_audit_chains`: the audit log's chains (all nodes');
//! - `eid_uptime_seconds`, `eid_build_info{version}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::{AppState, ServerStore};

/// The counters of one node.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// Responses by status class: 1xx … 5xx.
    by_class: [AtomicU64; 5],
    /// Microseconds spent answering, all requests.
    busy_micros: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            by_class: Default::default(),
            busy_micros: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, status: StatusCode, took: Duration) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.busy_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, store_up: bool, chains: Option<usize>) -> String {
        let mut out = String::new();
        out.push_str("# HELP eid_http_requests_total Responses by status class.\n");
        out.push_str("# TYPE eid_http_requests_total counter\n");
        let mut count = 0;
        for (i, n) in self.by_class.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            count += n;
            out.push_str(&format!(
                "eid_http_requests_total{{class=\"{}xx\"}} {n}\n",
                i + 1
            ));
        }
        out.push_str("# HELP eid_http_request_duration_seconds Time spent answering.\n");
        out.push_str("# TYPE eid_http_request_duration_seconds summary\n");
        let seconds = self.busy_micros.load(Ordering::Relaxed) as f64 / 1e6;
        out.push_str(&format!(
            "eid_http_request_duration_seconds_sum {seconds}\n"
        ));
        out.push_str(&format!(
            "eid_http_request_duration_seconds_count {count}\n"
        ));
        out.push_str("# HELP eid_store_up Whether the store answered this scrape.\n");
        out.push_str("# TYPE eid_store_up gauge\n");
        out.push_str(&format!("eid_store_up {}\n", u8::from(store_up)));
        if let Some(chains) = chains {
            out.push_str("# HELP eid_audit_chains Hash chains of the audit log.\n");
            out.push_str("# TYPE eid_audit_chains gauge\n");
            out.push_str(&format!("eid_audit_chains {chains}\n"));
        }
        out.push_str("# HELP eid_uptime_seconds Seconds since this node started.\n");
        out.push_str("# TYPE eid_uptime_seconds gauge\n");
        out.push_str(&format!(
            "eid_uptime_seconds {}\n",
            self.started.elapsed().as_secs()
        ));
        out.push_str("# HELP eid_build_info The running version.\n");
        out.push_str("# TYPE eid_build_info gauge\n");
        out.push_str(&format!(
            "eid_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        ));
        out
    }
}

pub(crate) fn routes<S: ServerStore>() -> Router<AppState<S>> {
    Router::new().route("/metrics", get(metrics::<S>))
}

async fn metrics<S: ServerStore>(State(state): State<AppState<S>>) -> Response {
    let heads = state.store.audit_heads().await;
    let body = state
        .metrics
        .render(heads.is_ok(), heads.ok().map(|h| h.len()));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Counts every request the router answers.
pub(crate) async fn count<S: ServerStore>(
    State(state): State<AppState<S>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record(response.status(), started.elapsed());
    response
}
