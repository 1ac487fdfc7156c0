//! Local topologies of real `redis-server` and `redis-sentinel` processes on loopback, for the
//! tests, `make demo` and the benchmarks. Every process is killed and its directory removed when
//! the [`Lab`] is dropped.
//!
//! The calls here block (they start processes and poll them); async callers wrap them in
//! `spawn_blocking` or accept a short block on a multi-threaded runtime.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::BytesFrame;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A redis binary cannot be run; the message says which, where it was looked for and how
    /// to get it.
    #[error("{0}")]
    Missing(String),
    #[error("starting {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} at {addr}: {message}")]
    Call {
        what: String,
        addr: SocketAddr,
        message: String,
    },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("lab directory: {0}")]
    Dir(#[from] std::io::Error),
}

/// How the topology is built.
#[derive(Debug, Clone)]
pub struct LabOptions {
    pub replicas: usize,
    pub sentinels: usize,
    pub quorum: usize,
    pub master_name: String,
    pub redis_password: Option<String>,
    pub sentinel_password: Option<String>,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
    pub min_replicas_to_write: u32,
    /// `replica-priority` of the replicas; 0 means Sentinel never promotes them (a failover
    /// then aborts with -failover-abort-no-good-slave).
    pub replica_priority: u32,
    /// One loopback address per node index (redis i and sentinel i share it) with the standard
    /// ports 6379/26379, the shape of the redis-ha chart. None: 127.0.0.1 with free ports.
    pub node_ips: Option<Vec<IpAddr>>,
    /// TLS on every node and Sentinel, replication and Sentinel links included. Their plain
    /// ports stay open for the lab's own calls only: addresses everywhere else (what Sentinel
    /// announces, `Proc::addr`, [`Lab::sentinel_list`]) are the TLS ones.
    pub tls: Option<LabTls>,
}

/// The PEM files of a TLS lab: one certificate (for 127.0.0.1, server and client use) and
/// key for every process, and the CA that signed it (which they also require of clients).
#[derive(Debug, Clone)]
pub struct LabTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            replicas: 2,
            sentinels: 3,
            quorum: 2,
            master_name: "mymaster".into(),
            redis_password: None,
            sentinel_password: None,
            down_after_ms: 1000,
            failover_timeout_ms: 5000,
            min_replicas_to_write: 0,
            replica_priority: 100,
            node_ips: None,
            tls: None,
        }
    }
}

/// One child process and how to start it again.
pub struct Proc {
    pub addr: SocketAddr,
    child: Option<Child>,
    program: PathBuf,
    args: Vec<String>,
    pub log: PathBuf,
}

impl Proc {
    fn spawn(&mut self) -> Result<(), LabError> {
        let args = self.args.clone();
        self.spawn_with(&args)
    }

    /// Start the program with `args` instead of the ones it was first started with.
    fn spawn_with(&mut self, args: &[String]) -> Result<(), LabError> {
        let child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| LabError::Spawn {
                what: format!("{} on {}", self.program.display(), self.addr),
                source,
            })?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGSTOP (`pause = true`) or SIGCONT: a node that hangs without closing its sockets.
    pub fn signal_pause(&self, pause: bool) -> Result<(), LabError> {
        let Some(c) = &self.child else {
            return Ok(());
        };
        let sig = if pause { "-STOP" } else { "-CONT" };
        Command::new("kill")
            .arg(sig)
            .arg(c.id().to_string())
            .status()
            .map_err(|source| LabError::Spawn {
                what: format!("kill {sig}"),
                source,
            })?;
        Ok(())
    }
}

pub struct Lab {
    pub opts: LabOptions,
    pub redis: Vec<Proc>,
    pub sentinels: Vec<Proc>,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in self.sentinels.iter_mut().chain(self.redis.iter_mut()) {
            // A stopped process ignores nothing but SIGKILL; resume it anyway so it exits cleanly.
            let _ = p.signal_pause(false);
            p.kill();
            if let Some(m) = plain_ports().as_mut() {
                m.remove(&p.addr);
            }
        }
    }
}

/// TLS address → the plain port of the same process (TLS labs): the lab's own calls use it.
static PLAIN_PORTS: Mutex<Option<std::collections::HashMap<SocketAddr, SocketAddr>>> =
    Mutex::new(None);

fn plain_ports(
) -> std::sync::MutexGuard<'static, Option<std::collections::HashMap<SocketAddr, SocketAddr>>> {
    PLAIN_PORTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the lab itself reaches `addr`: its plain port when `addr` is a TLS lab's.
fn control_addr(addr: SocketAddr) -> SocketAddr {
    plain_ports()
        .as_ref()
        .and_then(|m| m.get(&addr).copied())
        .unwrap_or(addr)
}

static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nobody in this process was handed before and the OS says is free now.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding 127.0.0.1:0 works");
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        if taken.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// Is the binary on PATH?
pub fn have(binary: &str) -> bool {
    find_on_path(binary).is_some()
}

/// Where on PATH the binary is.
pub fn find_on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|f| f.is_file())
}

/// The two redis programs a lab starts. Which binary runs is decided here, for every lab
/// (tests, `make demo`, the benchmarks, the namespace lab): the path in the binary's
/// environment variable when it is set ([`REDIS_SERVER_ENV`], [`REDIS_SENTINEL_ENV`]), else
/// Debian's `redis-server` / `redis-sentinel` on PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisBinary {
    Server,
    Sentinel,
}

/// Names the `redis-server` binary the labs run instead of the one on PATH (e.g. a Redis 8
/// build from `scripts/install-redis8.sh`).
pub const REDIS_SERVER_ENV: &str = "SENTINEL_BENCH_REDIS_SERVER";
/// Names the `redis-sentinel` binary the labs run. Unset while [`REDIS_SERVER_ENV`] is set: the
/// `redis-sentinel` beside that server (a symlink to `redis-server` works: the server runs as
/// Sentinel when started under that name), so one variable switches both.
pub const REDIS_SENTINEL_ENV: &str = "SENTINEL_BENCH_REDIS_SENTINEL";

impl RedisBinary {
    /// The Debian program name.
    pub fn name(self) -> &'static str {
        match self {
            RedisBinary::Server => "redis-server",
            RedisBinary::Sentinel => "redis-sentinel",
        }
    }

    fn env(self) -> &'static str {
        match self {
            RedisBinary::Server => REDIS_SERVER_ENV,
            RedisBinary::Sentinel => REDIS_SENTINEL_ENV,
        }
    }

    /// The program to run: a path from the environment, or the bare name (found on PATH).
    pub fn program(self) -> PathBuf {
        let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(p) = from_env(self.env()) {
            return PathBuf::from(p);
        }
        if self == RedisBinary::Sentinel {
            if let Some(server) = from_env(REDIS_SERVER_ENV) {
                let server = PathBuf::from(server);
                let server = match server.components().count() {
                    1 => find_on_path(&server.to_string_lossy()).unwrap_or(server),
                    _ => server,
                };
                return server.with_file_name(self.name());
            }
        }
        PathBuf::from(self.name())
    }

    /// [`RedisBinary::program`], checked to exist (a path, or a bare name on PATH); the error
    /// says which variable or package to fix.
    pub fn resolve(self) -> Result<PathBuf, LabError> {
        let program = self.program();
        let from_env = std::env::var_os(self.env()).is_some_and(|v| !v.is_empty());
        let on_path = program.components().count() == 1;
        if (on_path && have(&program.to_string_lossy())) || (!on_path && program.is_file()) {
            return Ok(program);
        }
        Err(LabError::Missing(if from_env {
            format!(
                "{} names {}, which is not a file (nor a program on PATH): fix the variable \
                 (scripts/install-redis8.sh prints it for its Redis 8 build)",
                self.env(),
                program.display()
            )
        } else if !on_path {
            format!(
                "{REDIS_SERVER_ENV} is set and {REDIS_SENTINEL_ENV} is not, so the lab looks for \
                 {} beside that server and finds none: set {REDIS_SENTINEL_ENV}, or make that a \
                 symlink to redis-server (scripts/install-redis8.sh does)",
                program.display()
            )
        } else {
            format!(
                "{} not found on PATH: install it (Debian: apt-get install redis-server \
                 redis-sentinel), run `make deps`, or name a binary in {}",
                self.name(),
                self.env()
            )
        }))
    }
}

/// The version the lab's `redis-server --version` reports (`v=8.2.3` → `(8, 2, 3)`), asked
/// once per process.
pub fn redis_version() -> Result<(u32, u32, u32), LabError> {
    static VERSION: std::sync::OnceLock<Result<(u32, u32, u32), String>> =
        std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            let program = RedisBinary::Server.resolve().map_err(|e| e.to_string())?;
            let out = Command::new(&program)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("{} --version: {e}", program.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            parse_version(&text).ok_or_else(|| {
                format!(
                    "{} --version printed no version (v=X.Y.Z): {text:?}",
                    program.display()
                )
            })
        })
        .clone()
        .map_err(LabError::Missing)
}

/// `Redis server v=8.2.3 sha=…` → `(8, 2, 3)`.
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Send one command on a fresh connection and return the reply (errors as `Err`).
pub fn call(
    addr: SocketAddr,
    password: Option<&str>,
    args: &[&str],
) -> Result<BytesFrame, LabError> {
    let fail = |m: String| LabError::Call {
        what: args.first().copied().unwrap_or("").to_string(),
        addr,
        message: m,
    };
    let mut s = TcpStream::connect_timeout(&control_addr(addr), Duration::from_secs(2))
        .map_err(|e| fail(e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    if let Some(p) = password {
        out.extend(sentinel_proxy_core::resp::args::encode_command(&[
            b"AUTH",
            p.as_bytes(),
        ]));
    }
    let byte_args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    out.extend(sentinel_proxy_core::resp::args::encode_command(&byte_args));
    s.write_all(&out).map_err(|e| fail(e.to_string()))?;
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    let want = if password.is_some() { 2 } else { 1 };
    while replies.len() < want {
        match decode_bytes_mut(&mut buf) {
            Ok(Some((f, _, _))) => {
                replies.push(f);
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            return Err(fail("connection closed".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    for r in replies.iter() {
        if let BytesFrame::Error(e) = r {
            return Err(fail(e.to_string()));
        }
    }
    Ok(replies.pop().expect("want >= 1"))
}

/// Text of a bulk or simple string reply.
pub fn text(f: &BytesFrame) -> Option<String> {
    match f {
        BytesFrame::BulkString(b) | BytesFrame::SimpleString(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        BytesFrame::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Field of a flat key/value array reply (SENTINEL MASTER).
pub fn kv(f: &BytesFrame, key: &str) -> Option<String> {
    let BytesFrame::Array(items) = f else {
        return None;
    };
    items
        .chunks_exact(2)
        .find(|c| text(&c[0]).as_deref() == Some(key))
        .and_then(|c| text(&c[1]))
}

/// The master as the Sentinel at `sentinel` reports it.
pub(crate) fn master_reported_by(
    sentinel: SocketAddr,
    password: Option<&str>,
    master_name: &str,
) -> Option<SocketAddr> {
    let f = call(
        sentinel,
        password,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name],
    )
    .ok()?;
    let BytesFrame::Array(items) = f else {
        return None;
    };
    let ip: IpAddr = text(items.first()?)?.parse().ok()?;
    let port: u16 = text(items.get(1)?)?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// Wait until every one of `sentinels` sees the same master with all the other Sentinels and
/// every other node as its replicas, and every replica reports its link to the master up.
pub(crate) fn wait_settled_on(
    what: &str,
    patience: Duration,
    sentinels: &[SocketAddr],
    sentinel_password: Option<&str>,
    redis: &[SocketAddr],
    redis_password: Option<&str>,
    master_name: &str,
) -> Result<SocketAddr, LabError> {
    eventually(what, patience, || {
        let mut master = None;
        for &s in sentinels {
            let f = call(s, sentinel_password, &["SENTINEL", "MASTER", master_name]).ok()?;
            if kv(&f, "flags")? != "master" {
                return None;
            }
            let others: usize = kv(&f, "num-other-sentinels")?.parse().ok()?;
            let replicas: usize = kv(&f, "num-slaves")?.parse().ok()?;
            if others + 1 < sentinels.len() || replicas + 1 < redis.len() {
                return None;
            }
            let m = master_reported_by(s, sentinel_password, master_name)?;
            if master.is_some_and(|x| x != m) {
                return None;
            }
            master = Some(m);
        }
        let m = master?;
        for &node in redis.iter().filter(|&&a| a != m) {
            let BytesFrame::Array(items) = call(node, redis_password, &["ROLE"]).ok()? else {
                return None;
            };
            if items.get(3).and_then(text).as_deref() != Some("connected") {
                return None;
            }
        }
        Some(m)
    })
}

/// Poll `f` until it returns Some, or fail after `patience`.
pub fn eventually<T>(
    what: &str,
    patience: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T, LabError> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > patience {
            return Err(LabError::Timeout {
                what: what.to_string(),
                after: patience,
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text)?;
    Ok(())
}

impl Lab {
    /// Start 1 master + `replicas` replicas + `sentinels` Sentinels and wait until the
    /// Sentinels know every replica and each other (a failover can only work after that).
    pub fn start(opts: LabOptions) -> Result<Lab, LabError> {
        let server = RedisBinary::Server.resolve()?;
        let sentinel = RedisBinary::Sentinel.resolve()?;
        let dir = tempfile::Builder::new().prefix("sp-lab-").tempdir()?;
        let nodes = 1 + opts.replicas;
        let addr_of = |i: usize, std_port: u16| match &opts.node_ips {
            Some(ips) => SocketAddr::new(ips[i % ips.len()], std_port),
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port()),
        };
        let mut redis = Vec::new();
        let tls_addr = |plain: SocketAddr, std_port: u16| match &opts.node_ips {
            Some(_) => SocketAddr::new(plain.ip(), std_port),
            None => SocketAddr::new(plain.ip(), free_port()),
        };
        let register = |tls: SocketAddr, plain: SocketAddr| {
            plain_ports()
                .get_or_insert_with(Default::default)
                .insert(tls, plain);
        };
        for i in 0..nodes {
            let plain = addr_of(i, 6379);
            let addr = match &opts.tls {
                Some(_) => tls_addr(plain, 6380),
                None => plain,
            };
            let ndir = dir.path().join(format!("redis-{i}"));
            std::fs::create_dir_all(&ndir)?;
            let log = ndir.join("redis.log");
            let mut args: Vec<String> = vec![
                "--port".into(),
                plain.port().to_string(),
                "--bind".into(),
                addr.ip().to_string(),
                "--dir".into(),
                ndir.display().to_string(),
                "--logfile".into(),
                log.display().to_string(),
                "--save".into(),
                "".into(),
                "--appendonly".into(),
                "no".into(),
                "--protected-mode".into(),
                "no".into(),
                "--repl-diskless-sync".into(),
                "yes".into(),
                "--repl-diskless-sync-delay".into(),
                "0".into(),
                "--min-replicas-to-write".into(),
                opts.min_replicas_to_write.to_string(),
                "--min-replicas-max-lag".into(),
                "10".into(),
            ];
            if let Some(t) = &opts.tls {
                register(addr, plain);
                let path = |p: &PathBuf| p.display().to_string();
                args.extend([
                    "--tls-port".into(),
                    addr.port().to_string(),
                    "--tls-cert-file".into(),
                    path(&t.cert),
                    "--tls-key-file".into(),
                    path(&t.key),
                    "--tls-ca-cert-file".into(),
                    path(&t.ca),
                    // Replicas reach the master over TLS and announce their TLS port.
                    "--tls-replication".into(),
                    "yes".into(),
                ]);
            }
            if let Some(p) = &opts.redis_password {
                args.extend([
                    "--requirepass".into(),
                    p.clone(),
                    "--masterauth".into(),
                    p.clone(),
                ]);
            }
            if opts.node_ips.is_some() {
                // Connections leave from 127.0.0.1 whatever the bind; announce the node's own
                // address so the master and the Sentinels tell the replicas apart.
                args.extend(["--replica-announce-ip".into(), addr.ip().to_string()]);
            }
            if i > 0 {
                let m: &Proc = &redis[0];
                args.extend([
                    "--replica-priority".into(),
                    opts.replica_priority.to_string(),
                ]);
                args.extend([
                    "--replicaof".into(),
                    m.addr.ip().to_string(),
                    m.addr.port().to_string(),
                ]);
            }
            let mut p = Proc {
                addr,
                child: None,
                program: server.clone(),
                args,
                log,
            };
            p.spawn()?;
            redis.push(p);
        }
        let master = redis[0].addr;
        let mut sentinels = Vec::new();
        for i in 0..opts.sentinels {
            let plain = addr_of(i, 26379);
            let addr = match &opts.tls {
                Some(_) => tls_addr(plain, 26380),
                None => plain,
            };
            let sdir = dir.path().join(format!("sentinel-{i}"));
            std::fs::create_dir_all(&sdir)?;
            let conf = sdir.join("sentinel.conf");
            let log = sdir.join("sentinel.log");
            let name = &opts.master_name;
            let mut text = format!(
                "port {port}\nbind {ip}\ndir {dir}\nlogfile {log}\nprotected-mode no\n\
                 sentinel monitor {name} {mip} {mport} {quorum}\n\
                 sentinel down-after-milliseconds {name} {down}\n\
                 sentinel failover-timeout {name} {fo}\n\
                 sentinel parallel-syncs {name} 1\n",
                port = plain.port(),
                ip = addr.ip(),
                dir = sdir.display(),
                log = log.display(),
                mip = master.ip(),
                mport = master.port(),
                quorum = opts.quorum,
                down = opts.down_after_ms,
                fo = opts.failover_timeout_ms,
            );
            if let Some(t) = &opts.tls {
                register(addr, plain);
                // Sentinel then talks TLS to the nodes and the other Sentinels, and announces
                // its TLS port.
                text.push_str(&format!(
                    "tls-port {}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                     tls-replication yes\n",
                    addr.port(),
                    t.cert.display(),
                    t.key.display(),
                    t.ca.display(),
                ));
            }
            if let Some(p) = &opts.redis_password {
                text.push_str(&format!("sentinel auth-pass {name} {p}\n"));
            }
            if opts.node_ips.is_some() {
                text.push_str(&format!("sentinel announce-ip {}\n", addr.ip()));
            }
            if let Some(p) = &opts.sentinel_password {
                text.push_str(&format!("requirepass {p}\nsentinel sentinel-pass {p}\n"));
            }
            write(&conf, &text)?;
            let mut p = Proc {
                addr,
                child: None,
                program: sentinel.clone(),
                args: vec![conf.display().to_string()],
                log,
            };
            p.spawn()?;
            sentinels.push(p);
        }
        let lab = Lab {
            opts,
            redis,
            sentinels,
            dir,
        };
        lab.wait_settled(Duration::from_secs(30))?;
        Ok(lab)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Copy every node's log and configuration (`redis-<i>/redis.log`,
    /// `sentinel-<i>/sentinel.log`, `sentinel.conf`) to a new directory that outlives the lab,
    /// for a failure report; returns it.
    pub fn keep_logs(&self) -> Result<PathBuf, LabError> {
        let out = tempfile::Builder::new()
            .prefix("sp-lab-logs-")
            .tempdir()?
            .keep();
        for node in std::fs::read_dir(self.dir())? {
            let node = node?;
            if !node.file_type()?.is_dir() {
                continue;
            }
            let to = out.join(node.file_name());
            std::fs::create_dir_all(&to)?;
            for f in std::fs::read_dir(node.path())? {
                let name = f?.file_name();
                let text = name.to_string_lossy();
                if text.ends_with(".log") || text.ends_with(".conf") {
                    std::fs::copy(node.path().join(&name), to.join(&name))?;
                }
            }
        }
        Ok(out)
    }

    pub fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(|p| p.addr).collect()
    }

    /// `host:port,host:port…` as SENTINEL_PROXY_SENTINELS wants it.
    pub fn sentinel_list(&self) -> String {
        crate::lab::join_addrs(&self.sentinel_addrs())
    }

    pub fn redis_password(&self) -> Option<&str> {
        self.opts.redis_password.as_deref()
    }

    /// Call a Redis node (authenticating with the lab's password).
    pub fn redis_call(&self, addr: SocketAddr, args: &[&str]) -> Result<BytesFrame, LabError> {
        call(addr, self.redis_password(), args)
    }

    /// Call Sentinel `i`.
    pub fn sentinel_call(&self, i: usize, args: &[&str]) -> Result<BytesFrame, LabError> {
        call(
            self.sentinels[i].addr,
            self.opts.sentinel_password.as_deref(),
            args,
        )
    }

    /// The master as Sentinel `i` reports it.
    pub fn master_by(&self, i: usize) -> Option<SocketAddr> {
        master_reported_by(
            self.sentinels[i].addr,
            self.opts.sentinel_password.as_deref(),
            &self.opts.master_name,
        )
    }

    /// The master the first reachable Sentinel reports.
    pub fn master(&self) -> Option<SocketAddr> {
        (0..self.sentinels.len())
            .filter(|i| self.sentinels[*i].is_running())
            .find_map(|i| self.master_by(i))
    }

    /// Index of the redis process at `addr`.
    pub fn redis_index(&self, addr: SocketAddr) -> Option<usize> {
        self.redis.iter().position(|p| p.addr == addr)
    }

    /// Wait until every running Sentinel sees the same master, all its replicas and the other
    /// Sentinels, and every replica's link is up.
    pub fn wait_settled(&self, patience: Duration) -> Result<SocketAddr, LabError> {
        let running = |p: &&Proc| p.is_running();
        let sentinels: Vec<SocketAddr> = self
            .sentinels
            .iter()
            .filter(running)
            .map(|p| p.addr)
            .collect();
        let redis: Vec<SocketAddr> = self.redis.iter().filter(running).map(|p| p.addr).collect();
        wait_settled_on(
            "the topology to settle",
            patience,
            &sentinels,
            self.opts.sentinel_password.as_deref(),
            &redis,
            self.redis_password(),
            &self.opts.master_name,
        )
    }

    /// `SENTINEL FAILOVER` on the first running Sentinel (a planned failover). Sentinel answers
    /// NOGOODSLAVE for a few seconds after start while its view of the replicas is still being
    /// refreshed; that answer is retried for up to 15 s.
    pub fn failover(&self) -> Result<(), LabError> {
        let i = self
            .sentinels
            .iter()
            .position(|p| p.is_running())
            .expect("a Sentinel is running");
        let start = Instant::now();
        loop {
            match self.sentinel_call(i, &["SENTINEL", "FAILOVER", &self.opts.master_name]) {
                Err(LabError::Call { message, .. })
                    if message.starts_with("NOGOODSLAVE")
                        && start.elapsed() < Duration::from_secs(15) =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other.map(|_| ()),
            }
        }
    }

    /// Wait until a Sentinel reports a master other than `old`; returns it.
    pub fn wait_new_master(
        &self,
        old: SocketAddr,
        patience: Duration,
    ) -> Result<SocketAddr, LabError> {
        eventually("a new master", patience, || {
            self.master().filter(|m| *m != old)
        })
    }

    pub fn kill_redis(&mut self, i: usize) {
        self.redis[i].kill();
    }

    pub fn restart_redis(&mut self, i: usize) -> Result<(), LabError> {
        self.redis[i].spawn()?;
        self.wait_redis_up(i)
    }

    /// Start redis `i` again as a replica of `master`, whatever it was started as before — as
    /// the redis-ha chart's init script does for a restarted pod (it asks Sentinel for the
    /// master). [`Lab::restart_redis`] starts it with its first arguments instead (redis 0
    /// then comes back as an empty master until Sentinel converts it).
    pub fn restart_redis_as_replica(
        &mut self,
        i: usize,
        master: SocketAddr,
    ) -> Result<(), LabError> {
        let p = &mut self.redis[i];
        let mut args = Vec::with_capacity(p.args.len() + 3);
        let mut it = p.args.iter();
        while let Some(a) = it.next() {
            if a == "--replicaof" {
                it.nth(1);
            } else {
                args.push(a.clone());
            }
        }
        args.extend([
            "--replicaof".into(),
            master.ip().to_string(),
            master.port().to_string(),
        ]);
        p.spawn_with(&args)?;
        self.wait_redis_up(i)
    }

    /// Wait until every running redis other than `master` answers `ROLE` as a replica of
    /// `master` (address and port) with its link `connected`.
    pub fn wait_replicas_of(&self, master: SocketAddr, patience: Duration) -> Result<(), LabError> {
        let nodes: Vec<SocketAddr> = self
            .redis
            .iter()
            .filter(|p| p.is_running() && p.addr != master)
            .map(|p| p.addr)
            .collect();
        eventually(
            &format!("every other node to replicate from {master}"),
            patience,
            || {
                nodes
                    .iter()
                    .all(|&node| {
                        let Ok(BytesFrame::Array(items)) = self.redis_call(node, &["ROLE"]) else {
                            return false;
                        };
                        let field = |i: usize| items.get(i).and_then(text);
                        field(0).as_deref() == Some("slave")
                            && field(1).as_deref() == Some(master.ip().to_string().as_str())
                            && field(2) == Some(master.port().to_string())
                            && field(3).as_deref() == Some("connected")
                    })
                    .then_some(())
            },
        )
    }

    fn wait_redis_up(&self, i: usize) -> Result<(), LabError> {
        let addr = self.redis[i].addr;
        let pw = self.opts.redis_password.clone();
        eventually("redis to restart", Duration::from_secs(10), || {
            call(addr, pw.as_deref(), &["PING"]).ok()
        })?;
        Ok(())
    }

    pub fn kill_sentinel(&mut self, i: usize) {
        self.sentinels[i].kill();
    }

    pub fn restart_sentinel(&mut self, i: usize) -> Result<(), LabError> {
        self.sentinels[i].spawn()?;
        let addr = self.sentinels[i].addr;
        let pw = self.opts.sentinel_password.clone();
        eventually("sentinel to restart", Duration::from_secs(10), || {
            call(addr, pw.as_deref(), &["PING"]).ok()
        })?;
        Ok(())
    }
}

/// `host:port,host:port…`, as SENTINEL_PROXY_SENTINELS wants it.
pub fn join_addrs(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_redis_server_version() {
        let v = "Redis server v=8.2.3 sha=b5d43ceb:0 malloc=jemalloc-5.3.0 bits=64 build=a4a16";
        assert_eq!(parse_version(v), Some((8, 2, 3)));
        assert_eq!(
            parse_version("Redis server v=7.0.15 sha=0"),
            Some((7, 0, 15))
        );
        assert_eq!(parse_version("Redis server v=8.0 sha=0"), Some((8, 0, 0)));
        assert_eq!(parse_version("redis-server: command not found"), None);
        assert_eq!(parse_version("Redis server v=x.y sha=0"), None);
    }
}
