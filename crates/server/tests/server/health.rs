//! What a load balancer and a monitoring system ask a node: `/healthz` (the process
//! answers), `/readyz` (the store answers too) and `/metrics` (Prometheus' text format).

use crate::world::start;

#[tokio::test]
async fn a_node_answers_health_readiness_and_metrics() {
    let w = start().await;
    let get = |path: &str| {
        let url = format!("{}{path}", w.server.base);
        async move { reqwest::get(url).await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    let ready = get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
    assert_eq!(get("/no-such-page").await.status(), 404);

    let metrics = get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert!(
        value("eid_http_requests_total{class=\"2xx\"}") >= 2.0,
        "{text}"
    );
    assert!(
        value("eid_http_requests_total{class=\"4xx\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value("eid_http_request_duration_seconds_count") >= 3.0,
        "{text}"
    );
    assert_eq!(value("eid_store_up"), 1.0);
    assert_eq!(value("eid_audit_chains"), 1.0);
    assert!(text.contains("eid_build_info{version=\""), "{text}");
}
