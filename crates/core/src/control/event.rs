//! Sentinel's pub/sub events, parsed into what the control plane decides on.
//!
//! Payload shapes (Redis `src/sentinel.c`, `sentinelEvent`): most events are about one instance
//! and read `<type> <name> <ip> <port> [@ <master-name> <master-ip> <master-port>]`, the `@`
//! part naming the master a replica or Sentinel belongs to *in the announcing Sentinel's view*.
//! `+switch-master` reads `<master-name> <old-ip> <old-port> <new-ip> <new-port>` and carries no
//! epoch. `+new-epoch` is only the Sentinel's new current epoch, with no master name.

use crate::config::HostPort;

/// What an event says, as far as routing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A Sentinel adopted a new master address for our name.
    SwitchMaster { old: HostPort, new: HostPort },
    /// The Sentinel's current epoch moved (it started or voted in an election).
    NewEpoch(u64),
    /// The Sentinel starts failing over a master (it is a candidate leader).
    TryFailover,
    /// A quorum agrees the master is down.
    Odown,
    /// The master is no longer objectively down.
    OdownCleared,
    /// A failover ended without switching (`-failover-abort-<why>`).
    Abort(String),
    /// The leader sent `SLAVEOF NO ONE` to the replica it selected.
    WaitPromotion,
    /// The leader saw its selected replica report `master`: it will switch.
    PromotedSlave,
    /// The leader is reconfiguring the other replicas (after the promotion).
    ReconfSlaves,
    /// A Sentinel found a replica claiming master and sent it back to its master.
    ConvertToSlave,
    /// Any other event: counted and logged, never decided on.
    Other,
}

/// The instance an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `master`, `slave` or `sentinel`.
    pub role: String,
    pub addr: HostPort,
    /// For a replica or Sentinel: its master in the announcing Sentinel's view.
    pub master: Option<HostPort>,
}

impl Instance {
    /// The master this event concerns: the instance itself or the one after `@`.
    pub fn master_addr(&self) -> Option<&HostPort> {
        if self.role == "master" {
            Some(&self.addr)
        } else {
            self.master.as_ref()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The channel, e.g. `+switch-master`, for logs and the per-event counter.
    pub name: String,
    pub kind: Kind,
    pub instance: Option<Instance>,
}

impl Event {
    /// True when this is an instance event about the master at `addr` itself.
    pub fn is_about_master(&self, addr: &HostPort) -> bool {
        self.instance
            .as_ref()
            .is_some_and(|i| i.role == "master" && &i.addr == addr)
    }
}

fn kind_of(channel: &str) -> Kind {
    match channel {
        "+try-failover" => Kind::TryFailover,
        "+odown" => Kind::Odown,
        "-odown" => Kind::OdownCleared,
        "+failover-state-wait-promotion" => Kind::WaitPromotion,
        "+promoted-slave" => Kind::PromotedSlave,
        "+failover-state-reconf-slaves" => Kind::ReconfSlaves,
        "+convert-to-slave" => Kind::ConvertToSlave,
        c => match c.strip_prefix("-failover-abort-") {
            Some(why) => Kind::Abort(why.to_string()),
            None => Kind::Other,
        },
    }
}

fn host_port(host: &str, port: &str) -> Option<HostPort> {
    Some(HostPort::new(host, port.parse::<u16>().ok()?))
}

/// Parse one event; None when it is about another master name or not understood.
pub fn parse_event(channel: &str, payload: &str, master_name: &str) -> Option<Event> {
    let words: Vec<&str> = payload.split_whitespace().collect();
    if channel == "+switch-master" {
        let [name, old_ip, old_port, new_ip, new_port] = words.as_slice() else {
            return None;
        };
        if *name != master_name {
            return None;
        }
        return Some(Event {
            name: channel.to_string(),
            kind: Kind::SwitchMaster {
                old: host_port(old_ip, old_port)?,
                new: host_port(new_ip, new_port)?,
            },
            instance: None,
        });
    }
    if channel == "+new-epoch" {
        let [epoch] = words.as_slice() else {
            return None;
        };
        return Some(Event {
            name: channel.to_string(),
            kind: Kind::NewEpoch(epoch.parse().ok()?),
            instance: None,
        });
    }
    if words.len() < 4 {
        return None;
    }
    let at = words.iter().position(|w| *w == "@");
    let master = match at {
        Some(at) => {
            if words.get(at + 1) != Some(&master_name) {
                return None;
            }
            Some(host_port(words.get(at + 2)?, words.get(at + 3)?)?)
        }
        None if words[0] == "master" && words[1] == master_name => None,
        None => return None,
    };
    Some(Event {
        name: channel.to_string(),
        kind: kind_of(channel),
        instance: Some(Instance {
            role: words[0].to_string(),
            addr: host_port(words[2], words[3])?,
            master,
        }),
    })
}

/// Events after which a watcher queries its Sentinel at once instead of at the next tick.
/// After `+switch-master` this query is what tells the controller the switch's epoch.
pub fn requery_after(kind: &Kind, name: &str) -> bool {
    matches!(
        kind,
        Kind::SwitchMaster { .. }
            | Kind::Odown
            | Kind::OdownCleared
            | Kind::Abort(_)
            | Kind::ConvertToSlave
            | Kind::PromotedSlave
    ) || matches!(
        name,
        "+failover-end"
            | "+failover-end-for-timeout"
            | "+slave"
            | "+role-change"
            | "+sdown"
            | "-sdown"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> HostPort {
        HostPort::parse(s).unwrap()
    }

    #[test]
    fn switch_master_for_our_name_only() {
        let ev = parse_event(
            "+switch-master",
            "mymaster 127.0.0.1 6379 127.0.0.1 6380",
            "mymaster",
        )
        .unwrap();
        assert_eq!(
            ev.kind,
            Kind::SwitchMaster {
                old: hp("127.0.0.1:6379"),
                new: hp("127.0.0.1:6380")
            }
        );
        for bad in [
            "other 127.0.0.1 6379 127.0.0.1 6380",
            "mymaster 1 2",
            "mymaster 127.0.0.1 x 127.0.0.1 6380",
            "mymaster 127.0.0.1 6379 127.0.0.1 6380 extra",
        ] {
            assert!(
                parse_event("+switch-master", bad, "mymaster").is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_epoch_is_a_bare_number() {
        let ev = parse_event("+new-epoch", "7", "mymaster").unwrap();
        assert_eq!(ev.kind, Kind::NewEpoch(7));
        assert!(parse_event("+new-epoch", "seven", "mymaster").is_none());
        assert!(parse_event("+new-epoch", "7 8", "mymaster").is_none());
    }

    #[test]
    fn instance_events_name_their_master() {
        let ev = parse_event("+try-failover", "master mymaster 10.0.0.1 6379", "mymaster").unwrap();
        assert_eq!(ev.kind, Kind::TryFailover);
        assert!(ev.is_about_master(&hp("10.0.0.1:6379")));
        assert!(!ev.is_about_master(&hp("10.0.0.1:6380")));
        let ev = parse_event(
            "+odown",
            "master mymaster 10.0.0.1 6379 #quorum 2/2",
            "mymaster",
        )
        .unwrap();
        assert_eq!(ev.kind, Kind::Odown);
        let ev = parse_event(
            "+convert-to-slave",
            "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379",
            "mymaster",
        )
        .unwrap();
        assert_eq!(ev.kind, Kind::ConvertToSlave);
        let i = ev.instance.unwrap();
        assert_eq!(i.addr, hp("10.0.0.2:6379"));
        assert_eq!(i.master_addr(), Some(&hp("10.0.0.1:6379")));
        let ev = parse_event(
            "-failover-abort-slave-timeout",
            "master mymaster 10.0.0.1 6379",
            "mymaster",
        )
        .unwrap();
        assert_eq!(ev.kind, Kind::Abort("slave-timeout".into()));
        assert!(parse_event(
            "+sdown",
            "slave 10.0.0.1:6379 10.0.0.1 6379 @ other 10.0.0.2 6379",
            "mymaster"
        )
        .is_none());
        assert!(parse_event("+sdown", "master other 10.0.0.1 6379", "mymaster").is_none());
        assert!(parse_event("+sdown", "garbage", "mymaster").is_none());
        assert!(parse_event("+sdown", "slave a 1.2.3.4 6379 @ mymaster", "mymaster").is_none());
        assert!(parse_event("", "", "mymaster").is_none());
    }
}
