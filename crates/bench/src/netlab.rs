//! Partition topologies: like [`crate::lab`], but every process is placed in a Linux network
//! namespace so that links can be cut with iptables.
//!
//! ```text
//!             root namespace (the proxy, in-process; the tests)
//!            10.77.A.1  ── IP forwarding ──  10.77.B.1
//!               │ veth                           │ veth
//!   ns_m: 10.77.A.2                      ns_s: 10.77.B.2
//!   master redis :6379                   replicas :6380, :6381 …
//!                                        Sentinels :26379, :26380, :26381
//! ```
//! The proxy (root namespace) reaches both namespaces directly; traffic between ns_m and ns_s
//! is forwarded by the root namespace, so a FORWARD rule cuts the master off from its replicas
//! and the Sentinels while the proxy still reaches it, and INPUT/OUTPUT rules cut the proxy off
//! from the Sentinels alone. Packets are dropped, never refused: connections hang, as they do
//! behind a real partition.
//!
//! Needs root, `ip` (iproute2), `iptables`, `redis-cli` and the redis binaries (chosen as in
//! [`crate::lab::RedisBinary`]). [`NetLab::start`] returns
//! [`NetLabError::Unavailable`] when the host cannot run it, so tests can skip with a message.
//!
//! Every name carries the process id (`spn-<pid>-<n>-m`, chains `SPN-<pid>-<n>-F`, rules
//! commented `spn-<pid>-<n>`), so parallel runs never collide; leftovers of dead processes
//! (a test run that was killed) are removed at the first start. Dropping a [`NetLab`] (also
//! while a test panics) kills its processes and deletes its namespaces, veths and rules.
//!
//! The calls here block; async callers wrap them in `spawn_blocking` or `block_in_place`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use redis_protocol::resp2::types::BytesFrame;

use crate::lab::{
    call, eventually, have, master_reported_by, text, wait_settled_on, LabError, RedisBinary,
};

/// The /16 every namespace address comes from; each lab takes two /24s of it.
const NET_PREFIX: [u8; 2] = [10, 77];

#[derive(Debug, thiserror::Error)]
pub enum NetLabError {
    /// The host cannot build the topology (not root, no `ip netns`, no iptables…): skip.
    #[error("network-namespace lab unavailable: {0}")]
    Unavailable(String),
    #[error("`{cmd}` failed: {message}")]
    Command { cmd: String, message: String },
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("lab directory: {0}")]
    Dir(#[from] std::io::Error),
}

/// How the topology is built. Always one master (in ns_m), `replicas` replicas and
/// `sentinels` Sentinels (in ns_s).
#[derive(Debug, Clone)]
pub struct NetLabOptions {
    pub replicas: usize,
    pub sentinels: usize,
    pub quorum: usize,
    pub master_name: String,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
}

impl Default for NetLabOptions {
    fn default() -> Self {
        NetLabOptions {
            replicas: 2,
            sentinels: 3,
            quorum: 2,
            master_name: "mymaster".into(),
            down_after_ms: 1000,
            failover_timeout_ms: 5000,
        }
    }
}

/// One process started inside a namespace (`ip netns exec` execs it, so the child is the
/// process itself). Killed on drop.
pub struct NetProc {
    pub addr: SocketAddr,
    pub netns: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl NetProc {
    fn spawn(
        netns: &str,
        addr: SocketAddr,
        program: &std::path::Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<NetProc, NetLabError> {
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| NetLabError::Command {
                cmd: format!("ip netns exec {netns} {}", program.display()),
                message: e.to_string(),
            })?;
        Ok(NetProc {
            addr,
            netns: netns.to_string(),
            log,
            child: Some(child),
        })
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NetProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run a command; Err carries its stderr.
fn run(program: &str, args: &[&str]) -> Result<String, NetLabError> {
    let cmd = || format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetLabError::Command {
            cmd: cmd(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(NetLabError::Command {
            cmd: cmd(),
            message: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// iptables calls are serialised within the process (the nf_tables backend may refuse
/// concurrent updates) and wait for the xtables lock across processes.
static IPTABLES: Mutex<()> = Mutex::new(());

fn iptables(args: &[&str]) -> Result<String, NetLabError> {
    let _one = IPTABLES.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["-w", "5"];
    all.extend_from_slice(args);
    run("iptables", &all)
}

fn ip(args: &[&str]) -> Result<String, NetLabError> {
    run("ip", args)
}

/// Effective uid, from /proc (no libc call needed).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Can this host build a [`NetLab`]? `Err` says why not (for a skip message).
pub fn available() -> Result<(), String> {
    if euid() != Some(0) {
        return Err("not running as root (ip netns and iptables need it)".into());
    }
    for redis in [RedisBinary::Server, RedisBinary::Sentinel] {
        redis.resolve().map_err(|e| e.to_string())?;
    }
    for binary in ["ip", "iptables", "redis-cli", "timeout"] {
        if !have(binary) {
            return Err(format!(
                "{binary} not found on PATH (Debian: apt-get install iproute2 iptables redis-server redis-sentinel redis-tools; or scripts/install-deps.sh)"
            ));
        }
    }
    ip(&["netns", "list"]).map_err(|e| format!("`ip netns` does not work here: {e}"))?;
    iptables(&["-S", "FORWARD"]).map_err(|e| format!("iptables does not work here: {e}"))?;
    Ok(())
}

/// Process-wide state: ip_forward is switched on while any lab lives and restored after.
struct Forwarding {
    users: usize,
    original: Option<String>,
}

static FORWARDING: Mutex<Forwarding> = Mutex::new(Forwarding {
    users: 0,
    original: None,
});
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn forwarding_acquire() -> Result<(), NetLabError> {
    let mut f = FORWARDING.lock().unwrap_or_else(|e| e.into_inner());
    if f.users == 0 {
        let was = std::fs::read_to_string(IP_FORWARD)?.trim().to_string();
        if was != "1" {
            std::fs::write(IP_FORWARD, "1")?;
            f.original = Some(was);
        }
    }
    f.users += 1;
    Ok(())
}

fn forwarding_release() {
    let mut f = FORWARDING.lock().unwrap_or_else(|e| e.into_inner());
    f.users = f.users.saturating_sub(1);
    if f.users == 0 {
        if let Some(was) = f.original.take() {
            let _ = std::fs::write(IP_FORWARD, was);
        }
    }
}

/// Subnets and names are handed out under this lock.
static ALLOCATE: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// Parse `spn-<pid>-…`, `SPN-<pid>-…` or `sp<pid>x…` into the pid.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("spn-")
        .or_else(|| name.strip_prefix("SPN-"))
        .map(|r| r.split('-').next().unwrap_or(""))
        .or_else(|| name.strip_prefix("sp").and_then(|r| r.split('x').next()))?;
    rest.parse().ok()
}

fn is_leftover(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| pid != std::process::id() && !pid_alive(pid))
}

/// Remove what dead runs left behind: their processes, namespaces, veths and iptables rules.
fn sweep_leftovers() {
    if let Ok(list) = ip(&["netns", "list"]) {
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if !ns.starts_with("spn-") || !is_leftover(ns) {
                continue;
            }
            if let Ok(pids) = ip(&["netns", "pids", ns]) {
                for pid in pids.split_whitespace() {
                    let _ = run("kill", &["-KILL", pid]);
                }
            }
            let _ = ip(&["netns", "delete", ns]);
            tracing::info!(netns = ns, "removed a leftover namespace");
        }
    }
    if let Ok(links) = ip(&["-o", "link", "show"]) {
        for l in links.lines() {
            // "7: sp123x0m@if2: <…"
            let Some(name) = l
                .split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap_or(n))
            else {
                continue;
            };
            let ours = name
                .strip_prefix("sp")
                .and_then(|r| r.split_once('x'))
                .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
            if ours && is_leftover(name) {
                let _ = ip(&["link", "delete", name]);
            }
        }
    }
    if let Ok(rules) = iptables(&["-S"]) {
        for rule in rules.lines() {
            let words: Vec<&str> = rule.split_whitespace().collect();
            let tagged = words
                .windows(2)
                .find(|w| w[0] == "--comment")
                .map(|w| w[1].trim_matches('"'));
            if words.first() == Some(&"-A")
                && tagged.is_some_and(|t| t.starts_with("spn-") && is_leftover(t))
            {
                let mut del = words.clone();
                del[0] = "-D";
                let del: Vec<String> = del
                    .iter()
                    .map(|w| w.trim_matches('"').to_string())
                    .collect();
                let del: Vec<&str> = del.iter().map(String::as_str).collect();
                let _ = iptables(&del);
            }
        }
        for rule in rules.lines() {
            if let Some(chain) = rule.strip_prefix("-N ") {
                let chain = chain.trim();
                if chain.starts_with("SPN-") && is_leftover(chain) {
                    let _ = iptables(&["-F", chain]);
                    let _ = iptables(&["-X", chain]);
                }
            }
        }
    }
}

/// The network half of a lab: namespaces, veths, iptables chains. Deleted on drop (after the
/// processes, which [`NetLab`] drops first).
struct Net {
    tag: String,
    ns_m: String,
    ns_s: String,
    veth_m: String,
    veth_s: String,
    chain_fwd: String,
    chain_proxy: String,
    /// Rules added to the built-in chains, to delete by spec.
    hooks: Vec<Vec<String>>,
    chains_made: Vec<String>,
    forwarding: bool,
}

impl Net {
    fn hook(&mut self, spec: &[&str]) -> Result<(), NetLabError> {
        // spec = [chain, position, rule…]; inserted with a comment, deleted without a position.
        let mut insert: Vec<&str> = vec!["-I"];
        insert.extend_from_slice(spec);
        insert.extend(["-m", "comment", "--comment", &self.tag]);
        let tag = self.tag.clone();
        iptables(&insert)?;
        let mut delete: Vec<String> = vec!["-D".into(), spec[0].into()];
        delete.extend(spec[2..].iter().map(|s| s.to_string()));
        delete.extend(["-m".into(), "comment".into(), "--comment".into(), tag]);
        self.hooks.push(delete);
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for spec in self.hooks.drain(..).rev() {
            let spec: Vec<&str> = spec.iter().map(String::as_str).collect();
            if let Err(e) = iptables(&spec) {
                tracing::warn!(error = %e, "netlab cleanup");
            }
        }
        for chain in self.chains_made.drain(..) {
            let _ = iptables(&["-F", &chain]);
            let _ = iptables(&["-X", &chain]);
        }
        // Deleting one end of a veth deletes the pair; the namespaces go once their processes
        // are gone (the processes were killed before this runs).
        for link in [&self.veth_m, &self.veth_s] {
            let _ = ip(&["link", "delete", link]);
        }
        for ns in [&self.ns_m, &self.ns_s] {
            if let Ok(pids) = ip(&["netns", "pids", ns]) {
                for pid in pids.split_whitespace() {
                    let _ = run("kill", &["-KILL", pid]);
                }
            }
            let _ = ip(&["netns", "delete", ns]);
        }
        if self.forwarding {
            forwarding_release();
        }
    }
}

/// A failure while building the network is the host's limitation (a container without
/// CAP_NET_ADMIN, a read-only /proc/sys…), not the proxy's: report it as unavailable.
fn environment(e: NetLabError) -> NetLabError {
    match e {
        NetLabError::Unavailable(_) => e,
        other => NetLabError::Unavailable(format!("cannot build the namespace network: {other}")),
    }
}

/// Namespaces and veths for the /24 pair `2k`, `2k+1`.
fn build_links(net: &Net, k: u8) -> Result<(), NetLabError> {
    for (ns, veth, octet) in [
        (net.ns_m.clone(), net.veth_m.clone(), 2 * k),
        (net.ns_s.clone(), net.veth_s.clone(), 2 * k + 1),
    ] {
        ip(&["netns", "add", &ns]).map_err(|e| {
            NetLabError::Unavailable(format!("cannot create a network namespace: {e}"))
        })?;
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "v0", "netns", &ns,
        ])?;
        let root = format!("{}/24", addr(octet, 1));
        let inner = format!("{}/24", addr(octet, 2));
        let gw = addr(octet, 1).to_string();
        ip(&["addr", "add", &root, "dev", &veth])?;
        ip(&["link", "set", &veth, "up"])?;
        ip(&["-n", &ns, "addr", "add", &inner, "dev", "v0"])?;
        ip(&["-n", &ns, "link", "set", "v0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns, "route", "add", "default", "via", &gw])?;
    }
    Ok(())
}

/// IP forwarding and the iptables chains (empty until a partition is asked for).
fn build_rules(net: &mut Net, m_octet: u8, s_octet: u8) -> Result<(), NetLabError> {
    forwarding_acquire()?;
    net.forwarding = true;
    for chain in [net.chain_fwd.clone(), net.chain_proxy.clone()] {
        iptables(&["-N", &chain])?;
        net.chains_made.push(chain);
    }
    let (sm, ss) = (subnet(m_octet), subnet(s_octet));
    // Accept forwarding between the two subnets even where the FORWARD policy is DROP
    // (Docker hosts), after our own chain, which holds the partition rules.
    net.hook(&["FORWARD", "1", "-s", &ss, "-d", &sm, "-j", "ACCEPT"])?;
    net.hook(&["FORWARD", "1", "-s", &sm, "-d", &ss, "-j", "ACCEPT"])?;
    let (fwd, proxy) = (net.chain_fwd.clone(), net.chain_proxy.clone());
    net.hook(&["FORWARD", "1", "-j", &fwd])?;
    net.hook(&["INPUT", "1", "-j", &proxy])?;
    net.hook(&["OUTPUT", "1", "-j", &proxy])?;
    Ok(())
}

/// A partitionable topology. See the module documentation.
pub struct NetLab {
    pub opts: NetLabOptions,
    /// `spn-<pid>-<n>`: the prefix of every name this lab created.
    pub tag: String,
    pub ns_m: String,
    pub ns_s: String,
    /// The master's address in ns_m.
    pub master_ip: Ipv4Addr,
    /// The one address of ns_s (replicas and Sentinels, on their own ports).
    pub side_ip: Ipv4Addr,
    pub redis: Vec<NetProc>,
    pub sentinels: Vec<NetProc>,
    // Drop order matters: processes (above) first, then the network, then the directory.
    net: Net,
    dir: tempfile::TempDir,
}

fn subnet(octet: u8) -> String {
    format!("{}.{}.{octet}.0/24", NET_PREFIX[0], NET_PREFIX[1])
}

fn addr(octet: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(NET_PREFIX[0], NET_PREFIX[1], octet, host)
}

impl NetLab {
    /// Build the network, start the processes and wait until the Sentinels know every replica
    /// and each other.
    pub fn start(opts: NetLabOptions) -> Result<NetLab, NetLabError> {
        available().map_err(NetLabError::Unavailable)?;
        let server = RedisBinary::Server.resolve()?;
        let sentinel = RedisBinary::Sentinel.resolve()?;
        SWEEP.call_once(sweep_leftovers);
        let dir = tempfile::Builder::new().prefix("sp-netlab-").tempdir()?;
        let pid = std::process::id();
        let (net, m_octet, s_octet) = {
            let _alloc = ALLOCATE.lock().unwrap_or_else(|e| e.into_inner());
            let n = NEXT.fetch_add(1, Ordering::SeqCst);
            let used = ip(&["-4", "-o", "addr", "show"])?;
            let free = |o: u8| !used.contains(&format!("{}.{}.{o}.", NET_PREFIX[0], NET_PREFIX[1]));
            let start = (pid.wrapping_mul(7).wrapping_add(n)) % 127;
            let k = (0..127u32)
                .map(|i| ((start + i) % 127) as u8)
                .find(|k| free(2 * k) && free(2 * k + 1))
                .ok_or_else(|| {
                    NetLabError::Unavailable(format!(
                        "no free pair of /24s left in {}.{}.0.0/16",
                        NET_PREFIX[0], NET_PREFIX[1]
                    ))
                })?;
            let tag = format!("spn-{pid}-{n}");
            let net = Net {
                ns_m: format!("{tag}-m"),
                ns_s: format!("{tag}-s"),
                veth_m: format!("sp{pid}x{n}m"),
                veth_s: format!("sp{pid}x{n}s"),
                chain_fwd: format!("SPN-{pid}-{n}-F"),
                chain_proxy: format!("SPN-{pid}-{n}-P"),
                tag,
                hooks: Vec::new(),
                chains_made: Vec::new(),
                forwarding: false,
            };
            // From here on, dropping `net` undoes whatever was done.
            build_links(&net, k).map_err(environment)?;
            (net, 2 * k, 2 * k + 1)
        };
        let mut net = net;
        build_rules(&mut net, m_octet, s_octet).map_err(environment)?;

        let master_ip = addr(m_octet, 2);
        let side_ip = addr(s_octet, 2);
        let mut redis: Vec<NetProc> = Vec::new();
        for i in 0..=opts.replicas {
            let (ns, ip_, port) = if i == 0 {
                (&net.ns_m, master_ip, 6379)
            } else {
                (&net.ns_s, side_ip, 6379 + i as u16)
            };
            let a = SocketAddr::new(IpAddr::V4(ip_), port);
            let ndir = dir.path().join(format!("redis-{i}"));
            std::fs::create_dir_all(&ndir)?;
            let log = ndir.join("redis.log");
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                &ip_.to_string(),
                "--dir",
                &ndir.display().to_string(),
                "--logfile",
                &log.display().to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
                "--replica-announce-ip",
                &ip_.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if i > 0 {
                args.extend([
                    "--replicaof".to_string(),
                    master_ip.to_string(),
                    "6379".to_string(),
                ]);
            }
            redis.push(NetProc::spawn(ns, a, &server, &args, log)?);
        }
        let master = redis[0].addr;
        // The root namespace forwards between the two: check it before blaming Sentinel.
        let probe = |ns: &str, target: SocketAddr| {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "timeout",
                    "2",
                    "redis-cli",
                    "-h",
                    &target.ip().to_string(),
                    "-p",
                    &target.port().to_string(),
                    "PING",
                ],
            )
            .ok()
            .filter(|o| o.contains("PONG"))
        };
        eventually(
            "the master to answer from the root namespace",
            Duration::from_secs(10),
            || call(master, None, &["PING"]).ok(),
        )?;
        let ns_s = net.ns_s.clone();
        if eventually("ns_s to reach ns_m", Duration::from_secs(5), || {
            probe(&ns_s, master)
        })
        .is_err()
        {
            return Err(NetLabError::Unavailable(format!(
                "{ns_s} cannot reach the master at {master} through the root namespace: is forwarding \
                 blocked by another firewall (nftables table or iptables-legacy rules)?"
            )));
        }
        let mut sentinels = Vec::new();
        for i in 0..opts.sentinels {
            let a = SocketAddr::new(IpAddr::V4(side_ip), 26379 + i as u16);
            let sdir = dir.path().join(format!("sentinel-{i}"));
            std::fs::create_dir_all(&sdir)?;
            let conf = sdir.join("sentinel.conf");
            let log = sdir.join("sentinel.log");
            let name = &opts.master_name;
            let text = format!(
                "port {port}\nbind {ip}\ndir {dir}\nlogfile {log}\nprotected-mode no\n\
                 sentinel announce-ip {ip}\n\
                 sentinel monitor {name} {mip} {mport} {quorum}\n\
                 sentinel down-after-milliseconds {name} {down}\n\
                 sentinel failover-timeout {name} {fo}\n\
                 sentinel parallel-syncs {name} 1\n",
                port = a.port(),
                ip = side_ip,
                dir = sdir.display(),
                log = log.display(),
                mip = master.ip(),
                mport = master.port(),
                quorum = opts.quorum,
                down = opts.down_after_ms,
                fo = opts.failover_timeout_ms,
            );
            std::fs::write(&conf, text)?;
            sentinels.push(NetProc::spawn(
                &net.ns_s,
                a,
                &sentinel,
                &[conf.display().to_string()],
                log,
            )?);
        }
        let lab = NetLab {
            opts,
            tag: net.tag.clone(),
            ns_m: net.ns_m.clone(),
            ns_s: net.ns_s.clone(),
            master_ip,
            side_ip,
            redis,
            sentinels,
            net,
            dir,
        };
        lab.wait_settled(Duration::from_secs(30))?;
        Ok(lab)
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(|p| p.addr).collect()
    }

    /// `host:port,host:port…` as SENTINEL_PROXY_SENTINELS wants it.
    pub fn sentinel_list(&self) -> String {
        crate::lab::join_addrs(&self.sentinel_addrs())
    }

    /// Call a Redis node from the root namespace.
    pub fn redis_call(&self, addr: SocketAddr, args: &[&str]) -> Result<BytesFrame, LabError> {
        call(addr, None, args)
    }

    /// Call Sentinel `i` from the root namespace (hangs, then fails, while the proxy side is cut).
    pub fn sentinel_call(&self, i: usize, args: &[&str]) -> Result<BytesFrame, LabError> {
        call(self.sentinels[i].addr, None, args)
    }

    /// The master as Sentinel `i` reports it.
    pub fn master_by(&self, i: usize) -> Option<SocketAddr> {
        master_reported_by(self.sentinels[i].addr, None, &self.opts.master_name)
    }

    /// The master the first answering Sentinel reports.
    pub fn master(&self) -> Option<SocketAddr> {
        (0..self.sentinels.len()).find_map(|i| self.master_by(i))
    }

    /// `ROLE` of a node: "master", "slave" or "sentinel".
    pub fn role(&self, addr: SocketAddr) -> Option<String> {
        match self.redis_call(addr, &["ROLE"]).ok()? {
            BytesFrame::Array(items) => items.first().and_then(text),
            _ => None,
        }
    }

    /// Wait until every Sentinel sees the same master, all its replicas and the other
    /// Sentinels, and every replica's link is up.
    pub fn wait_settled(&self, patience: Duration) -> Result<SocketAddr, LabError> {
        let sentinels: Vec<SocketAddr> = self.sentinels.iter().map(|p| p.addr).collect();
        let redis: Vec<SocketAddr> = self.redis.iter().map(|p| p.addr).collect();
        wait_settled_on(
            "the namespace topology to settle",
            patience,
            &sentinels,
            None,
            &redis,
            None,
            &self.opts.master_name,
        )
    }

    /// Drop everything forwarded between ns_m and ns_s, both ways: the master no longer
    /// reaches its replicas nor the Sentinels (and they not it), while the root namespace —
    /// the proxy — still reaches everyone.
    pub fn isolate_master_from_sentinels_and_replicas(&self) -> Result<(), NetLabError> {
        let (m, s) = (self.master_subnet(), self.side_subnet());
        let c = &self.net.chain_fwd;
        iptables(&["-A", c, "-s", &m, "-d", &s, "-j", "DROP"])?;
        iptables(&["-A", c, "-s", &s, "-d", &m, "-j", "DROP"])?;
        Ok(())
    }

    /// Undo [`Self::isolate_master_from_sentinels_and_replicas`].
    pub fn heal(&self) -> Result<(), NetLabError> {
        iptables(&["-F", &self.net.chain_fwd])?;
        Ok(())
    }

    /// Drop every packet between the root namespace and the Sentinels' ports (the proxy's
    /// links to every Sentinel hang; nothing is refused). Sentinels still reach the nodes.
    pub fn cut_proxy_from_sentinels(&self) -> Result<(), NetLabError> {
        let c = &self.net.chain_proxy;
        let side = self.side_ip.to_string();
        for s in &self.sentinels {
            let port = s.addr.port().to_string();
            iptables(&[
                "-A", c, "-p", "tcp", "-d", &side, "--dport", &port, "-j", "DROP",
            ])?;
            iptables(&[
                "-A", c, "-p", "tcp", "-s", &side, "--sport", &port, "-j", "DROP",
            ])?;
        }
        Ok(())
    }

    /// Undo [`Self::cut_proxy_from_sentinels`].
    pub fn heal_proxy_from_sentinels(&self) -> Result<(), NetLabError> {
        iptables(&["-F", &self.net.chain_proxy])?;
        Ok(())
    }

    fn master_subnet(&self) -> String {
        subnet(self.master_ip.octets()[2])
    }

    fn side_subnet(&self) -> String {
        subnet(self.side_ip.octets()[2])
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for p in self.sentinels.iter_mut().chain(self.redis.iter_mut()) {
            p.kill();
        }
        // `net` is dropped next and removes the rules, veths and namespaces.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_pid() {
        assert_eq!(owner_pid("spn-1234-0-m"), Some(1234));
        assert_eq!(owner_pid("SPN-99-3-F"), Some(99));
        assert_eq!(owner_pid("sp4321x12s"), Some(4321));
        assert_eq!(owner_pid("spare"), None);
        assert_eq!(owner_pid("eth0"), None);
        assert!(!is_leftover(&format!("spn-{}-0-m", std::process::id())));
    }

    #[test]
    fn subnets_stay_in_the_lab_range() {
        assert_eq!(subnet(4), "10.77.4.0/24");
        assert_eq!(addr(5, 2), Ipv4Addr::new(10, 77, 5, 2));
    }
}
