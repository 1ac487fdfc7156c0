//! From what the writers saw, what the new master holds and what the Sentinels said to the
//! report: its JSON shape (documented field by field in docs/benchmark.md) and a table.
//!
//! A write is *lost* when it was acknowledged (INCR returned `v`) and the key on the master
//! afterwards holds less than `v` — or when the same value was acknowledged again later (the
//! counter restarted lower on another node within one 100 ms key, so the earlier one is gone).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::events::Event;
use crate::load::{WriterReport, SLOT};

/// Version of the JSON layout.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    /// What was measured ("sentinel-proxy", "haproxy", or the target address).
    pub label: String,
    pub target: String,
    pub master_name: String,
    pub writers: usize,
    pub client_timeout_ms: u64,
    /// `sentinel-failover`, or null when the benchmark waited for a failover.
    pub trigger: Option<String>,
    /// How long the writers ran.
    pub duration_ms: f64,
    /// The master the Sentinels reported before and after.
    pub master_before: Option<String>,
    pub master_after: Option<String>,
    pub acknowledged: u64,
    pub errors_total: u64,
    pub errors: Vec<ErrorKind>,
    pub reconnects: u64,
    /// Keys the writers INCRed and the benchmark read back on the master.
    pub keys_checked: usize,
    pub lost: u64,
    pub lost_after_switch: u64,
    pub longest_gap: Gap,
    pub latency_us: Latency,
    pub trigger_ms: Option<f64>,
    pub switch_master_ms: Option<f64>,
    pub trigger_to_switch_ms: Option<f64>,
    pub switch_to_first_write_ms: Option<f64>,
    pub switch_to_first_kept_write_ms: Option<f64>,
    pub slots: Vec<Slot>,
    pub events: Vec<Event>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorKind {
    pub kind: String,
    pub count: u64,
    pub example: String,
}

/// The longest time without one acknowledged write (between two acknowledgements, or from the
/// last one to the end of the run).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Gap {
    pub ms: f64,
    pub from_ms: f64,
    pub to_ms: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// One 100 ms time slot: writes sent in it that were acknowledged, that failed, and that were
/// acknowledged but are not on the master afterwards.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Slot {
    pub slot: u64,
    pub t_ms: u64,
    pub ok: u64,
    pub errors: u64,
    pub lost: u64,
}

/// Everything a report is made from.
pub struct Inputs<'a> {
    pub label: String,
    pub target: String,
    pub master_name: String,
    pub client_timeout_ms: u64,
    pub trigger: Option<String>,
    pub reports: &'a [WriterReport],
    /// Value of each key on the master afterwards (absent or nil: 0).
    pub held: &'a HashMap<String, i64>,
    pub events: Vec<Event>,
    pub trigger_ms: Option<f64>,
    pub switch_ms: Option<f64>,
    /// When the writers were stopped (ms since start).
    pub end_ms: f64,
    pub master_before: Option<String>,
    pub master_after: Option<String>,
    pub notes: Vec<String>,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Acknowledgements lost on one key (indices into `acks`), given the value held afterwards.
pub fn lost_acks(values: &[i64], held: i64) -> Vec<usize> {
    let mut last_of: HashMap<i64, usize> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        last_of.insert(*v, i);
    }
    values
        .iter()
        .enumerate()
        .filter(|(i, v)| **v > held || last_of.get(v) != Some(i))
        .map(|(i, _)| i)
        .collect()
}

pub fn build(inp: Inputs<'_>) -> Report {
    let switch_us = inp.switch_ms.map(|m| (m * 1e3) as u64);
    let mut acknowledged = 0;
    let mut reconnects = 0;
    let mut errors: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut slots: BTreeMap<u64, Slot> = BTreeMap::new();
    let mut lat: Vec<u64> = Vec::new();
    let mut ack_times: Vec<u64> = Vec::new();
    let mut keys_checked = 0;
    let (mut lost, mut lost_after_switch) = (0u64, 0u64);
    let mut first_write_after: Option<u64> = None;
    let mut first_kept_after: Option<u64> = None;

    for r in inp.reports {
        acknowledged += r.acked;
        reconnects += r.reconnects;
        for (k, n) in &r.errors {
            let e = errors.entry(k.clone()).or_default();
            e.0 += n;
            if e.1.is_empty() {
                e.1 = r.examples.get(k).cloned().unwrap_or_default();
            }
        }
        for (slot, (ok, err)) in &r.slots {
            let s = slots.entry(*slot).or_default();
            s.ok += ok;
            s.errors += err;
        }
        lat.extend_from_slice(&r.latencies_us);
        // Group the acknowledgements by key.
        let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, a) in r.acks.iter().enumerate() {
            by_key.entry(r.key_for(a.slot)).or_default().push(i);
            ack_times.push(a.at_us);
        }
        for (key, idx) in by_key {
            keys_checked += 1;
            let held = inp.held.get(&key).copied().unwrap_or(0);
            let values: Vec<i64> = idx.iter().map(|i| r.acks[*i].value).collect();
            let lost_here: BTreeSet<usize> = lost_acks(&values, held).into_iter().collect();
            for (j, i) in idx.iter().enumerate() {
                let a = r.acks[*i];
                let is_lost = lost_here.contains(&j);
                let after = switch_us.is_some_and(|s| a.at_us >= s);
                if is_lost {
                    lost += 1;
                    slots.entry(a.slot).or_default().lost += 1;
                    if after {
                        lost_after_switch += 1;
                    }
                }
                if after {
                    first_write_after = Some(first_write_after.map_or(a.at_us, |f| f.min(a.at_us)));
                    if !is_lost {
                        first_kept_after =
                            Some(first_kept_after.map_or(a.at_us, |f| f.min(a.at_us)));
                    }
                }
            }
        }
    }

    // Longest window without an acknowledged write.
    ack_times.sort_unstable();
    let end_us = (inp.end_ms * 1e3) as u64;
    let mut gap = Gap::default();
    let mut consider = |from: u64, to: u64| {
        let ms = to.saturating_sub(from) as f64 / 1e3;
        if ms > gap.ms {
            gap = Gap {
                ms: round1(ms),
                from_ms: round1(from as f64 / 1e3),
                to_ms: round1(to as f64 / 1e3),
            };
        }
    };
    match (ack_times.first(), ack_times.last()) {
        (Some(_), Some(last)) => {
            for w in ack_times.windows(2) {
                consider(w[0], w[1]);
            }
            consider(*last, end_us.max(*last));
        }
        _ => consider(0, end_us),
    }

    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            0
        } else {
            lat[((lat.len() - 1) as f64 * p).round() as usize]
        }
    };
    let latency = Latency {
        p50: pct(0.50),
        p99: pct(0.99),
        max: lat.last().copied().unwrap_or(0),
    };

    let last_slot =
        (end_us / SLOT.as_micros() as u64).max(slots.keys().last().copied().unwrap_or(0));
    let slots: Vec<Slot> = (0..=last_slot)
        .map(|i| {
            let s = slots.get(&i).copied().unwrap_or_default();
            Slot {
                slot: i,
                t_ms: i * SLOT.as_millis() as u64,
                ..s
            }
        })
        .collect();

    let since_switch =
        |t: Option<u64>| -> Option<f64> { Some(round1(t? as f64 / 1e3 - inp.switch_ms?)) };
    let mut notes = inp.notes;
    if inp.switch_ms.is_none() {
        notes.push(
            "no +switch-master was seen: the failover did not happen (or no Sentinel told us)"
                .into(),
        );
    }
    Report {
        schema: SCHEMA,
        label: inp.label,
        target: inp.target,
        master_name: inp.master_name,
        writers: inp.reports.len(),
        client_timeout_ms: inp.client_timeout_ms,
        trigger: inp.trigger,
        duration_ms: round1(inp.end_ms),
        master_before: inp.master_before,
        master_after: inp.master_after,
        acknowledged,
        errors_total: errors.values().map(|e| e.0).sum(),
        errors: errors
            .into_iter()
            .map(|(kind, (count, example))| ErrorKind {
                kind,
                count,
                example,
            })
            .collect(),
        reconnects,
        keys_checked,
        lost,
        lost_after_switch,
        longest_gap: gap,
        latency_us: latency,
        trigger_ms: inp.trigger_ms.map(round1),
        switch_master_ms: inp.switch_ms.map(round1),
        trigger_to_switch_ms: inp
            .switch_ms
            .zip(inp.trigger_ms)
            .map(|(s, t)| round1(s - t)),
        switch_to_first_write_ms: since_switch(first_write_after),
        switch_to_first_kept_write_ms: since_switch(first_kept_after),
        slots,
        events: inp.events,
        notes,
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(v) if v.abs() >= 1000.0 => format!("{:.2} s", v / 1e3),
        Some(v) => format!("{v:.0} ms"),
    }
}

fn us(v: u64) -> String {
    if v >= 1_000_000 {
        format!("{:.2} s", v as f64 / 1e6)
    } else if v >= 1000 {
        format!("{:.1} ms", v as f64 / 1e3)
    } else {
        format!("{v} µs")
    }
}

/// The report rows for one or more runs, one column each.
pub fn table(reports: &[&Report]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, f: &dyn Fn(&Report) -> String| {
        rows.push((name.to_string(), reports.iter().map(|r| f(r)).collect()));
    };
    row("", &|r| r.label.clone());
    row("target", &|r| r.target.clone());
    row("writers · client timeout", &|r| {
        format!("{} · {}", r.writers, ms(Some(r.client_timeout_ms as f64)))
    });
    row("master before → after", &|r| {
        format!(
            "{} → {}",
            r.master_before.as_deref().unwrap_or("?"),
            r.master_after.as_deref().unwrap_or("?")
        )
    });
    row("acknowledged writes", &|r| thousands(r.acknowledged));
    row("errors", &|r| thousands(r.errors_total));
    let kinds: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| r.errors.iter().map(|e| e.kind.clone()))
        .collect();
    for k in &kinds {
        let k2 = k.clone();
        row(&format!("  {k}"), &move |r| {
            r.errors
                .iter()
                .find(|e| e.kind == k2)
                .map(|e| thousands(e.count))
                .unwrap_or_else(|| "0".into())
        });
    }
    row("reconnects", &|r| thousands(r.reconnects));
    row("lost acknowledged writes", &|r| {
        if r.acknowledged == 0 {
            thousands(r.lost)
        } else {
            format!(
                "{} ({:.1} %)",
                thousands(r.lost),
                100.0 * r.lost as f64 / r.acknowledged as f64
            )
        }
    });
    row("  acknowledged after +switch-master", &|r| {
        thousands(r.lost_after_switch)
    });
    row("longest window without a write", &|r| {
        format!(
            "{} (at {:.1}–{:.1} s)",
            ms(Some(r.longest_gap.ms)),
            r.longest_gap.from_ms / 1e3,
            r.longest_gap.to_ms / 1e3
        )
    });
    row("latency p50 · p99 · max", &|r| {
        format!(
            "{} · {} · {}",
            us(r.latency_us.p50),
            us(r.latency_us.p99),
            us(r.latency_us.max)
        )
    });
    row("trigger → +switch-master", &|r| ms(r.trigger_to_switch_ms));
    row("+switch-master → first write", &|r| {
        ms(r.switch_to_first_write_ms)
    });
    row("+switch-master → first kept write", &|r| {
        ms(r.switch_to_first_kept_write_ms)
    });

    let width = |s: &str| s.chars().count();
    let name_w = rows.iter().map(|(n, _)| width(n)).max().unwrap_or(0);
    let col_w: Vec<usize> = (0..reports.len())
        .map(|i| rows.iter().map(|(_, v)| width(&v[i])).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (name, vals) in &rows {
        let mut line = format!("{name}{}", " ".repeat(name_w - width(name)));
        for (i, v) in vals.iter().enumerate() {
            line.push_str("   ");
            line.push_str(v);
            line.push_str(&" ".repeat(col_w[i] - width(v)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for r in reports {
        for e in &r.errors {
            let _ = writeln!(out, "[{}] {}: e.g. {}", r.label, e.kind, e.example);
        }
        for n in &r.notes {
            let _ = writeln!(out, "[{}] note: {n}", r.label);
        }
    }
    out
}

/// One line per event, messages from several Sentinels about the same thing within a second
/// merged: `  2.013 s  +switch-master  S0 S1 S2  mymaster 127.0.0.1 …`.
pub fn timeline(r: &Report) -> String {
    let mut sentinels: Vec<&str> = r.events.iter().map(|e| e.sentinel.as_str()).collect();
    sentinels.sort_unstable();
    sentinels.dedup();
    let index = |s: &str| sentinels.iter().position(|x| *x == s).unwrap_or(0);
    struct Row<'a> {
        t_ms: f64,
        event: &'a str,
        payload: &'a str,
        who: BTreeSet<usize>,
    }
    let mut rows: Vec<Row<'_>> = Vec::new();
    for e in &r.events {
        if let Some(row) = rows.iter_mut().rev().find(|row| {
            row.event == e.event && row.payload == e.payload && e.t_ms - row.t_ms < 1000.0
        }) {
            row.who.insert(index(&e.sentinel));
            continue;
        }
        rows.push(Row {
            t_ms: e.t_ms,
            event: &e.event,
            payload: &e.payload,
            who: [index(&e.sentinel)].into_iter().collect(),
        });
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Sentinel events [{}] ({}):",
        r.label,
        sentinels
            .iter()
            .enumerate()
            .map(|(i, s)| format!("S{i}={s}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Some(t) = r.trigger_ms {
        let (what, how) = match r.trigger.as_deref() {
            Some("sigkill-master") => ("SIGKILL of the master", "(by `bench soak`)"),
            _ => ("SENTINEL FAILOVER", "(sent by the benchmark)"),
        };
        let _ = writeln!(out, "  {:>8.3} s  {what:<34} {how}", t / 1e3);
    }
    for row in rows {
        let who = row
            .who
            .iter()
            .map(|i| format!("S{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let _ = writeln!(
            out,
            "  {:>8.3} s  {:<34} {:<9} {}",
            row.t_ms / 1e3,
            row.event,
            who,
            row.payload
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Ack, Keys};

    #[test]
    fn lost_counts_values_above_held_and_restarted_counters() {
        assert!(lost_acks(&[1, 2, 3], 3).is_empty());
        assert_eq!(lost_acks(&[1, 2, 3], 1), vec![1, 2]);
        // 4 and 5 acknowledged by the old master, then the counter restarted at 3 on the new
        // one: the first 4 and 5 are gone although the key holds 6.
        assert_eq!(lost_acks(&[1, 2, 3, 4, 5, 4, 5, 6], 6), vec![3, 4]);
        assert_eq!(lost_acks(&[1, 2], 0), vec![0, 1]);
    }

    fn writer(index: usize, acks: &[(u64, i64, u64)]) -> WriterReport {
        let mut r = WriterReport {
            key: format!("p:{index}"),
            index,
            keys: Keys::PerSlot,
            ..WriterReport::default()
        };
        for &(slot, value, at_us) in acks {
            r.acks.push(Ack { slot, value, at_us });
            r.acked += 1;
            r.latencies_us.push(100);
            r.slots.entry(slot).or_default().0 += 1;
        }
        r
    }

    fn inputs<'a>(reports: &'a [WriterReport], held: &'a HashMap<String, i64>) -> Inputs<'a> {
        Inputs {
            label: "t".into(),
            target: "x".into(),
            master_name: "mymaster".into(),
            client_timeout_ms: 2000,
            trigger: None,
            reports,
            held,
            events: vec![],
            trigger_ms: Some(100.0),
            switch_ms: Some(250.0),
            end_ms: 1000.0,
            master_before: None,
            master_after: None,
            notes: vec![],
        }
    }

    #[test]
    fn report_attributes_losses_to_slots_and_the_switch() {
        // Slot 0 kept; slot 2 acknowledged twice after the switch (at 260 and 270 ms) but the
        // master holds 1 for it; slot 5 written at 550 ms and kept.
        let w = writer(
            0,
            &[
                (0, 1, 10_000),
                (0, 2, 20_000),
                (2, 1, 260_000),
                (2, 2, 270_000),
                (5, 1, 550_000),
            ],
        );
        let held: HashMap<String, i64> = [
            ("p:0:0".to_string(), 2),
            ("p:0:2".to_string(), 1),
            ("p:0:5".to_string(), 1),
        ]
        .into_iter()
        .collect();
        let reports = [w];
        let r = build(inputs(&reports, &held));
        assert_eq!(r.acknowledged, 5);
        assert_eq!(r.keys_checked, 3);
        assert_eq!(r.lost, 1);
        assert_eq!(r.lost_after_switch, 1);
        assert_eq!(r.slots[2].lost, 1);
        assert_eq!(r.slots.len(), 11);
        assert_eq!(r.switch_to_first_write_ms, Some(10.0));
        assert_eq!(r.switch_to_first_kept_write_ms, Some(10.0));
        assert_eq!(r.trigger_to_switch_ms, Some(150.0));
        // 20 ms → 260 ms is the longest silence before the end (550 → 1000 is longer).
        assert_eq!(r.longest_gap.ms, 450.0);
        assert_eq!(r.longest_gap.from_ms, 550.0);
        let t = table(&[&r, &r]);
        assert!(t.contains("lost acknowledged writes"));
        let json = serde_json::to_value(&r).unwrap();
        for f in [
            "acknowledged",
            "errors",
            "reconnects",
            "lost",
            "lost_after_switch",
            "longest_gap",
            "latency_us",
            "trigger_to_switch_ms",
            "switch_to_first_write_ms",
            "events",
            "slots",
        ] {
            assert!(json.get(f).is_some(), "{f}");
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
