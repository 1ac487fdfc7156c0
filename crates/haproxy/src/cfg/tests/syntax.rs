//! Tokenising, variable expansion and the time syntax.

use std::collections::HashMap;

use super::super::lexing::{tokenize, Env};
use super::*;

#[test]
fn env_expansion_forms() {
    let env = env_of(&[
        ("PW", "a b\"c"),
        ("NAME", "mm"),
        ("HOSTS", "h1:26379 h2:26379"),
        ("H", "sx"),
    ]);
    // Quoted variable: the value is the password verbatim (spaces, quotes).
    let text = minimal("").replace(
        "  server R0 r0:6379 check\n",
        "  server R0 r0:6379 check\n  tcp-check send \"AUTH ${PW}\"\\r\\n\n",
    );
    let cfg = parse(&text, &env).unwrap();
    assert_eq!(cfg.redis_password.as_deref(), Some("a b\"c"));
    assert_eq!(cfg.redis_username, None);

    // $NAME form, default values, escaped dollar, single quotes.
    let text = "backend check_if_redis_is_master_0\n  \
        tcp-check send \"SENTINEL get-master-addr-by-name $NAME\"\\r\\n\n  \
        server R0 \"${UNSET-fallback}:26379\"\n  \
        server R1 \"${H-unused}:26379\"\n  \
        server R2 '${H}:26379'\n\
        frontend ft_redis_master\n  bind \":${PORT-6379}\"\n";
    let cfg = parse(text, &env).unwrap();
    assert_eq!(cfg.master_name, "mm");
    assert_eq!(
        cfg.sentinels,
        vec![hp("fallback", 26379), hp("sx", 26379), hp("${H}", 26379)]
    );
    assert_eq!(cfg.master_bind, vec![bind("0.0.0.0:6379", false)]);

    // Unquoted ${VAR} is expanded (unlike HAProxy) with a warning.
    let text = minimal("").replace("server R0 s0:26379", "server R0 ${H}:26379");
    let cfg = parse(&text, &env).unwrap();
    assert_eq!(cfg.sentinels, vec![hp("sx", 26379)]);
    assert!(cfg
        .warnings
        .iter()
        .any(|w| w.contains("outside double quotes")));

    // ${VAR[*]} splits into words; escaped \$ stays literal.
    let env2 = env_of(&[("X", "A B")]);
    let t = tokenize(
        "w \"${X[*]}\" \"\\$X\" $X",
        &Env {
            base: &env2,
            overlay: HashMap::new(),
            keep: None,
            expanded: Default::default(),
        },
    );
    let words: Vec<String> = t
        .words
        .iter()
        .map(|w| String::from_utf8(w.bytes()).unwrap())
        .collect();
    assert_eq!(words, ["w", "A", "B", "$X", "$X"]);
    assert!(t.problem.is_none());
}

#[test]
fn tokenizer_quoting_and_escapes() {
    let env = Env {
        base: &no_env,
        overlay: HashMap::new(),
        keep: None,
        expanded: Default::default(),
    };
    let words = |s: &str| -> (Vec<String>, Option<String>) {
        let t = tokenize(s, &env);
        (
            t.words
                .iter()
                .map(|w| String::from_utf8_lossy(&w.bytes()).into_owned())
                .collect(),
            t.problem,
        )
    };
    assert_eq!(words("  a\tb   # comment").0, ["a", "b"]);
    assert_eq!(words(r"a\ b\#c \\ \x41\r\n").0, ["a b#c", "\\", "A\r\n"]);
    assert_eq!(
        words(r#"x"q # not comment"y 'p $q \n' "#).0,
        ["xq # not commenty", r"p $q \n"]
    );
    assert_eq!(words(r#"a "" b"#).0, ["a", "", "b"]);
    assert_eq!(words("a\rb c").0, ["a"]);
    assert_eq!(words("a\0b").0, ["a"]);
    assert_eq!(words(r"\1 \q").0, [r"\1", r"\q"]);
    assert!(words("a \"open")
        .1
        .unwrap()
        .contains("unmatched double quote"));
    assert!(words("a 'open").1.unwrap().contains("single"));
    assert!(words(r"\xZZ").1.is_some());
    assert!(words(r#""$1""#).1.unwrap().contains("variable name"));
    assert!(words(r#""${A""#).1.unwrap().contains("brace"));
    assert!(words(r#""${A[x]}""#).1.is_some());
}

#[test]
fn time_syntax() {
    let ok = [
        ("4s", Duration::from_secs(4)),
        ("330s", Duration::from_secs(330)),
        ("1h", Duration::from_secs(3600)),
        ("500ms", Duration::from_millis(500)),
        ("1m", Duration::from_secs(60)),
        ("2000", Duration::from_millis(2000)),
        ("0", Duration::ZERO),
        ("250us", Duration::from_micros(250)),
        ("1d", Duration::from_secs(86_400)),
        ("24d", Duration::from_secs(24 * 86_400)),
    ];
    for (s, d) in ok {
        assert_eq!(parse_time(s), Ok(d), "{s}");
    }
    for bad in [
        "",
        "s",
        "1.5s",
        "4S",
        "-1s",
        "4 s",
        "4sec",
        "25d",
        "99999999999999999999",
        "9999999999999999h",
        "1x",
    ] {
        assert!(parse_time(bad).is_err(), "{bad:?} accepted");
    }
    let e = parse_time("4sec").unwrap_err();
    assert!(
        e.contains("use us, ms, s, m, h or d (a bare number is in milliseconds)"),
        "{e}"
    );
    assert!(parse_time("25d").unwrap_err().contains("2147483647"));

    let text = minimal("").replace("timeout connect 4s", "timeout connect 4sec");
    let e = parse(&text, &no_env).unwrap_err();
    assert_eq!((e.kind, e.line), (ErrorKind::Invalid, 2));
    assert!(e.to_string().contains("timeout connect"), "{e}");

    // Out of range for a Duration: refused naming the directive, not wrapped round.
    let text = minimal("").replace("timeout connect 4s", "timeout connect 9999999999999999h");
    let e = parse(&text, &no_env).unwrap_err();
    assert_eq!((e.kind, e.line), (ErrorKind::Invalid, 2));
    assert!(
        e.to_string()
            .contains("timeout connect: '9999999999999999h' is too large"),
        "{e}"
    );
}

/// The library's duration bound, with the file, the line and the directive in the error.
#[test]
fn out_of_range_times_name_the_file_line_and_directive() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, line, directive) in [
        (
            "timeout connect 4s",
            "timeout connect 9999999999999999h",
            2,
            "timeout connect",
        ),
        // Fits a Duration, not a deadline.
        (
            "timeout connect 4s",
            "timeout connect 4000000000000000h",
            2,
            "timeout connect",
        ),
        (
            "server R0 s0:26379 check",
            "server R0 s0:26379 check inter 18446744073709551615us",
            5,
            "inter",
        ),
    ] {
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, minimal("").replace(from, to)).unwrap();
        let e = parse_files(std::slice::from_ref(&file), &no_env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Invalid, line), "{to}: {e}");
        let value = to.rsplit(' ').next().unwrap();
        assert!(
            e.to_string().starts_with(&format!(
                "{} line {line}: {directive}: '{value}' is too large",
                file.display()
            )),
            "{e}"
        );
    }
}
