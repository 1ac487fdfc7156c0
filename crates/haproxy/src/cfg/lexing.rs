//! Lines and words: HAProxy's `parse_line()` (quoting, escapes, `${VAR}` expansion), the
//! environment that `setenv` & co. change while the file is read, and how a line is shown
//! without the values its variables expanded to.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

pub(super) struct RawLine {
    pub(super) text: String,
    pub(super) bad_utf8: bool,
}

pub(super) struct Source {
    pub(super) name: Option<PathBuf>,
    pub(super) lines: Vec<RawLine>,
}

/// A piece of a word: literal bytes or the expansion of a variable.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seg {
    Lit(Vec<u8>),
    Var(Vec<u8>),
}

#[derive(Debug, Clone, Default)]
pub(super) struct Word {
    pub(super) segs: Vec<Seg>,
}

impl Word {
    pub(super) fn push_lit(&mut self, b: u8) {
        if let Some(Seg::Lit(v)) = self.segs.last_mut() {
            v.push(b);
        } else {
            self.segs.push(Seg::Lit(vec![b]));
        }
    }
    pub(super) fn push_var(&mut self, v: &[u8]) {
        self.segs.push(Seg::Var(v.to_vec()));
    }
    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.segs {
            match s {
                Seg::Lit(v) | Seg::Var(v) => out.extend_from_slice(v),
            }
        }
        out
    }
    pub(super) fn is_empty(&self) -> bool {
        self.segs.iter().all(|s| match s {
            Seg::Lit(v) | Seg::Var(v) => v.is_empty(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) src: usize,
    pub(super) line: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) loc: Loc,
    /// Expanded words, lossily decoded.
    pub(super) words: Vec<String>,
    pub(super) raw_words: Vec<Word>,
    /// First syntax problem on the line (fatal only if the line is used).
    pub(super) problem: Option<String>,
    /// A `${VAR}` outside double quotes was expanded.
    pub(super) unquoted_env: bool,
    /// Line number of the enclosing `.if`, if any.
    pub(super) cond: Option<usize>,
}

impl Line {
    pub(super) fn w(&self, i: usize) -> &str {
        self.words.get(i).map(String::as_str).unwrap_or("")
    }
}

pub(super) struct Env<'a> {
    pub(super) base: &'a dyn Fn(&str) -> Option<String>,
    pub(super) overlay: HashMap<String, Option<String>>,
    /// After `resetenv`: only these base variables stay visible.
    pub(super) keep: Option<Vec<String>>,
    /// Every value a variable expanded to (3 bytes or more): errors and warnings never show
    /// them, since any of them may be a password (`inter ${AUTH}` by mistake).
    pub(super) expanded: RefCell<BTreeSet<String>>,
}

impl Env<'_> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        let v = self.lookup(name)?;
        if v.len() >= 3 {
            self.expanded.borrow_mut().insert(v.clone());
        }
        Some(v)
    }

    pub(super) fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.overlay.get(name) {
            return v.clone();
        }
        if let Some(keep) = &self.keep {
            if !keep.iter().any(|k| k == name) {
                return None;
            }
        }
        (self.base)(name)
    }

    /// `text` with every expanded value replaced by `${...}`, longest first.
    pub(super) fn redact(&self, text: String) -> String {
        let expanded = self.expanded.borrow();
        if !expanded.iter().any(|v| text.contains(v.as_str())) {
            return text;
        }
        let mut values: Vec<&String> = expanded.iter().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values
            .into_iter()
            .fold(text, |t, v| t.replace(v.as_str(), "${...}"))
    }
}

pub(super) fn is_var_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_var_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(super) struct Tokens {
    pub(super) words: Vec<Word>,
    pub(super) problem: Option<String>,
    pub(super) unquoted_env: bool,
}

/// Bound on the bytes that variables expand to on one line. Without it,
/// `setenv A "$A$A"` repeated doubles the line at each step and a few hundred
/// bytes of configuration exhaust memory (found by fuzzing).
pub(super) const MAX_LINE_EXPANSION: usize = 64 * 1024;

/// HAProxy's `parse_line()` for configuration files, made total: it always
/// returns words and reports the first problem instead of stopping.
pub(super) fn tokenize(line: &str, env: &Env<'_>) -> Tokens {
    let b = line.as_bytes();
    let mut words: Vec<Word> = Vec::new();
    let mut cur = Word::default();
    let mut started = false;
    let mut squote = false;
    let mut dquote = false;
    let mut problem: Option<String> = None;
    let mut unquoted_env = false;
    let mut expanded = 0usize;
    let note = |p: &mut Option<String>, msg: String| {
        if p.is_none() {
            *p = Some(msg);
        }
    };
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() && b[i] != b'\n' && b[i] != b'\r' {
        i += 1;
    }
    while i < b.len() {
        let c = b[i];
        if c == 0 || c == b'\n' || c == b'\r' {
            break;
        }
        if c == b'#' && !squote && !dquote {
            break;
        }
        if c == b'"' && !squote {
            dquote = !dquote;
            started = true;
            i += 1;
            continue;
        }
        if c == b'\'' && !dquote {
            squote = !squote;
            started = true;
            i += 1;
            continue;
        }
        if c == b'\\' && !squote {
            started = true;
            let next = b.get(i + 1).copied();
            match next {
                Some(n @ (b' ' | b'\\' | b'#' | b'\'' | b'"')) => {
                    cur.push_lit(n);
                    i += 2;
                }
                Some(b't') => {
                    cur.push_lit(b'\t');
                    i += 2;
                }
                Some(b'n') => {
                    cur.push_lit(b'\n');
                    i += 2;
                }
                Some(b'r') => {
                    cur.push_lit(b'\r');
                    i += 2;
                }
                Some(b'$') if dquote => {
                    cur.push_lit(b'$');
                    i += 2;
                }
                Some(b'x') => {
                    let h = |k: usize| b.get(k).and_then(|x| (*x as char).to_digit(16));
                    match (h(i + 2), h(i + 3)) {
                        (Some(hi), Some(lo)) => {
                            cur.push_lit((hi * 16 + lo) as u8);
                            i += 4;
                        }
                        _ => {
                            note(
                                &mut problem,
                                "invalid \\x escape: expected two hex digits as in \\x0a"
                                    .to_string(),
                            );
                            cur.push_lit(b'\\');
                            i += 1;
                        }
                    }
                }
                _ => {
                    cur.push_lit(b'\\');
                    i += 1;
                }
            }
            continue;
        }
        if c.is_ascii_whitespace() && !squote && !dquote {
            if started || !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            started = false;
            while i < b.len() && b[i].is_ascii_whitespace() && b[i] != b'\n' && b[i] != b'\r' {
                i += 1;
            }
            continue;
        }
        let unquoted_brace = c == b'$' && !dquote && !squote && b.get(i + 1) == Some(&b'{');
        if c == b'$' && (dquote || unquoted_brace) {
            started = true;
            match expand_var(b, i, env) {
                Ok((consumed, value, split)) => {
                    if unquoted_brace {
                        unquoted_env = true;
                    }
                    let mut value = value.unwrap_or_default();
                    expanded = expanded.saturating_add(value.len());
                    if expanded > MAX_LINE_EXPANSION {
                        note(
                            &mut problem,
                            format!(
                                "variables expand to more than {MAX_LINE_EXPANSION} bytes \
                                 on this line"
                            ),
                        );
                        value.clear();
                    }
                    if split {
                        // `${VAR[*]}`: one word per whitespace-separated piece.
                        let mut first = true;
                        for piece in value.split_ascii_whitespace() {
                            if !first {
                                words.push(std::mem::take(&mut cur));
                            }
                            first = false;
                            cur.push_var(piece.as_bytes());
                        }
                    } else {
                        cur.push_var(value.as_bytes());
                    }
                    i += consumed;
                }
                Err(msg) => {
                    if dquote {
                        note(&mut problem, msg);
                    }
                    cur.push_lit(b'$');
                    i += 1;
                }
            }
            continue;
        }
        started = true;
        cur.push_lit(c);
        i += 1;
    }
    if squote || dquote {
        note(
            &mut problem,
            format!(
                "unmatched {} quote: close it or escape it with a backslash",
                if dquote { "double" } else { "single" }
            ),
        );
    }
    // HAProxy drops a trailing empty argument.
    if !cur.is_empty() {
        words.push(cur);
    }
    Tokens {
        words,
        problem,
        unquoted_env,
    }
}

/// Expands the variable reference at `b[i] == '$'`. Returns the bytes consumed,
/// the value (`None` = unset and no default) and whether `[*]` was given.
pub(super) fn expand_var(
    b: &[u8],
    i: usize,
    env: &Env<'_>,
) -> Result<(usize, Option<String>, bool), String> {
    let mut j = i + 1;
    let brace = b.get(j) == Some(&b'{');
    if brace {
        j += 1;
    }
    if !b.get(j).copied().is_some_and(is_var_start) {
        return Err(
            "invalid variable name after '$': names start with a letter or '_' \
                    (write \\$ for a literal dollar)"
                .to_string(),
        );
    }
    let start = j;
    while b.get(j).copied().is_some_and(is_var_char) {
        j += 1;
    }
    let name = String::from_utf8_lossy(&b[start..j]).into_owned();
    let mut value = env.get(&name);
    let mut split = false;
    if brace {
        if b.get(j) == Some(&b'[') {
            if b.get(j + 1) == Some(&b'*') && b.get(j + 2) == Some(&b']') {
                split = true;
                j += 3;
            } else {
                return Err("invalid word expansion: only ${NAME[*]} is allowed".to_string());
            }
        }
        if b.get(j) == Some(&b'-') {
            let dstart = j + 1;
            let mut k = dstart;
            while k < b.len() && b[k] != b'}' {
                k += 1;
            }
            if k >= b.len() {
                return Err(format!("unmatched brace in ${{{name}-...}}"));
            }
            if value.is_none() {
                value = Some(String::from_utf8_lossy(&b[dstart..k]).into_owned());
            }
            j = k;
        }
        if b.get(j) != Some(&b'}') {
            return Err(format!("unmatched brace after ${{{name}: expected '}}'"));
        }
        j += 1;
    }
    Ok((j - i, value, split))
}

/// Applies `setenv`, `presetenv`, `unsetenv` and `resetenv` from `global`.
pub(super) fn apply_env_directive(env: &mut Env<'_>, line: &Line) {
    match line.w(0) {
        "setenv" if line.words.len() >= 3 => {
            env.overlay
                .insert(line.w(1).to_string(), Some(line.w(2).to_string()));
        }
        "presetenv" if line.words.len() >= 3 && env.get(line.w(1)).is_none() => {
            env.overlay
                .insert(line.w(1).to_string(), Some(line.w(2).to_string()));
        }
        "unsetenv" => {
            for name in line.words.iter().skip(1) {
                env.overlay.insert(name.clone(), None);
            }
        }
        "resetenv" => {
            let keep: Vec<String> = line.words.iter().skip(1).cloned().collect();
            env.overlay.retain(|k, _| keep.contains(k));
            env.keep = Some(keep);
        }
        _ => {}
    }
}

/// The directive's keyword(s), without values (values may be secrets).
pub(super) fn keyword_of(line: &Line) -> String {
    let w0 = line.w(0);
    let two = [
        "option",
        "timeout",
        "tcp-check",
        "http-check",
        "http-request",
        "http-response",
        "http-after-response",
        "tcp-request",
        "tcp-response",
        "stats",
        "balance",
        "hash-type",
        "mode",
    ];
    if (w0 == "no" || w0 == "default") && line.w(1) == "option" && !line.w(2).is_empty() {
        format!("{w0} option {}", shown_word(line, 2))
    } else if two.contains(&w0) && !line.w(1).is_empty() {
        format!("{w0} {}", shown_word(line, 1))
    } else {
        shown_word(line, 0)
    }
}

/// Word `i` of a line for display: what a variable expanded to is never shown
/// (it may be a secret), `${...}` stands for it.
pub(super) fn shown_word(line: &Line, i: usize) -> String {
    match line.raw_words.get(i) {
        Some(w) if w.segs.iter().any(|s| matches!(s, Seg::Var(_))) => {
            let mut out = String::new();
            for s in &w.segs {
                match s {
                    Seg::Lit(v) => out.push_str(&String::from_utf8_lossy(v)),
                    Seg::Var(_) => out.push_str("${...}"),
                }
            }
            out
        }
        _ => line.w(i).to_string(),
    }
}
