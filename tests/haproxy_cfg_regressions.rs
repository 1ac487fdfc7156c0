//! Findings of the `haproxy_cfg` fuzz target (fuzz/, docs/reliability.md "Fuzzing"), each
//! reduced to a unit test on the public API.

use sentinel_proxy_haproxy::cfg::{parse, HaproxyConfig};

const SECRET: &str = "Zq7redisSECRETkx9";

const SENTINEL_SECRET: &str = "Wp3sentinelSECRETjm2";

fn env(name: &str) -> Option<String> {
    match name {
        "AUTH" => Some(SECRET.to_string()),
        "SENTINELAUTH" => Some(SENTINEL_SECRET.to_string()),
        _ => None,
    }
}

/// The smallest configuration the reader accepts, with `extra` at the end.
fn minimal(extra: &str) -> String {
    format!(
        "defaults\n  timeout connect 4s\nbackend check_if_redis_is_master_0\n  \
         tcp-check send SENTINEL\\ get-master-addr-by-name\\ mymaster\\r\\n\n  \
         server R0 s0:26379 check\nfrontend ft_redis_master\n  bind :6379\n  \
         use_backend bk_redis_master\nbackend bk_redis_master\n  \
         tcp-check send \"AUTH ${{AUTH}}\"\\r\\n\n  server R0 r0:6379 check\n{extra}"
    )
}

fn parse_ok(text: &str) -> HaproxyConfig {
    parse(text, &env).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

/// Found by fuzzing: `ignored` promises keywords and sections only, never values, but a
/// keyword or section name glued to a quoted expansion (`x"AUTH ${AUTH}"`,
/// `tcp-check sendf"AUTH ${AUTH}"`, `frontend "${AUTH}"`, `.x"${SENTINELAUTH}"`) put the
/// password in it.
#[test]
fn ignored_entries_never_show_expanded_variables() {
    for extra in [
        "  df\"AUTH ${AUTH}\"nbsrv(c\n",
        "  tcp-check sendf\"AUTH ${AUTH}\"\\r\\n\n",
        "  no option \"${AUTH}\"\n",
        "listen \"x${AUTH}\"\n  mode tcp\n",
        "frontend ${AUTH}\n  mode tcp\n",
        // Second finding (6.4 million inputs later): conditional-block lines.
        ".x\"${SENTINELAUTH}\"\\r\\n\n",
    ] {
        let text = minimal(extra);
        let cfg = parse_ok(&text);
        assert!(!cfg.ignored.is_empty(), "{extra:?}: nothing ignored");
        for (line, what) in &cfg.ignored {
            assert!(
                !what.contains(SECRET) && !what.contains(SENTINEL_SECRET),
                "{extra:?}: line {line}: {what:?}"
            );
        }
        assert!(
            cfg.ignored.iter().any(|(_, w)| w.contains("${...}")),
            "{extra:?}: {:?}",
            cfg.ignored
        );
        assert!(!format!("{cfg:?}").contains(SECRET));
        assert!(!format!("{cfg:?}").contains(SENTINEL_SECRET));
    }
}

/// Found while writing the fuzz target: each `setenv A "$A$A$A$A$A$A$A$A"` multiplied the
/// value by 8, so ten such lines (300 bytes) asked for gigabytes. Expansions are now bounded
/// per line (64 KiB) and the line that overflows is named.
#[test]
fn self_referencing_setenv_cannot_exhaust_memory() {
    let mut global = String::from("global\n  setenv A xxxxxxxxxxxxxxxx\n");
    for _ in 0..20 {
        global.push_str("  setenv A \"$A$A$A$A$A$A$A$A\"\n");
    }
    let text = format!("{global}{}", minimal("  bind \":${A}\"\n"));
    let started = std::time::Instant::now();
    let e = parse(&text, &env).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // 16 * 8^4 = 65536 fits; the fifth doubling line (line 7) is the first to overflow.
    assert_eq!(e.line, 7, "{e}");
    assert!(
        e.to_string().contains("expand to more than 65536 bytes"),
        "{e}"
    );

    // Below the bound, setenv still works as before.
    let text = format!(
        "global\n  setenv P 6380\n  setenv P2 \"$P\"\n{}",
        minimal("frontend ft_redis_slave\n  bind \":${P2}\"\n  use_backend bk_redis_slave\n")
    );
    let cfg = parse_ok(&text);
    assert!(format!("{cfg:?}").contains("6380"), "{cfg:?}");
}

/// Errors and warnings never quote what a variable expanded to: a password put where a value
/// is checked by mistake (`inter ${AUTH}`) would otherwise reach the log of a pod that fails to
/// start.
#[test]
fn errors_and_warnings_never_show_expanded_variables() {
    for (extra, what) in [
        ("  server R1 r1:6379 check inter ${AUTH}\n", "inter"),
        ("  server R1 r1:${SENTINELAUTH} check\n", "port"),
    ] {
        let text = minimal(extra);
        let e = parse(&text, &env).expect_err(extra).to_string();
        assert!(
            !e.contains(SECRET) && !e.contains(SENTINEL_SECRET),
            "{extra:?}: {e}"
        );
        assert!(
            e.contains("${...}"),
            "{extra:?}: the value is not marked: {e}"
        );
        assert!(e.contains(what) || e.contains("line"), "{extra:?}: {e}");
    }
}
