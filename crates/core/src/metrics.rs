//! Every metric the proxy exports, in one place (the catalogue is docs/metrics.md).
//!
//! The Prometheus recorder is process-wide: it is installed once, the first time [`init`] runs,
//! and every proxy started in the same process (tests run several) shares it. Hot-path handles
//! are registered once and cached in [`Handles`], because a labelled `counter!` lookup per
//! request costs several times more than incrementing a cached handle.
//!
//! Besides the `sentinel_proxy_*` families, [`render`] adds the standard `process_*` ones
//! (CPU seconds, resident memory, open and max file descriptors, start time), read by the
//! `metrics-process` crate at every scrape.

use std::sync::OnceLock;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const CLIENT_CONNECTIONS: &str = "sentinel_proxy_client_connections";
pub const CONNECTIONS_ACCEPTED: &str = "sentinel_proxy_connections_accepted_total";
pub const CONNECTIONS_REJECTED: &str = "sentinel_proxy_connections_rejected_total";
pub const COMMANDS: &str = "sentinel_proxy_commands_total";
pub const BYTES: &str = "sentinel_proxy_bytes_total";
pub const PROTOCOL_ERRORS: &str = "sentinel_proxy_protocol_errors_total";
pub const SESSIONS_CLOSED: &str = "sentinel_proxy_sessions_closed_total";
pub const UPSTREAM_CONNECT_ERRORS: &str = "sentinel_proxy_upstream_connect_errors_total";
pub const MASTER_CHANGES: &str = "sentinel_proxy_master_changes_total";
pub const MASTER_INFO: &str = "sentinel_proxy_master_info";
pub const ROUTE_GENERATION: &str = "sentinel_proxy_route_generation";
pub const ROUTE_STATE: &str = "sentinel_proxy_route_state";
pub const SENTINEL_LINK_UP: &str = "sentinel_proxy_sentinel_link_up";
pub const SENTINEL_EVENTS: &str = "sentinel_proxy_sentinel_events_total";
pub const SENTINEL_DISAGREEMENTS: &str = "sentinel_proxy_sentinel_disagreements_total";
pub const SENTINEL_LINK_ERRORS: &str = "sentinel_proxy_sentinel_link_errors_total";
pub const SWITCHES_IGNORED: &str = "sentinel_proxy_switch_master_ignored_total";
pub const NODE_HEALTHY: &str = "sentinel_proxy_node_healthy";
pub const BUILD_INFO: &str = "sentinel_proxy_build_info";
pub const FAILOVERS: &str = "sentinel_proxy_failovers_total";
pub const HOLD_SECONDS: &str = "sentinel_proxy_hold_duration_seconds";
pub const COMMANDS_HELD: &str = "sentinel_proxy_commands_held";
pub const SESSIONS_MIGRATED: &str = "sentinel_proxy_sessions_migrated_total";
pub const COMMANDS_RETRIED: &str = "sentinel_proxy_commands_retried_total";
pub const IN_FLIGHT_FAILED: &str = "sentinel_proxy_in_flight_failed_total";
pub const REQUEST_LATENCY: &str = "sentinel_proxy_request_duration_seconds";
pub const UPSTREAM_CONNECT_LATENCY: &str = "sentinel_proxy_upstream_connect_duration_seconds";
pub const ROLE_CHECK_LATENCY: &str = "sentinel_proxy_role_check_duration_seconds";
pub const SENTINEL_LAST_EVENT: &str = "sentinel_proxy_sentinel_last_event_timestamp_seconds";
pub const CLIENT_ERRORS: &str = "sentinel_proxy_client_errors_total";
pub const UPSTREAM_PIPELINES: &str = "sentinel_proxy_upstream_pipelines";
pub const SESSIONS_PINNED: &str = "sentinel_proxy_sessions_pinned_total";
pub const TLS_HANDSHAKES: &str = "sentinel_proxy_tls_handshakes_total";
pub const TLS_HANDSHAKE_FAILURES: &str = "sentinel_proxy_tls_handshake_failures_total";
pub const TLS_CERT_EXPIRY: &str = "sentinel_proxy_tls_cert_expiry_timestamp_seconds";
pub const TLS_RELOAD_OK: &str = "sentinel_proxy_tls_reload_ok";
pub const TLS_RELOAD_FAILURES: &str = "sentinel_proxy_tls_reload_failures_total";
pub const TLS_RELOADS: &str = "sentinel_proxy_tls_reloads_total";

/// An error reply the proxy writes to a client itself (not one relayed from Redis): the label
/// `kind` of [`CLIENT_ERRORS`], counted with [`client_error`] where the reply is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// `-TRYAGAIN sentinel-proxy: no confirmed master … / cannot connect to the master …;
    /// command not sent`: the command waited `hold_timeout` for a master.
    HoldTimeout,
    /// `-ERR sentinel-proxy: the master changed with this command in flight; it may or may not
    /// have run`: its reply was lost with the master (outcome unknown).
    MasterChanged,
    /// `-ERR max number of clients reached`, then closed (`max_clients`).
    MaxClients,
    /// `-ERR sentinel-proxy: client address not allowed`, then closed (`client_allow`).
    NotAllowed,
    /// `-ERR Protocol error: …`, then closed (malformed RESP, a limit exceeded).
    Protocol,
}

impl ClientError {
    pub const ALL: [ClientError; 5] = [
        ClientError::HoldTimeout,
        ClientError::MasterChanged,
        ClientError::MaxClients,
        ClientError::NotAllowed,
        ClientError::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientError::HoldTimeout => "hold_timeout",
            ClientError::MasterChanged => "master_changed",
            ClientError::MaxClients => "max_clients",
            ClientError::NotAllowed => "not_allowed",
            ClientError::Protocol => "protocol",
        }
    }
}

/// Buckets for everything measured in seconds on the data path: 50 µs to 5 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

/// Which listener a client came in through (a bounded label value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Master,
    Replica,
}

impl Listener {
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Master => "master",
            Listener::Replica => "replica",
        }
    }
}

/// Cached handles for everything a session touches per read or per command.
pub struct ListenerHandles {
    pub connections: Gauge,
    pub accepted: Counter,
    pub commands: Counter,
}

pub struct Handles {
    pub master: ListenerHandles,
    pub replica: ListenerHandles,
    pub bytes_from_clients: Counter,
    pub bytes_to_clients: Counter,
    pub rejected_max_clients: Counter,
    pub rejected_not_allowed: Counter,
    pub client_protocol_errors: Counter,
    pub upstream_protocol_errors: Counter,
    pub upstream_connect_errors: Counter,
    pub commands_held: Gauge,
    pub sessions_migrated: Counter,
    pub commands_retried: Counter,
    pub in_flight_failed: Counter,
    pub request_latency_master: Histogram,
    pub request_latency_replica: Histogram,
    pub upstream_connect_latency: Histogram,
    pub upstream_pipelines: Gauge,
    pub sessions_pinned: Counter,
    /// Indexed by `ClientError as usize` (the order of [`ClientError::ALL`]).
    pub client_errors: [Counter; ClientError::ALL.len()],
}

impl Handles {
    pub fn request_latency(&self, l: Listener) -> &Histogram {
        match l {
            Listener::Master => &self.request_latency_master,
            Listener::Replica => &self.request_latency_replica,
        }
    }

    pub fn listener(&self, l: Listener) -> &ListenerHandles {
        match l {
            Listener::Master => &self.master,
            Listener::Replica => &self.replica,
        }
    }
}

struct Installed {
    prometheus: PrometheusHandle,
    handles: Handles,
    process: metrics_process::Collector,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

fn listener_handles(l: Listener) -> ListenerHandles {
    ListenerHandles {
        connections: gauge!(CLIENT_CONNECTIONS, "listener" => l.as_str()),
        accepted: counter!(CONNECTIONS_ACCEPTED, "listener" => l.as_str()),
        commands: counter!(COMMANDS, "listener" => l.as_str()),
    }
}

/// Install the process-wide recorder (once) and return the handle that renders `/metrics`.
pub fn init() -> PrometheusHandle {
    INSTALLED
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(HOLD_SECONDS.to_string()),
                    &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0],
                )
                .expect("bucket list is not empty")
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_duration_seconds".to_string()),
                    &LATENCY_BUCKETS,
                )
                .expect("bucket list is not empty")
                .build_recorder();
            let prometheus = recorder.handle();
            // Another recorder may already be installed by an embedding program; then our
            // handles record into it and /metrics shows only what ours saw.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            let process = metrics_process::Collector::default();
            process.describe();
            process.collect();
            // Families without labels exist from the start, so dashboards and alerts see 0
            // rather than nothing.
            for name in [FAILOVERS, MASTER_CHANGES, SENTINEL_DISAGREEMENTS] {
                counter!(name).absolute(0);
            }
            for why in ["duplicate", "stale"] {
                counter!(SWITCHES_IGNORED, "why" => why).absolute(0);
            }
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let handles = Handles {
                master: listener_handles(Listener::Master),
                replica: listener_handles(Listener::Replica),
                bytes_from_clients: counter!(BYTES, "direction" => "from_clients"),
                bytes_to_clients: counter!(BYTES, "direction" => "to_clients"),
                rejected_max_clients: counter!(CONNECTIONS_REJECTED, "reason" => "max_clients"),
                rejected_not_allowed: counter!(CONNECTIONS_REJECTED, "reason" => "not_allowed"),
                client_protocol_errors: counter!(PROTOCOL_ERRORS, "side" => "client"),
                upstream_protocol_errors: counter!(PROTOCOL_ERRORS, "side" => "upstream"),
                upstream_connect_errors: counter!(UPSTREAM_CONNECT_ERRORS),
                commands_held: gauge!(COMMANDS_HELD),
                sessions_migrated: counter!(SESSIONS_MIGRATED),
                commands_retried: counter!(COMMANDS_RETRIED),
                in_flight_failed: counter!(IN_FLIGHT_FAILED),
                request_latency_master: histogram!(REQUEST_LATENCY, "listener" => "master"),
                request_latency_replica: histogram!(REQUEST_LATENCY, "listener" => "replica"),
                upstream_connect_latency: histogram!(UPSTREAM_CONNECT_LATENCY),
                upstream_pipelines: gauge!(UPSTREAM_PIPELINES),
                sessions_pinned: counter!(SESSIONS_PINNED),
                // Registered now, so every kind shows 0 before its first error.
                client_errors: ClientError::ALL
                    .map(|kind| counter!(CLIENT_ERRORS, "kind" => kind.as_str())),
            };
            Installed {
                prometheus,
                handles,
                process,
            }
        })
        .prometheus
        .clone()
}

/// The `/metrics` text: the process metrics read now, then every family rendered.
pub fn render(prometheus: &PrometheusHandle) -> String {
    if let Some(installed) = INSTALLED.get() {
        installed.process.collect();
    }
    prometheus.render()
}

/// Count `n` error replies of `kind` that the proxy wrote to a client itself.
pub fn client_error(kind: ClientError, n: u64) {
    handles().client_errors[kind as usize].increment(n);
}

/// The cached hot-path handles. Installs the recorder first if nobody did.
pub fn handles() -> &'static Handles {
    if INSTALLED.get().is_none() {
        init();
    }
    &INSTALLED.get().expect("initialised above").handles
}

/// Count a session that ended, by reason (a fixed set of strings).
pub fn session_closed(reason: &'static str) {
    counter!(SESSIONS_CLOSED, "reason" => reason).increment(1);
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        CLIENT_CONNECTIONS,
        "Client connections open now, by listener."
    );
    describe_counter!(
        CONNECTIONS_ACCEPTED,
        "Client connections accepted, by listener."
    );
    describe_counter!(
        CONNECTIONS_REJECTED,
        "Client connections refused, by reason."
    );
    describe_counter!(COMMANDS, "Client commands relayed upstream, by listener.");
    describe_counter!(
        BYTES,
        "Bytes relayed, by direction (from_clients, to_clients)."
    );
    describe_counter!(
        PROTOCOL_ERRORS,
        "Malformed RESP seen, by side (client, upstream)."
    );
    describe_counter!(SESSIONS_CLOSED, "Client sessions ended, by reason.");
    describe_counter!(
        UPSTREAM_CONNECT_ERRORS,
        "Failed connections to a Redis node."
    );
    describe_counter!(MASTER_CHANGES, "Times the routed master changed.");
    describe_gauge!(
        MASTER_INFO,
        "1 for the master routed now (label address), 0 for earlier ones."
    );
    describe_gauge!(
        ROUTE_GENERATION,
        "Route generation; increases with every master change."
    );
    describe_gauge!(
        ROUTE_STATE,
        "1 for the current route state (no_master, serving, holding)."
    );
    describe_gauge!(
        SENTINEL_LINK_UP,
        "1 while the link to a Sentinel is up, by sentinel."
    );
    describe_counter!(
        SENTINEL_EVENTS,
        "Sentinel events received for our master, by event."
    );
    describe_counter!(
        SENTINEL_DISAGREEMENTS,
        "Times a Sentinel reported a master other than the one routed."
    );
    describe_counter!(
        SENTINEL_LINK_ERRORS,
        "Failed connects or lost links to a Sentinel (refused, timeout, AUTH rejected …), by sentinel."
    );
    describe_counter!(
        SWITCHES_IGNORED,
        "+switch-master events not adopted, by why (duplicate: to the routed master; stale: an older epoch)."
    );
    describe_gauge!(
        NODE_HEALTHY,
        "1 while a node answers ROLE as expected, by node and role."
    );
    describe_counter!(FAILOVERS, "+switch-master events adopted for our master.");
    describe_histogram!(
        HOLD_SECONDS,
        "How long the route held (no serving master) each time."
    );
    describe_gauge!(
        COMMANDS_HELD,
        "Client commands waiting for a serving master now."
    );
    describe_counter!(
        SESSIONS_MIGRATED,
        "Sessions moved to a new master with their state replayed."
    );
    describe_gauge!(
        UPSTREAM_PIPELINES,
        "Shared upstream connections open (multiplexed mode): one per node and route generation."
    );
    describe_counter!(
        SESSIONS_PINNED,
        "Sessions that left the shared pipeline for a connection of their own (a stateful, blocking or unknown command)."
    );
    describe_counter!(
        COMMANDS_RETRIED,
        "Commands resent after a not-executed error (READONLY …)."
    );
    describe_counter!(
        IN_FLIGHT_FAILED,
        "Commands answered with an outcome-unknown error because their master went away."
    );
    describe_histogram!(
        REQUEST_LATENCY,
        "Round trip through the proxy: first byte of a request batch sent upstream to its last reply."
    );
    describe_histogram!(
        UPSTREAM_CONNECT_LATENCY,
        "TCP connect to a Redis node for a session."
    );
    describe_histogram!(ROLE_CHECK_LATENCY, "ROLE check round trip, by node.");
    describe_gauge!(
        SENTINEL_LAST_EVENT,
        "Unix time of the last event about our master, by sentinel."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the label version carries the build.");
    describe_counter!(
        TLS_HANDSHAKES,
        "TLS handshakes completed, by side (client, upstream, sentinel)."
    );
    describe_counter!(
        TLS_HANDSHAKE_FAILURES,
        "TLS handshakes that failed, by side and reason (no_client_cert, unknown_ca, bad_certificate, expired, name_mismatch, protocol, timeout, closed, other)."
    );
    describe_gauge!(
        TLS_CERT_EXPIRY,
        "notAfter (Unix seconds) of the certificate in use, by cert (server, client_ca, upstream_client, upstream_ca; a CA file: its earliest)."
    );
    describe_gauge!(
        TLS_RELOAD_OK,
        "1 when the last read of the certificate files loaded, 0 when it failed and the previous certificate stays in use, by cert (server, upstream)."
    );
    describe_counter!(
        TLS_RELOAD_FAILURES,
        "Certificate reloads that failed (the previous certificate stays in use), by cert."
    );
    describe_counter!(
        TLS_RELOADS,
        "Changed certificate files loaded for new handshakes, by cert."
    );
    describe_counter!(
        CLIENT_ERRORS,
        "Error replies the proxy wrote to clients itself, by kind (hold_timeout, master_changed, max_clients, not_allowed, protocol)."
    );
}
