//! HAProxy as the redis-ha Helm chart configures it, in front of a [`Lab`], to measure side by
//! side with the proxy. The configuration follows the chart's `config-haproxy.cfg` template
//! (charts/redis-ha/templates/_configs.tpl) with its default values (checkInterval 1s,
//! checkFall 1, timeouts connect 4s / client 330s / server 330s / check 2s), rendered for the
//! lab's addresses. One deliberate difference is commented in the output: the lab's nodes share
//! 127.0.0.1 and differ by port, so the Sentinel check expects address *and* port.
//!
//! The Sentinel checks end with `QUIT` and no `expect`, as in the chart since its fix for
//! Sentinels that reject QUIT (DandyDeveloper/charts#217): Redis 7.0's Sentinel answers
//! `-ERR unknown command 'QUIT'`, so the older `expect string +OK` after it failed every check
//! and the `use-server … nbsrv(check_if_redis_is_master_<N>) ge 2` rules never applied.
//!
//! [`Haproxy::start`] runs `haproxy -f <cfg> -db` (Debian package `haproxy`); the process is
//! killed when the value is dropped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::lab::{self, Lab};

#[derive(Debug, thiserror::Error)]
pub enum HaproxyError {
    #[error("haproxy is not on PATH: install it (Debian/Ubuntu: apt-get install haproxy) to measure it side by side")]
    Missing,
    #[error("haproxy: {0}")]
    Io(#[from] std::io::Error),
    #[error("haproxy did not route to a master within {after:?} (log: {log})")]
    NotReady { after: Duration, log: String },
}

/// What to render.
#[derive(Debug, Clone)]
pub struct HaproxyConfig {
    pub master_name: String,
    /// Redis nodes, in the chart's announce order (R0, R1, …).
    pub nodes: Vec<SocketAddr>,
    pub sentinels: Vec<SocketAddr>,
    /// `frontend ft_redis_master` (the chart: `*:6379`).
    pub listen: SocketAddr,
    /// `listen health_check_http_url` (the chart: `:8888`).
    pub health_listen: SocketAddr,
    /// Render the AUTH checks (`${AUTH}` / `${SENTINELAUTH}` come from the environment).
    pub redis_auth: bool,
    pub sentinel_auth: bool,
}

impl HaproxyConfig {
    pub fn for_lab(lab: &Lab, listen: SocketAddr, health_listen: SocketAddr) -> Self {
        HaproxyConfig {
            master_name: lab.opts.master_name.clone(),
            nodes: lab.redis.iter().map(|p| p.addr).collect(),
            sentinels: lab.sentinel_addrs(),
            listen,
            health_listen,
            redis_auth: lab.opts.redis_password.is_some(),
            sentinel_auth: lab.opts.sentinel_password.is_some(),
        }
    }

    /// The expect string for "Sentinels name node `addr` as master": the chart expects only the
    /// node's IP (`REPLACE_ANNOUNCE<N>`); here the reply's IP, the port's bulk header and the
    /// port, as they appear in `*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n` (`\x24` is `$`, which
    /// HAProxy would otherwise read as the start of an environment variable).
    pub fn master_expect(addr: SocketAddr) -> String {
        let port = addr.port().to_string();
        format!("{}\\r\\n\\x24{}\\r\\n{port}\\r\\n", addr.ip(), port.len())
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Rendered by sentinel-bench from the redis-ha chart's haproxy.cfg template\n\
             # (charts/redis-ha/templates/_configs.tpl, default values). Differences: bind addresses\n\
             # are loopback test ports; the Sentinel checks expect ip AND port (see below).\n\
             defaults REDIS\n  mode tcp\n  timeout connect 4s\n  timeout server 330s\n  timeout client 330s\n  timeout check 2s\n\n\
             listen health_check_http_url\n  bind {}\n  mode http\n  monitor-uri /healthz\n  option      dontlognull",
            self.health_listen
        );
        for (i, node) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                s,
                "# Check Sentinel and whether they are nominated master\n\
                 # The chart expects only the node's IP (REPLACE_ANNOUNCE{i}); the lab's nodes all use\n\
                 # {ip} with different ports, so that would match every node: expect ip and port.\n\
                 backend check_if_redis_is_master_{i}\n  mode tcp\n  option tcp-check\n  tcp-check connect",
                ip = node.ip()
            );
            if self.sentinel_auth {
                s.push_str("  tcp-check send \"AUTH ${SENTINELAUTH}\"\\r\\n\n  tcp-check expect string +OK\n");
            }
            let _ = writeln!(
                s,
                "  tcp-check send PING\\r\\n\n  tcp-check expect string +PONG\n  \
                 tcp-check send SENTINEL\\ get-master-addr-by-name\\ {}\\r\\n\n  \
                 tcp-check expect string {}\n  tcp-check send QUIT\\r\\n",
                self.master_name,
                Self::master_expect(*node)
            );
            for (j, sentinel) in self.sentinels.iter().enumerate() {
                let _ = writeln!(s, "  server R{j} {sentinel} check inter 1s");
            }
        }
        let _ = writeln!(
            s,
            "\n# decide redis backend to use\n#master\nfrontend ft_redis_master\n  bind {}\n  use_backend bk_redis_master\n\
             # Check all redis servers to see if they think they are master\n\
             backend bk_redis_master\n  mode tcp\n  option tcp-check\n  tcp-check connect",
            self.listen
        );
        if self.redis_auth {
            s.push_str("  tcp-check send \"AUTH ${AUTH}\"\\r\\n\n  tcp-check expect string +OK\n");
        }
        s.push_str(
            "  tcp-check send PING\\r\\n\n  tcp-check expect string +PONG\n  \
             tcp-check send info\\ replication\\r\\n\n  tcp-check expect string role:master\n  \
             tcp-check send QUIT\\r\\n\n  tcp-check expect string +OK\n",
        );
        for (i, node) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                s,
                "  use-server R{i} if {{ srv_is_up(R{i}) }} {{ nbsrv(check_if_redis_is_master_{i}) ge 2 }}\n  \
                 server R{i} {node} check inter 1s fall 1 rise 1"
            );
        }
        s
    }
}

/// A running `haproxy -db` in front of a lab.
pub struct Haproxy {
    child: Option<Child>,
    pub listen: SocketAddr,
    pub config: PathBuf,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Haproxy {
    /// Render the chart's configuration for `lab` on free loopback ports, start HAProxy and wait
    /// (blocking, up to 20 s) until a client connection through it reaches a node answering
    /// `ROLE` with master.
    pub fn start(lab: &Lab) -> Result<Haproxy, HaproxyError> {
        Self::start_with(lab, |cfg| cfg)
    }

    /// [`Haproxy::start`] with the rendered configuration changed by `edit` first (tests that
    /// compare a setting's behaviour with the proxy's, e.g. short timeouts).
    pub fn start_with(
        lab: &Lab,
        edit: impl FnOnce(String) -> String,
    ) -> Result<Haproxy, HaproxyError> {
        let password = lab.opts.redis_password.clone();
        Haproxy::start_until(lab, edit, "haproxy to route to the master", |listen| {
            let role = lab::call(listen, password.as_deref(), &["ROLE"]).ok()?;
            match role {
                redis_protocol::resp2::types::BytesFrame::Array(items)
                    if items.first().and_then(lab::text).as_deref() == Some("master") =>
                {
                    Some(())
                }
                _ => None,
            }
        })
    }

    /// Start HAProxy on the edited file and return once its client port accepts connections,
    /// without asking it anything (a TLS bind does not answer plain RESP).
    pub fn start_listening(
        lab: &Lab,
        edit: impl FnOnce(String) -> String,
    ) -> Result<Haproxy, HaproxyError> {
        Haproxy::start_until(lab, edit, "haproxy to listen", |listen| {
            std::net::TcpStream::connect_timeout(&listen, Duration::from_secs(1))
                .ok()
                .map(drop)
        })
    }

    /// Start it and wait until `ready(listen)`, for up to 20 s.
    fn start_until(
        lab: &Lab,
        edit: impl FnOnce(String) -> String,
        what: &str,
        mut ready: impl FnMut(SocketAddr) -> Option<()>,
    ) -> Result<Haproxy, HaproxyError> {
        let h = Haproxy::spawn(lab, edit)?;
        let patience = Duration::from_secs(20);
        lab::eventually(what, patience, || ready(h.listen)).map_err(|_| {
            HaproxyError::NotReady {
                after: patience,
                log: std::fs::read_to_string(&h.log).unwrap_or_default(),
            }
        })?;
        Ok(h)
    }

    fn spawn(lab: &Lab, edit: impl FnOnce(String) -> String) -> Result<Haproxy, HaproxyError> {
        if !lab::have("haproxy") {
            return Err(HaproxyError::Missing);
        }
        let listen = SocketAddr::from(([127, 0, 0, 1], lab::free_port()));
        let health = SocketAddr::from(([127, 0, 0, 1], lab::free_port()));
        let cfg = HaproxyConfig::for_lab(lab, listen, health);
        let dir = tempfile::Builder::new().prefix("sp-haproxy-").tempdir()?;
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, edit(cfg.render()))?;
        let log = dir.path().join("haproxy.log");
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new("haproxy");
        cmd.arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        if let Some(p) = &lab.opts.redis_password {
            cmd.env("AUTH", p);
        }
        if let Some(p) = &lab.opts.sentinel_password {
            cmd.env("SENTINELAUTH", p);
        }
        let child = cmd.spawn()?;
        Ok(Haproxy {
            child: Some(child),
            listen,
            config,
            log,
            _dir: dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_chart_shape_with_port_aware_checks() {
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let cfg = HaproxyConfig {
            master_name: "mymaster".into(),
            nodes: vec![a(6379), a(16379), a(26380)],
            sentinels: vec![a(26379), a(26381), a(26382)],
            listen: a(7000),
            health_listen: a(7001),
            redis_auth: true,
            sentinel_auth: false,
        }
        .render();
        for want in [
            "backend check_if_redis_is_master_0",
            "backend check_if_redis_is_master_2",
            "tcp-check send SENTINEL\\ get-master-addr-by-name\\ mymaster\\r\\n",
            "tcp-check expect string 127.0.0.1\\r\\n\\x245\\r\\n16379\\r\\n",
            "tcp-check expect string 127.0.0.1\\r\\n\\x244\\r\\n6379\\r\\n",
            "server R2 127.0.0.1:26382 check inter 1s\n",
            "tcp-check send QUIT\\r\\n\n  server R0 127.0.0.1:26379",
            "backend bk_redis_master",
            "tcp-check send \"AUTH ${AUTH}\"\\r\\n",
            "tcp-check send info\\ replication\\r\\n",
            "tcp-check expect string role:master",
            "use-server R1 if { srv_is_up(R1) } { nbsrv(check_if_redis_is_master_1) ge 2 }",
            "server R1 127.0.0.1:16379 check inter 1s fall 1 rise 1",
            "bind 127.0.0.1:7000",
        ] {
            assert!(cfg.contains(want), "missing {want:?} in\n{cfg}");
        }
        assert!(!cfg.contains("SENTINELAUTH"));
    }
}
