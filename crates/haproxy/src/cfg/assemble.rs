//! The end of pass 2: what every section contributed, combined into one [`HaproxyConfig`]
//! and checked as a whole (one master frontend, the same master name and Sentinel AUTH in every
//! check backend, no address bound twice).

use std::collections::HashMap;
use std::net::SocketAddr;

use super::bind_server::describe_server_tls;
use super::directives::{Cred, ServerSpec};
use super::lexing::Loc;
use super::sections::{Kind, Parser, Roles, SecData, Section};
use super::{Bind, BindTls, ErrorKind, HaproxyCfgError, HaproxyConfig, HostPort, Timeouts};

impl<'a> Parser<'a> {
    pub(super) fn assemble(
        &mut self,
        sections: &[Section],
        roles: &[Roles],
        data: &[SecData],
        eff_defaults: &HashMap<usize, (Timeouts, Option<u32>)>,
    ) -> Result<HaproxyConfig, HaproxyCfgError> {
        let not_chart = "this does not look like the redis-ha chart's haproxy.cfg";
        let defaults_of = |s: &Section| {
            s.defaults
                .and_then(|i| eff_defaults.get(&i).copied())
                .unwrap_or_default()
        };

        // Master frontend.
        let masters: Vec<usize> = (0..sections.len())
            .filter(|&i| roles[i].master_front)
            .collect();
        let Some(&mf) = masters.first() else {
            return Err(self.err(
                self.end_loc(),
                ErrorKind::Missing,
                format!(
                    "no 'frontend ft_redis_master' (the client-facing Redis listener) was found \
                     before the end of the configuration; {not_chart}"
                ),
            ));
        };
        let mut master_bind = Vec::new();
        for &i in &masters {
            if data[i].master_binds.is_empty() {
                return Err(self.err(
                    sections[i].header.loc,
                    ErrorKind::Missing,
                    format!(
                        "{} has no bind line (e.g. 'bind [::]:6379 v4v6')",
                        sections[i].label()
                    ),
                ));
            }
            master_bind.extend(data[i].master_binds.iter().cloned());
        }

        // Sentinels, master name, Sentinel AUTH.
        let checks: Vec<usize> = (0..sections.len())
            .filter(|&i| roles[i].sentinel_check)
            .collect();
        let Some(&first_check) = checks.first() else {
            return Err(self.err(
                self.end_loc(),
                ErrorKind::Missing,
                format!(
                    "no Sentinel check backends ('backend check_if_redis_is_master_<N>' with \
                     'server <name> <sentinel>:26379' lines) were found; {not_chart}"
                ),
            ));
        };
        let mut sentinels: Vec<HostPort> = Vec::new();
        let mut inter = None;
        let mut master_name: Option<(Loc, String)> = None;
        let mut sentinel_auth: Option<(Loc, Option<Cred>)> = None;
        for &i in &checks {
            let d = &data[i];
            for s in &d.sentinels {
                push_unique(&mut sentinels, &s.addr);
                inter = inter.or(s.inter);
            }
            if let Some((loc, name)) = &d.master_name {
                match &master_name {
                    Some((first, n)) if n != name => {
                        return Err(self.err(
                            *loc,
                            ErrorKind::Inconsistent,
                            format!(
                                "master name '{name}' differs from '{n}' at {}; all \
                                 check_if_redis_is_master_* backends must ask about the same master",
                                self.where_(*first)
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => master_name = Some((*loc, name.clone())),
                }
            } else {
                self.warn(
                    sections[i].header.loc,
                    format!(
                        "{} sends no SENTINEL get-master-addr-by-name",
                        sections[i].label()
                    ),
                );
            }
            let this = d
                .auth
                .clone()
                .map(|(l, c)| (Some(l), c))
                .unwrap_or((None, None));
            match &sentinel_auth {
                None => sentinel_auth = Some((this.0.unwrap_or(sections[i].header.loc), this.1)),
                Some((first, c)) if *c != this.1 => {
                    return Err(self.err(
                        this.0.unwrap_or(sections[i].header.loc),
                        ErrorKind::Inconsistent,
                        format!(
                            "the Sentinel AUTH of {} differs from the one at {}; every \
                             check_if_redis_is_master_* backend must authenticate the same way",
                            sections[i].label(),
                            self.where_(*first)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if sentinels.is_empty() {
            return Err(self.err(
                sections[first_check].header.loc,
                ErrorKind::Missing,
                format!(
                    "{} lists no Sentinels: expected 'server R0 <host>:26379 check ...' lines; {not_chart}",
                    sections[first_check].label()
                ),
            ));
        }
        let Some((_, master_name)) = master_name else {
            return Err(self.err(
                sections[first_check].header.loc,
                ErrorKind::Missing,
                format!(
                    "no 'tcp-check send SENTINEL\\ get-master-addr-by-name\\ <name>\\r\\n' in the \
                     Sentinel check backends, so the master name is unknown; {not_chart}"
                ),
            ));
        };
        let sentinel_cred = sentinel_auth.and_then(|(_, c)| c);

        // Redis nodes and password.
        let mut nodes = Vec::new();
        let mut redis_cred: Option<Cred> = None;
        let mut master_back = None;
        if let Some(i) = (0..sections.len()).find(|&i| roles[i].master_back) {
            master_back = Some(i);
            for n in &data[i].nodes {
                push_unique(&mut nodes, &n.addr);
            }
            redis_cred = data[i].auth.clone().and_then(|(_, c)| c);
        }
        if master_back.is_none() {
            self.warn(
                sections[mf].header.loc,
                "no 'backend bk_redis_master': the Redis password (its tcp-check AUTH) is unknown",
            );
        }
        for (i, s) in sections.iter().enumerate() {
            if roles[i].replica_back && !roles[i].master_back {
                if let Some((loc, c)) = &data[i].auth {
                    if master_back.is_some() && *c != redis_cred {
                        self.warn(
                            *loc,
                            format!(
                                "{} authenticates differently from bk_redis_master; \
                                 sentinel-proxy uses bk_redis_master's password for all nodes",
                                s.label()
                            ),
                        );
                    }
                }
            }
        }

        // TLS to the nodes and the Sentinels: one way for all (sentinel-proxy has one set of
        // upstream_tls_* settings).
        let node_servers: Vec<&ServerSpec> = data
            .iter()
            .flat_map(|d| d.nodes.iter().chain(&d.replica_nodes))
            .collect();
        let node_ref = self.same_tls("Redis node", &node_servers)?;
        let node_tls = node_ref.and_then(|s| s.tls.clone());
        let mut node_tls_port = None;
        if let (Some(first), Some(_)) = (node_ref, &node_tls) {
            if let Some(other) = node_servers.iter().find(|s| s.addr.port != first.addr.port) {
                self.warn(
                    other.loc,
                    format!(
                        "server {} has port {} but server {} at {} has {}: sentinel-proxy \
                         connects over TLS to the port Sentinel announces for each node (set \
                         SENTINEL_PROXY_UPSTREAM_TLS_PORT for another)",
                        other.name,
                        other.addr.port,
                        first.name,
                        self.where_(first.loc),
                        first.addr.port
                    ),
                );
            } else {
                node_tls_port = Some(first.addr.port);
            }
        }
        let sentinel_servers: Vec<&ServerSpec> =
            checks.iter().flat_map(|&i| &data[i].sentinels).collect();
        let sentinel_ref = self.same_tls("Sentinel", &sentinel_servers)?;
        let sentinel_tls = sentinel_ref.and_then(|s| s.tls.clone());
        if let (Some(n), Some(s)) = (node_ref, sentinel_ref) {
            if let (Some(nt), Some(st)) = (&n.tls, &s.tls) {
                if nt != st {
                    return Err(self.err(
                        s.loc,
                        ErrorKind::Inconsistent,
                        format!(
                            "the Sentinel server {} {}, but the Redis server {} at {} {}: \
                             sentinel-proxy connects to the Sentinels with the Redis nodes' CA, \
                             client certificate, verification and name; make them the same",
                            s.name,
                            describe_server_tls(&s.tls),
                            n.name,
                            self.where_(n.loc),
                            describe_server_tls(&n.tls)
                        ),
                    ));
                }
            }
        }

        // Other listeners.
        let collect = |pick: fn(&SecData) -> &Vec<(Bind, Loc)>| {
            let mut v: Vec<(Bind, Loc)> = Vec::new();
            for d in data {
                v.extend(pick(d).iter().cloned());
            }
            v
        };
        let replica_bind = collect(|d| &d.replica_binds);
        let health_bind = collect(|d| &d.health_binds);
        let metrics_bind = collect(|d| &d.metrics_binds);
        let mut health_uri: Option<String> = None;
        let mut metrics_path: Option<Option<String>> = None;
        for (i, d) in data.iter().enumerate() {
            if let Some(u) = &d.monitor_uri {
                match &health_uri {
                    None => health_uri = Some(u.clone()),
                    Some(h) if h != u => self.warn(
                        sections[i].header.loc,
                        format!("a second monitor-uri '{u}' differs from '{h}'; '{h}' is used"),
                    ),
                    Some(_) => {}
                }
            }
            if let Some(p) = &d.metrics_path {
                metrics_path.get_or_insert_with(|| p.clone());
            }
        }

        // One certificate and one client CA for every TLS listener.
        let mut first_tls: Option<(&BindTls, Loc)> = None;
        for (b, loc) in master_bind.iter().chain(&replica_bind) {
            let Some(t) = &b.tls else { continue };
            let Some((f, at)) = first_tls else {
                first_tls = Some((t, *loc));
                continue;
            };
            if f.crt != t.crt {
                return Err(self.err(
                    *loc,
                    ErrorKind::Unsupported,
                    format!(
                        "bind presents crt {}, but the bind at {} presents crt {}: \
                         sentinel-proxy has one certificate for all its TLS listeners \
                         (tls_cert_file); use the same crt on every ssl bind",
                        t.crt.display(),
                        self.where_(at),
                        f.crt.display()
                    ),
                ));
            }
            if f.client_ca_file != t.client_ca_file {
                let show = |c: &Option<std::path::PathBuf>| match c {
                    Some(p) => format!("requires client certificates from ca-file {}", p.display()),
                    None => "asks for no client certificate".to_string(),
                };
                return Err(self.err(
                    *loc,
                    ErrorKind::Unsupported,
                    format!(
                        "bind {}, but the bind at {} {}: sentinel-proxy checks client \
                         certificates the same way on all its TLS listeners \
                         (tls_client_ca_file); use the same ca-file and verify on every ssl bind",
                        show(&t.client_ca_file),
                        self.where_(at),
                        show(&f.client_ca_file)
                    ),
                ));
            }
        }

        // The same address bound twice cannot work.
        // A dual-stack [::]:P also takes every IPv4 address on port P.
        let mut seen: HashMap<SocketAddr, Loc> = HashMap::new();
        let mut v4_ports: HashMap<u16, Loc> = HashMap::new();
        let mut dual_ports: HashMap<u16, Loc> = HashMap::new();
        for list in [&master_bind, &replica_bind, &health_bind, &metrics_bind] {
            for (b, loc) in list.iter() {
                let port = b.addr.port();
                let dual = b.dual_stack && b.addr.ip().is_unspecified();
                let clash = seen
                    .get(&b.addr)
                    .or_else(|| b.addr.is_ipv4().then(|| dual_ports.get(&port)).flatten())
                    .or_else(|| dual.then(|| v4_ports.get(&port)).flatten());
                if let Some(other) = clash {
                    return Err(self.err(
                        *loc,
                        ErrorKind::Inconsistent,
                        format!(
                            "address {} is already bound at {}; each listener needs its own port",
                            b.addr,
                            self.where_(*other)
                        ),
                    ));
                }
                seen.insert(b.addr, *loc);
                if b.addr.is_ipv4() {
                    v4_ports.entry(port).or_insert(*loc);
                }
                if dual {
                    dual_ports.entry(port).or_insert(*loc);
                }
            }
        }

        // Timeouts and maxconn.
        let (mf_def_t, mf_def_max) = defaults_of(&sections[mf]);
        let mut timeouts = mf_def_t;
        timeouts.client = data[mf].timeouts.client.or(mf_def_t.client);
        if let Some(mb) = master_back {
            let (mb_def, _) = defaults_of(&sections[mb]);
            let own = data[mb].timeouts;
            timeouts.connect = own.connect.or(mb_def.connect);
            timeouts.server = own.server.or(mb_def.server);
            timeouts.check = own.check.or(mb_def.check);
            timeouts.tunnel = own.tunnel.or(mb_def.tunnel);
        }
        let global_max = sections
            .iter()
            .zip(data)
            .filter(|(s, _)| s.kind == Kind::Global)
            .filter_map(|(_, d)| d.maxconn)
            .next_back();
        let front_max = data[mf].maxconn.or(mf_def_max);
        let maxconn = match (global_max, front_max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };

        let strip = |v: Vec<(Bind, Loc)>| v.into_iter().map(|(b, _)| b).collect::<Vec<_>>();
        let (sentinel_username, sentinel_password) = split_cred(sentinel_cred);
        let (redis_username, redis_password) = split_cred(redis_cred);
        Ok(HaproxyConfig {
            sentinels,
            master_name,
            sentinel_username,
            sentinel_password,
            redis_username,
            redis_password,
            nodes,
            master_bind: strip(master_bind),
            replica_bind: strip(replica_bind),
            metrics_bind: strip(metrics_bind),
            metrics_path: metrics_path.flatten(),
            health_bind: strip(health_bind),
            health_uri,
            timeouts,
            maxconn,
            sentinel_check_interval: inter,
            node_tls,
            node_tls_port,
            sentinel_tls,
            ignored: std::mem::take(&mut self.ignored),
            warnings: std::mem::take(&mut self.warnings),
        })
    }
}

impl Parser<'_> {
    /// The first of `servers` when every one is reached the same way (TLS or not, and the
    /// same TLS settings); else an error at the first that differs.
    fn same_tls<'s>(
        &self,
        group: &str,
        servers: &[&'s ServerSpec],
    ) -> Result<Option<&'s ServerSpec>, HaproxyCfgError> {
        let Some(&first) = servers.first() else {
            return Ok(None);
        };
        if let Some(other) = servers.iter().find(|s| s.tls != first.tls) {
            return Err(self.err(
                other.loc,
                ErrorKind::Inconsistent,
                format!(
                    "server {} {}, but server {} at {} {}: sentinel-proxy connects to every \
                     {group} the same way; give their server lines the same ssl, verify, \
                     ca-file, crt and sni (or none of them)",
                    other.name,
                    describe_server_tls(&other.tls),
                    first.name,
                    self.where_(first.loc),
                    describe_server_tls(&first.tls)
                ),
            ));
        }
        Ok(Some(first))
    }
}

pub(super) fn split_cred(c: Option<Cred>) -> (Option<String>, Option<String>) {
    match c {
        Some(c) => (c.user, Some(c.pass)),
        None => (None, None),
    }
}

pub(super) fn push_unique(list: &mut Vec<HostPort>, hp: &HostPort) {
    if !list
        .iter()
        .any(|x| x.port == hp.port && x.host.eq_ignore_ascii_case(&hp.host))
    {
        list.push(hp.clone());
    }
}
