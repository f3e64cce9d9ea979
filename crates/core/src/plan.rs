//! Pure scheduling decisions: shards, jitter, client-id expansion, canary selection, and the
//! gate's exit code.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::Canary;
use crate::exit::Exit;
use crate::verdict::{Expect, Standing};

/// `--shard I/N`: replica I (0-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard `{s}`: expected I/N with 0 <= I < N, e.g. 0/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether this replica owns `canary_name` (FNV-1a: stable across builds and platforms).
    pub fn owns(&self, canary_name: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in canary_name.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        (h % u64::from(self.count)) as u32 == self.index
    }
}

/// With `--shard I/N` (N > 1) every replica also runs the controls of the identities it probes,
/// so two replicas would connect with the same control client id at once and AWS IoT would
/// disconnect the older one (and refuse a second CONNECT within a second). Controls, and the
/// witness template derived from `[target] client_id`, must therefore contain `${shard}`; deny
/// canaries run on their owning replica only. Returns the offending names (`[target]` for the
/// witness template).
pub fn unsharded_client_ids<'a>(
    canaries: &'a [Canary],
    target_client_id: &str,
    shard: Shard,
) -> Vec<&'a str> {
    if shard.count <= 1 {
        return Vec::new();
    }
    let mut out: Vec<&str> = canaries
        .iter()
        .filter(|c| c.expect == Expect::Allow && !c.client_id.contains("${shard}"))
        .map(|c| c.name.as_str())
        .collect();
    if !target_client_id.contains("${shard}") {
        out.insert(0, "[target]");
    }
    out
}

/// What this replica exports on /metrics and the status page: only the canaries it owns, so
/// two replicas never both export a series for one canary (an unprobed canary would read as
/// "no breach" on the replica that does not own it).
pub fn reported_view(cfg: &crate::config::Config, shard: Shard) -> crate::config::Config {
    let mut view = cfg.clone();
    if shard.count > 1 {
        view.canaries.retain(|c| shard.owns(&c.name));
    }
    view
}

/// The canaries one round runs: the owned ones matching `only`, plus the controls of every
/// identity involved (a denial needs its identity's control in the same round, even if another
/// replica owns and reports that control; `Daemon::round` reports only owned canaries).
pub fn select<'a>(canaries: &'a [Canary], shard: Shard, only: Option<&str>) -> Vec<&'a Canary> {
    let chosen: Vec<&Canary> = canaries
        .iter()
        .filter(|c| shard.owns(&c.name) && only.is_none_or(|g| glob_match(g, &c.name)))
        .collect();
    let identities: BTreeSet<&str> = chosen.iter().map(|c| c.identity.as_str()).collect();
    canaries
        .iter()
        .filter(|c| {
            chosen.iter().any(|x| x.name == c.name)
                || (c.is_control() && identities.contains(c.identity.as_str()))
        })
        .collect()
}

/// `*` matches any run of characters, `?` one character.
pub use iot_canary_policy::actions::wildcard_match as glob_match;

/// The delay before the next round: `interval` moved by up to ±`jitter`; `unit` in [0, 1).
pub fn jittered(interval: Duration, jitter: f64, unit: f64) -> Duration {
    let spread = interval.as_secs_f64() * jitter.clamp(0.0, 1.0);
    let offset = spread * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(0.0))
}

/// Whether `run` closes the pooled connections while it waits for the next round: a pause
/// longer than the keep-alive would only keep idle sockets pinging (CPU, ~150 KB of buffers
/// per connection), so they are closed and the next round connects afresh.
pub fn close_between_rounds(pause: Duration, keep_alive: Duration) -> bool {
    pause >= keep_alive
}

/// What an identity's credentials say about it, for client-id placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIdVars<'a> {
    pub identity: &'a str,
    pub identity_id: Option<&'a str>,
    pub username: Option<&'a str>,
}

/// Length of `${run}`: six hex digits, random per process.
pub const RUN_ID_LEN: usize = 6;

/// The `${run}` value for a random number (pure): the low 24 bits as six hex digits, so two
/// processes started together (a CI gate beside the daemon, two gates) get different client
/// ids with odds of 1 in 16.7 million of a clash.
pub fn run_id(random: u32) -> String {
    format!("{:0width$x}", random & 0x00FF_FFFF, width = RUN_ID_LEN)
}

/// Where a probe runs: its canary, this replica, this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSlot<'a> {
    pub canary: &'a str,
    pub shard: Shard,
    /// This process's `${run}` value ([`run_id`]).
    pub run: &'a str,
}

/// Expands `${identity_id}`, `${username}`, `${principal}`, `${identity}`, `${canary}`,
/// `${shard}` (this replica's index; `0` when unsharded) and `${run}` (this process's id). A
/// template without placeholders is returned verbatim (`+` stays `+`).
pub fn expand_client_id(
    template: &str,
    who: &ClientIdVars<'_>,
    slot: &ProbeSlot<'_>,
) -> Result<String, String> {
    let principal = who.identity_id.or(who.username).unwrap_or(who.identity);
    let mut out = template
        .replace("${identity}", who.identity)
        .replace("${canary}", slot.canary)
        .replace("${shard}", &slot.shard.index.to_string())
        .replace("${run}", slot.run);
    out = out.replace("${principal}", principal);
    for (ph, val) in [
        ("${identity_id}", who.identity_id),
        ("${username}", who.username),
    ] {
        if out.contains(ph) {
            match val {
                Some(v) => out = out.replace(ph, v),
                None => {
                    return Err(format!(
                        "identity `{}` has no {} for `{ph}`",
                        who.identity,
                        &ph[2..ph.len() - 1]
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// The client id template of a canary's witness, from `[target] client_id`: one id per canary
/// (witness connections are not pooled), marked as the witness's.
pub fn witness_template(target_client_id: &str) -> String {
    if target_client_id.contains("${canary}") {
        format!("{target_client_id}-witness")
    } else {
        format!("{target_client_id}-witness-${{canary}}")
    }
}

/// `--settle`: two consecutive rounds agree on every canary's verdict.
pub fn settled(
    prev: &[(String, crate::verdict::Verdict)],
    cur: &[(String, crate::verdict::Verdict)],
) -> bool {
    !cur.is_empty() && prev == cur
}

/// The gate's exit code over a round's standings.
pub fn exit_for(standings: impl IntoIterator<Item = Standing>) -> Exit {
    standings.into_iter().fold(Exit::Ok, |acc, s| {
        acc.worst(match s {
            Standing::Ok => Exit::Ok,
            Standing::Breach => Exit::Breach,
            Standing::ControlFailed | Standing::Blind => Exit::Blind,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Expect, MqttVersion, ProbeAction};

    fn canary(name: &str, identity: &str, expect: Expect) -> Canary {
        Canary {
            name: name.into(),
            identity: identity.into(),
            action: ProbeAction::Subscribe,
            expect,
            topic: None,
            topic_filter: Some("a/#".into()),
            thing: None,
            shadow: None,
            client_id: "x".into(),
            witness: None,
            qos: 1,
            mqtt_version: MqttVersion::V5,
            timeout: Duration::from_secs(1),
            marker: None,
            policy_name: None,
            role_arn: None,
        }
    }

    #[test]
    fn shards_partition_without_overlap_and_are_stable() {
        let names: Vec<String> = (0..500).map(|i| format!("canary-{i}")).collect();
        for n in 1..=5u32 {
            let mut counts = vec![0; n as usize];
            for name in &names {
                let owners: Vec<u32> = (0..n)
                    .filter(|i| {
                        Shard {
                            index: *i,
                            count: n,
                        }
                        .owns(name)
                    })
                    .collect();
                assert_eq!(owners.len(), 1, "{name} in {n} shards");
                counts[owners[0] as usize] += 1;
            }
            assert!(
                counts.iter().all(|c| *c > 500 / n as usize / 2),
                "unbalanced {counts:?}"
            );
        }
        // Pinned values: the hash must not change between releases (replicas would overlap).
        assert!(
            Shard { index: 1, count: 2 }.owns("alice-cannot-subscribe-bob-plug")
                != Shard { index: 0, count: 2 }.owns("alice-cannot-subscribe-bob-plug")
        );
    }

    #[test]
    fn sharded_templates_need_the_shard_placeholder() {
        let mk = |name: &str, id: &str| Canary {
            client_id: id.to_string(),
            ..canary(name, "alice", Expect::Deny)
        };
        let mut cs = [
            mk("a", "x-${shard}-${canary}"),
            mk("b", "x-${canary}"),
            mk("c", "bob-plug"),
        ];
        cs[0].expect = Expect::Allow;
        cs[1].expect = Expect::Allow;
        let two = Shard { index: 1, count: 2 };
        assert!(unsharded_client_ids(&cs, "x-${canary}", Shard::ALL).is_empty());
        // The deny canary `c` targets a fixed foreign id and runs on one replica only.
        assert_eq!(unsharded_client_ids(&cs, "x-${shard}", two), ["b"]);
        assert_eq!(unsharded_client_ids(&cs, "x", two), ["[target]", "b"]);
        let who = ClientIdVars {
            identity: "alice",
            ..Default::default()
        };
        assert_eq!(
            expand_client_id("${identity}-${shard}-${canary}", &who, &slot("c", two)).unwrap(),
            "alice-1-c"
        );
        assert_eq!(
            expand_client_id("${identity}-${shard}", &who, &slot("c", Shard::ALL)).unwrap(),
            "alice-0"
        );
    }

    #[test]
    fn replicas_export_disjoint_canaries() {
        let src =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../canaries.toml"))
                .expect("repo canaries.toml");
        let cfg = crate::config::parse(std::path::Path::new("canaries.toml"), &src)
            .expect("repo canaries.toml parses");
        let names = |c: &crate::config::Config| -> BTreeSet<String> {
            c.canaries.iter().map(|k| k.name.clone()).collect()
        };
        let all = names(&reported_view(&cfg, Shard::ALL));
        assert_eq!(all.len(), cfg.canaries.len());
        let a = names(&reported_view(&cfg, Shard { index: 0, count: 2 }));
        let b = names(&reported_view(&cfg, Shard { index: 1, count: 2 }));
        assert!(a.is_disjoint(&b) && !a.is_empty() && !b.is_empty());
        assert_eq!(a.union(&b).cloned().collect::<BTreeSet<_>>(), all);
        let text = crate::render::metrics::render(
            &reported_view(&cfg, Shard { index: 0, count: 2 }),
            &Default::default(),
        );
        for name in &b {
            assert!(
                !text.contains(&format!("canary=\"{name}\"")),
                "{name} exported by replica 0"
            );
        }
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("0/3"), Ok(Shard { index: 0, count: 3 }));
        for bad in ["3/3", "1/0", "x/2", "1", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selection_brings_controls_along() {
        let cs = vec![
            canary("a-deny", "alice", Expect::Deny),
            canary("a-ctl", "alice", Expect::Allow),
            canary("b-deny", "bob", Expect::Deny),
            canary("b-ctl", "bob", Expect::Allow),
        ];
        let names = |v: Vec<&Canary>| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(select(&cs, Shard::ALL, Some("a-*"))),
            ["a-deny", "a-ctl"]
        );
        assert_eq!(
            names(select(&cs, Shard::ALL, Some("b-deny"))),
            ["b-deny", "b-ctl"]
        );
        assert_eq!(names(select(&cs, Shard::ALL, None)).len(), 4);
        assert!(select(&cs, Shard::ALL, Some("zzz")).is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("alice-*", "alice-x"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("*-bob-*", "alice-cannot-bob-plug"));
        assert!(!glob_match("alice-*", "bob-x"));
        assert!(!glob_match("a?c", "ac"));
    }

    #[test]
    fn jitter_stays_in_band() {
        let i = Duration::from_secs(60);
        assert_eq!(jittered(i, 0.1, 0.5), i);
        assert_eq!(jittered(i, 0.1, 0.0), Duration::from_secs(54));
        assert!(jittered(i, 0.1, 0.999) <= Duration::from_secs(66));
        assert_eq!(jittered(i, 0.0, 0.9), i);
    }

    #[test]
    fn idle_connections_close_only_for_long_pauses() {
        let ka = Duration::from_secs(30);
        assert!(close_between_rounds(Duration::from_secs(60), ka));
        assert!(close_between_rounds(ka, ka));
        assert!(!close_between_rounds(Duration::from_secs(5), ka));
    }

    fn slot(canary: &str, shard: Shard) -> ProbeSlot<'_> {
        ProbeSlot {
            canary,
            shard,
            run: "0a1b2c",
        }
    }

    #[test]
    fn client_id_expansion() {
        let who = ClientIdVars {
            identity: "alice",
            identity_id: Some("us-east-1:abc"),
            username: Some("alice"),
        };
        assert_eq!(
            expand_client_id(
                "${principal}-iot-canary-${canary}",
                &who,
                &slot("c1", Shard::ALL)
            )
            .unwrap(),
            "us-east-1:abc-iot-canary-c1"
        );
        assert_eq!(
            expand_client_id("${username}-x", &who, &slot("c1", Shard::ALL)).unwrap(),
            "alice-x"
        );
        let ops = ClientIdVars {
            identity: "ops",
            identity_id: None,
            username: None,
        };
        assert_eq!(
            expand_client_id("${principal}-w", &ops, &slot("c", Shard::ALL)).unwrap(),
            "ops-w"
        );
        assert!(
            expand_client_id("${identity_id}", &ops, &slot("c", Shard::ALL))
                .unwrap_err()
                .contains("identity_id")
        );
        assert_eq!(
            expand_client_id(
                "${principal}-${run}-${canary}",
                &ops,
                &slot("c", Shard::ALL)
            )
            .unwrap(),
            "ops-0a1b2c-c"
        );
        for verbatim in ["+", "#", "bob-plug"] {
            assert_eq!(
                expand_client_id(verbatim, &ops, &slot("c", Shard::ALL)).unwrap(),
                verbatim
            );
        }
    }

    #[test]
    fn run_ids_are_six_hex_digits() {
        assert_eq!(run_id(0), "000000");
        assert_eq!(run_id(0xFFFF_FFFF), "ffffff");
        assert_eq!(run_id(0x1234_5678).len(), RUN_ID_LEN);
    }

    #[test]
    fn settling() {
        use crate::verdict::{Reason, Verdict};
        let a = vec![("x".to_string(), Verdict::Denied)];
        let b = vec![("x".to_string(), Verdict::Inconclusive(Reason::Timeout))];
        assert!(settled(&a, &a));
        assert!(!settled(&a, &b));
        assert!(!settled(&[], &[]));
    }

    #[test]
    fn exit_codes() {
        use Standing::*;
        assert_eq!(exit_for([Ok, Ok]), Exit::Ok);
        assert_eq!(exit_for([Ok, Blind]), Exit::Blind);
        assert_eq!(exit_for([ControlFailed, Ok]), Exit::Blind);
        assert_eq!(exit_for([Blind, Breach, ControlFailed]), Exit::Breach);
        assert_eq!(exit_for([]), Exit::Ok);
    }
}
