//! Admin HTTP listener: `/metrics` (Prometheus text), `/healthz` (alive), `/readyz` (200 only
//! while a confirmed master is routed). The same server answers HAProxy's `monitor-uri` on the
//! optional health listener of compatibility mode.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::lifecycle::Lifecycle;
use crate::route::RouteReader;

pub struct AdminState {
    pub route: RouteReader,
    pub prometheus: PrometheusHandle,
    /// Extra path answered like /healthz (HAProxy `monitor-uri`).
    pub monitor_uri: Option<String>,
    /// Extra path answered like /metrics (HAProxy prometheus-exporter `path`).
    pub metrics_uri: Option<String>,
    /// Cancelled when a graceful shutdown begins: not ready any more.
    pub unready: tokio_util::sync::CancellationToken,
    /// Unreachable Sentinels and why, shown in /readyz's body.
    pub link_problems: crate::control::controller::LinkProblems,
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

fn respond(state: &AdminState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    let path = req.uri().path();
    let metrics = path == "/metrics" || state.metrics_uri.as_deref() == Some(path);
    match path {
        _ if metrics => {
            let mut r = text(StatusCode::OK, crate::metrics::render(&state.prometheus));
            r.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if state.unready.is_cancelled() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down\n",
        ),
        "/readyz" => {
            let route = state.route.load();
            let mut body = match route.serving_master() {
                Some(m) => format!("ready: master {}\n", m.name),
                None => format!("not ready: no confirmed master ({:?})\n", route.state),
            };
            // A first deploy with a wrong Sentinel address or password says so here.
            for line in state.link_problems.lines() {
                body.push_str(&line);
                body.push('\n');
            }
            let status = match route.serving_master() {
                Some(_) => StatusCode::OK,
                None => StatusCode::SERVICE_UNAVAILABLE,
            };
            text(status, body)
        }
        p if state.monitor_uri.as_deref() == Some(p) => text(StatusCode::OK, "ok\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /healthz or /readyz\n",
        ),
    }
}

/// Serve (until the stop drops this future; each connection ends at stop too, since a
/// scraper keeps its connection open).
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, lifecycle: Lifecycle) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        lifecycle.spawn_until_stop(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let resp = respond(&state, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
