//! Pass 1 groups tokenised lines into sections; pass 2 works out the role each section plays
//! in the chart's file and hands its lines to the directives (`directives.rs`).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use super::directives::{Cred, ServerDefaults, ServerSpec};
use super::lexing::{
    apply_env_directive, keyword_of, shown_word, tokenize, Env, Line, Loc, Source,
};
use super::{Bind, ErrorKind, HaproxyCfgError, HaproxyConfig, Timeouts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    Other,
}

pub(super) const OTHER_SECTIONS: &[&str] = &[
    "resolvers",
    "peers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "fcgi-app",
    "log-forward",
    "crt-store",
    "traces",
    "acme",
];

pub(super) fn section_kind(word: &str) -> Option<Kind> {
    Some(match word {
        "global" => Kind::Global,
        "defaults" => Kind::Defaults,
        "frontend" => Kind::Frontend,
        "backend" => Kind::Backend,
        "listen" => Kind::Listen,
        w if OTHER_SECTIONS.contains(&w) => Kind::Other,
        _ => return None,
    })
}

pub(super) struct Section {
    pub(super) kind: Kind,
    pub(super) name: String,
    pub(super) header: Line,
    pub(super) lines: Vec<Line>,
    /// Index of the `defaults` section in effect (or named with `from`).
    pub(super) defaults: Option<usize>,
}

impl Section {
    pub(super) fn label(&self) -> String {
        if self.name.is_empty() {
            shown_word(&self.header, 0)
        } else {
            // The name is always the header's second word.
            format!(
                "{} {}",
                shown_word(&self.header, 0),
                shown_word(&self.header, 1)
            )
        }
    }
    pub(super) fn is_front(&self) -> bool {
        matches!(self.kind, Kind::Frontend | Kind::Listen)
    }
    pub(super) fn is_back(&self) -> bool {
        matches!(self.kind, Kind::Backend | Kind::Listen)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Roles {
    pub(super) global: bool,
    pub(super) defaults: bool,
    pub(super) master_front: bool,
    pub(super) replica_front: bool,
    pub(super) health: bool,
    pub(super) metrics: bool,
    pub(super) sentinel_check: bool,
    pub(super) master_back: bool,
    pub(super) replica_back: bool,
}

impl Roles {
    pub(super) fn any(&self) -> bool {
        self.global
            || self.defaults
            || self.master_front
            || self.replica_front
            || self.health
            || self.metrics
            || self.sentinel_check
            || self.master_back
            || self.replica_back
    }
    pub(super) fn any_front(&self) -> bool {
        self.master_front || self.replica_front || self.health || self.metrics
    }
    pub(super) fn any_redis_back(&self) -> bool {
        self.sentinel_check || self.master_back || self.replica_back
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Disp {
    Ignored,
    Covered,
    Used,
}

/// What one section contributed.
#[derive(Debug, Default)]
pub(super) struct SecData {
    pub(super) master_binds: Vec<(Bind, Loc)>,
    pub(super) replica_binds: Vec<(Bind, Loc)>,
    pub(super) health_binds: Vec<(Bind, Loc)>,
    pub(super) metrics_binds: Vec<(Bind, Loc)>,
    pub(super) monitor_uri: Option<String>,
    pub(super) metrics_path: Option<Option<String>>,
    pub(super) sentinels: Vec<ServerSpec>,
    /// bk_redis_master's servers.
    pub(super) nodes: Vec<ServerSpec>,
    /// bk_redis_slave's servers (only their TLS is used: it must match the others').
    pub(super) replica_nodes: Vec<ServerSpec>,
    /// `Some((loc, None))` = an AUTH line that expanded to nothing.
    pub(super) auth: Option<(Loc, Option<Cred>)>,
    pub(super) master_name: Option<(Loc, String)>,
    pub(super) timeouts: Timeouts,
    pub(super) maxconn: Option<u32>,
    pub(super) server_defaults: ServerDefaults,
    pub(super) connect_port: Option<u16>,
    /// Where the first `tcp-check connect` of this backend is (none: HAProxy's implicit one).
    pub(super) connect_rule: Option<Loc>,
    /// Where a `tcp-check connect ... ssl` of this backend is.
    pub(super) connect_ssl: Option<Loc>,
    /// A `tcp-check connect ... default`.
    pub(super) connect_default: bool,
    /// `tcp-check connect ... sni NAME`.
    pub(super) connect_sni: Option<String>,
}

pub(super) struct Parser<'a> {
    pub(super) sources: Vec<Source>,
    pub(super) env: Env<'a>,
    pub(super) ignored: Vec<(usize, String)>,
    pub(super) warnings: Vec<String>,
    /// Global `ca-base` / `crt-base` read so far (HAProxy applies them to the lines after).
    pub(super) ca_base: Option<PathBuf>,
    pub(super) crt_base: Option<PathBuf>,
    /// Global `ssl-server-verify`: `verify required` is the default of `server` lines (HAProxy
    /// reads it before it sets up any server, wherever it is written).
    pub(super) server_verify_required: bool,
}

impl<'a> Parser<'a> {
    pub(super) fn run(
        sources: Vec<Source>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<HaproxyConfig, HaproxyCfgError> {
        let mut p = Parser {
            sources,
            env: Env {
                base: env,
                overlay: HashMap::new(),
                keep: None,
                expanded: Default::default(),
            },
            ignored: Vec::new(),
            warnings: Vec::new(),
            ca_base: None,
            crt_base: None,
            server_verify_required: true,
        };
        let sections = p.split_sections();
        p.interpret(sections)
    }

    pub(super) fn where_(&self, loc: Loc) -> String {
        let file = self
            .sources
            .get(loc.src)
            .and_then(|s| s.name.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "haproxy.cfg".to_string());
        format!("{file} line {}", loc.line)
    }

    pub(super) fn err(
        &self,
        loc: Loc,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> HaproxyCfgError {
        HaproxyCfgError {
            kind,
            file: self.sources.get(loc.src).and_then(|s| s.name.clone()),
            line: loc.line,
            message: self.env.redact(message.into()),
        }
    }

    pub(super) fn warn(&mut self, loc: Loc, message: impl fmt::Display) {
        let w = format!(
            "{}: {}",
            self.where_(loc),
            self.env.redact(message.to_string())
        );
        self.warnings.push(w);
    }

    pub(super) fn ignore(&mut self, loc: Loc, directive: String) {
        let directive = if self.sources.len() > 1 {
            let file = self
                .sources
                .get(loc.src)
                .and_then(|s| s.name.as_ref())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!("{file}: {directive}")
        } else {
            directive
        };
        self.ignored.push((loc.line, directive));
    }

    /// The last line of the input, for "missing" errors.
    pub(super) fn end_loc(&self) -> Loc {
        let src = self.sources.len().saturating_sub(1);
        let mut line = self.sources.get(src).map(|s| s.lines.len()).unwrap_or(0);
        // A final newline yields an empty last element; point at the real last line.
        if let Some(s) = self.sources.get(src) {
            if line > 1 && s.lines.last().is_some_and(|l| l.text.is_empty()) {
                line -= 1;
            }
        }
        Loc {
            src,
            line: line.max(1),
        }
    }

    /// Pass 1: tokenise every line (applying `setenv` & co. as HAProxy does, in
    /// order) and group lines into sections.
    pub(super) fn split_sections(&mut self) -> Vec<Section> {
        let mut sections: Vec<Section> = Vec::new();
        let mut last_defaults: Option<usize> = None;
        for src in 0..self.sources.len() {
            let mut current: Option<usize> = None;
            let mut conds: Vec<usize> = Vec::new();
            let n = self.sources[src].lines.len();
            for idx in 0..n {
                let loc = Loc { src, line: idx + 1 };
                let (tokens, bad_utf8) = {
                    let raw = &self.sources[src].lines[idx];
                    (tokenize(&raw.text, &self.env), raw.bad_utf8)
                };
                if tokens.words.is_empty() {
                    if let Some(p) = tokens.problem {
                        self.warn(loc, format!("{p} (line ignored)"));
                    }
                    continue;
                }
                let words: Vec<String> = tokens
                    .words
                    .iter()
                    .map(|w| String::from_utf8_lossy(&w.bytes()).into_owned())
                    .collect();
                let mut problem = tokens.problem;
                if bad_utf8 && problem.is_none() {
                    problem = Some("the line is not valid UTF-8".to_string());
                }
                let line = Line {
                    loc,
                    words,
                    raw_words: tokens.words,
                    problem,
                    unquoted_env: tokens.unquoted_env,
                    cond: conds.first().copied(),
                };
                let kw = line.w(0).to_string();
                // Conditional blocks are not evaluated; lines inside are marked.
                if kw.starts_with('.') {
                    match kw.as_str() {
                        ".if" => conds.push(loc.line),
                        ".elif" | ".else" => {}
                        ".endif" if conds.pop().is_none() => {
                            self.warn(loc, ".endif without .if");
                        }
                        _ => {}
                    }
                    let shown = shown_word(&line, 0);
                    self.ignore(
                        loc,
                        format!("{shown} (conditional blocks are not evaluated)"),
                    );
                    continue;
                }
                if let Some(kind) = section_kind(&kw) {
                    let mut header = line;
                    let (name, from) = match kind {
                        Kind::Global => (String::new(), None),
                        Kind::Defaults => {
                            // defaults [<name>] [from <defaults>]
                            if header.w(1) == "from" {
                                (String::new(), Some(header.w(2).to_string()))
                            } else {
                                let from = (header.w(2) == "from").then(|| header.w(3).to_string());
                                (header.w(1).to_string(), from)
                            }
                        }
                        _ => {
                            let from = (header.w(2) == "from").then(|| header.w(3).to_string());
                            (header.w(1).to_string(), from)
                        }
                    };
                    let defaults = match (&from, kind) {
                        (_, Kind::Global | Kind::Other) => None,
                        (Some(f), _) => {
                            let found = sections
                                .iter()
                                .rposition(|s| s.kind == Kind::Defaults && s.name == *f);
                            if found.is_none() && header.problem.is_none() {
                                header.problem = Some(format!(
                                    "'from {f}' names no earlier 'defaults {f}' section"
                                ));
                            }
                            found
                        }
                        (None, Kind::Defaults) => None,
                        (None, _) => last_defaults,
                    };
                    if kind == Kind::Defaults {
                        last_defaults = Some(sections.len());
                    }
                    sections.push(Section {
                        kind,
                        name,
                        header,
                        lines: Vec::new(),
                        defaults,
                    });
                    current = Some(sections.len() - 1);
                    continue;
                }
                match current {
                    Some(c) => {
                        let sec = &mut sections[c];
                        if sec.kind == Kind::Global && line.cond.is_none() && line.problem.is_none()
                        {
                            apply_env_directive(&mut self.env, &line);
                        }
                        sec.lines.push(line);
                    }
                    None => {
                        if let Some(p) = &line.problem {
                            let p = p.clone();
                            self.warn(loc, format!("{p} (line ignored)"));
                        }
                        self.ignore(loc, format!("{} (outside any section)", keyword_of(&line)));
                    }
                }
            }
            if let Some(open) = conds.first() {
                let loc = Loc { src, line: *open };
                self.warn(loc, ".if without .endif");
            }
        }
        sections
    }

    /// Pass 2.
    pub(super) fn interpret(
        &mut self,
        sections: Vec<Section>,
    ) -> Result<HaproxyConfig, HaproxyCfgError> {
        // Roles.
        let roles: Vec<Roles> = sections.iter().map(classify).collect();

        // Duplicate names among used proxies (HAProxy rejects them).
        let mut fronts: HashMap<&str, usize> = HashMap::new();
        let mut backs: HashMap<&str, usize> = HashMap::new();
        for (i, s) in sections.iter().enumerate() {
            let mut earlier = None;
            if s.is_front() {
                earlier = earlier.or(fronts.get(s.name.as_str()).copied());
                fronts.entry(&s.name).or_insert(i);
            }
            if s.is_back() {
                earlier = earlier.or(backs.get(s.name.as_str()).copied());
                backs.entry(&s.name).or_insert(i);
            }
            if let Some(j) = earlier.filter(|_| roles[i].any()) {
                return Err(self.err(
                    s.header.loc,
                    ErrorKind::Inconsistent,
                    format!(
                        "'{}' is declared twice (first at {}); HAProxy rejects duplicate proxy names",
                        s.label(),
                        self.where_(sections[j].header.loc)
                    ),
                ));
            }
        }

        for (sec, r) in sections.iter().zip(&roles) {
            if !r.global {
                continue;
            }
            for line in sec.lines.iter().filter(|l| l.w(0) == "ssl-server-verify") {
                self.check_clean(line, "ssl-server-verify")?;
                self.server_verify_required = match line.w(1) {
                    "none" => false,
                    "required" => true,
                    v => {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Invalid,
                            format!(
                                "ssl-server-verify '{v}': expected 'ssl-server-verify none' or \
                                 'ssl-server-verify required'"
                            ),
                        ))
                    }
                };
            }
        }

        let mut data: Vec<SecData> = Vec::with_capacity(sections.len());
        // Effective (inherited) defaults per defaults section.
        let mut eff_defaults: HashMap<usize, (Timeouts, Option<u32>)> = HashMap::new();
        for (i, sec) in sections.iter().enumerate() {
            let r = roles[i];
            let mut d = SecData::default();
            if !r.any() && sec.is_front() {
                // An extra frontend (haproxy.extraConfig) that passes traffic would be dropped
                // while HAProxy serves it: refuse it. One that only shows HAProxy's own stats
                // or sets logging costs nothing to skip: one log line per line.
                if let Some(line) = sec.lines.iter().find(|l| !stats_or_logging(l)) {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        format!(
                            "'{}' in {}: sentinel-proxy cannot serve this section (it serves \
                             ft_redis_master, ft_redis_slave, the prometheus-exporter and the \
                             monitor-uri sections; an extra one usually comes from \
                             haproxy.extraConfig): remove the section, or keep HAProxy for it",
                            keyword_of(line),
                            sec.label()
                        ),
                    ));
                }
                self.ignore(
                    sec.header.loc,
                    format!(
                        "{} (HAProxy's own stats or logging: not served)",
                        sec.label()
                    ),
                );
                for line in &sec.lines {
                    self.ignore(
                        line.loc,
                        format!(
                            "{} (in {}: HAProxy's own stats or logging)",
                            keyword_of(line),
                            sec.label()
                        ),
                    );
                }
                data.push(d);
                continue;
            }
            if !r.any() {
                let n = sec.lines.len();
                let what = if sec.is_front() || sec.is_back() {
                    "not used by sentinel-proxy"
                } else {
                    "not needed by sentinel-proxy"
                };
                self.ignore(
                    sec.header.loc,
                    format!("{} (section {what}; {n} lines ignored)", sec.label()),
                );
                data.push(d);
                continue;
            }
            self.check_clean(&sec.header, &format!("section '{}'", sec.label()))?;
            // `default-server` of the `defaults` section in effect (HAProxy's inheritance).
            if let Some(p) = sec.defaults.filter(|&p| p < i) {
                d.server_defaults = data[p].server_defaults.clone();
            }
            if r.any_redis_back() {
                // `tcp-check connect port N` and `ssl` apply to every server of the backend,
                // wherever the line is.
                for line in &sec.lines {
                    if line.w(0) == "tcp-check" && line.w(1) == "connect" {
                        let c = self.tcp_check_connect(line, r.sentinel_check)?;
                        if c.port.is_some() {
                            d.connect_port = c.port;
                        }
                        d.connect_rule.get_or_insert(line.loc);
                        if c.ssl && d.connect_ssl.is_none() {
                            d.connect_ssl = Some(line.loc);
                        }
                        d.connect_default |= c.default;
                        if c.sni.is_some() {
                            d.connect_sni = c.sni;
                        }
                    }
                }
            }
            for line in &sec.lines {
                let disp = self.handle_line(sec, r, line, &mut d)?;
                match disp {
                    Disp::Used => {
                        if line.unquoted_env {
                            self.warn(
                                line.loc,
                                "a ${VAR} outside double quotes was expanded; HAProxy itself \
                                 only expands variables inside double quotes (write \"${VAR}\")",
                            );
                        }
                    }
                    Disp::Covered => {
                        if let Some(p) = &line.problem {
                            let p = p.clone();
                            self.warn(line.loc, format!("{p} (line not needed)"));
                        }
                    }
                    Disp::Ignored => {
                        if let Some(p) = &line.problem {
                            let p = p.clone();
                            self.warn(line.loc, format!("{p} (line ignored)"));
                        }
                        self.ignore(
                            line.loc,
                            format!("{} (in {})", keyword_of(line), sec.label()),
                        );
                    }
                }
            }
            if sec.kind == Kind::Defaults {
                let parent = sec
                    .defaults
                    .and_then(|p| eff_defaults.get(&p).copied())
                    .unwrap_or_default();
                let eff = (parent.0.overlay(d.timeouts), d.maxconn.or(parent.1));
                eff_defaults.insert(i, eff);
            }
            data.push(d);
        }
        self.assemble(&sections, &roles, &data, &eff_defaults)
    }

    /// Errors if a line that is about to be used has a syntax problem or sits
    /// inside an unevaluated `.if` block.
    pub(super) fn check_clean(&self, line: &Line, what: &str) -> Result<(), HaproxyCfgError> {
        if let Some(p) = &line.problem {
            return Err(self.err(line.loc, ErrorKind::Syntax, p.clone()));
        }
        if let Some(c) = line.cond {
            return Err(self.err(
                line.loc,
                ErrorKind::Unsupported,
                format!(
                    "{what} is inside the conditional block opened at line {c}; \
                     sentinel-proxy does not evaluate .if/.else, move it out of the block"
                ),
            ));
        }
        Ok(())
    }
}

/// A line of a frontend or listen section that only concerns HAProxy's own statistics page
/// or its logging (or the plumbing such a section needs: bind, mode, timeouts).
fn stats_or_logging(l: &Line) -> bool {
    match l.w(0) {
        "bind" | "mode" | "stats" | "log" | "log-format" | "log-tag" | "error-log-format"
        | "capture" | "timeout" | "maxconn" | "description" | "acl" => true,
        "no" => l.w(1) == "log",
        "option" => matches!(
            l.w(1),
            "httplog"
                | "tcplog"
                | "dontlognull"
                | "dontlog-normal"
                | "log-health-checks"
                | "log-separate-errors"
                | "logasap"
        ),
        _ => false,
    }
}

/// Roles a section plays, from its kind, name and content.
pub(super) fn classify(s: &Section) -> Roles {
    let has = |pred: &dyn Fn(&Line) -> bool| s.lines.iter().any(pred);
    let points_to = |backend: &str| {
        has(&|l: &Line| matches!(l.w(0), "use_backend" | "default_backend") && l.w(1) == backend)
    };
    let mut r = Roles::default();
    match s.kind {
        Kind::Global => r.global = true,
        Kind::Defaults => r.defaults = true,
        Kind::Other => {}
        Kind::Frontend | Kind::Backend | Kind::Listen => {
            if s.is_front() {
                r.master_front = s.name == "ft_redis_master" || points_to("bk_redis_master");
                r.replica_front = s.name == "ft_redis_slave" || points_to("bk_redis_slave");
                r.health = has(&|l: &Line| l.w(0) == "monitor-uri");
                r.metrics = has(&|l: &Line| {
                    l.w(0) == "http-request"
                        && l.w(1) == "use-service"
                        && l.w(2) == "prometheus-exporter"
                });
            }
            if s.is_back() {
                r.master_back = s.name == "bk_redis_master";
                r.replica_back = s.name == "bk_redis_slave";
                r.sentinel_check = s.name.starts_with("check_if_redis_is_master_")
                    || has(&|l: &Line| {
                        l.w(0) == "tcp-check"
                            && l.w(1).starts_with("send")
                            && l.w(2)
                                .to_ascii_lowercase()
                                .contains("get-master-addr-by-name")
                    });
            }
        }
    }
    r
}
