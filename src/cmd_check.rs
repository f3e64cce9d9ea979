//! `iot-canary check`: every check that needs no AWS call, so a config that passes `check`
//! fails at run time only for reasons outside the file (AWS answers). `--credentials` then
//! signs in as every identity and asks STS who the credentials belong to.
//!
//! Errors (exit 3): what the config parser rejects (located), no canary, a secret reference
//! that does not resolve (variable unset or empty, file unreadable or empty — never the value),
//! unreadable files the identities and `[target]` name, session policies that are not valid
//! policies or name actions AWS does not have. Warnings: loose secret-file permissions, client
//! ids a CI gate and a daemon would share, client ids the identity's Connect policy refuses
//! (with `--lab-scenario`; without the policies `check` says it cannot tell).

use std::path::{Path, PathBuf};

use clap::Args;
use iot_canary_core::config::identity::{IdentityKind, SessionPolicy, expand_session_policy};
use iot_canary_core::config::{self, Config};
use iot_canary_core::exit::Exit;
use iot_canary_core::plan::witness_template;
use iot_canary_core::secret::{self, Env, SecretRef};
use iot_canary_core::verdict::{Expect, ProbeAction};
use iot_canary_daemon::daemon::identities;
use iot_canary_daemon::identity::IdentityContext;

use crate::cmd_daemon::{Source, runtime};
use crate::out;

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    /// Read the config TOML from this environment variable instead of a file.
    #[arg(long, value_name = "VAR", conflicts_with = "config")]
    config_env: Option<String>,
    /// Also sign in as every identity and verify the credentials with sts:GetCallerIdentity.
    #[arg(long)]
    credentials: bool,
    /// The world: a lab scenario (`--lab-scenario`: also checks every canary's client id
    /// against its identity's Connect policy with the policy engine), or an ownership file with
    /// its policy sources (for `--coverage`).
    #[command(flatten)]
    world: crate::cmd_world::WorldArgs,
    /// Also print the share of the cross-tenant access matrix the canaries exercise, with the
    /// largest uncovered groups (docs/generate.md), over the world named here or in the
    /// config's `[coverage]`.
    #[arg(long)]
    coverage: bool,
    /// How many uncovered groups `--coverage` lists.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
}

/// The error for a config without canaries (a gate that would pass on nothing).
pub fn no_canaries(cfg: &Config) -> String {
    format!(
        "{}: no [[canary]]: nothing would be probed, so a gate would pass on nothing",
        cfg.path.display()
    )
}

/// What the offline checks found.
#[derive(Default)]
struct Findings {
    errors: Vec<String>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

fn readable(what: &str, p: &Path) -> Result<(), String> {
    std::fs::File::open(p)
        .map(|_| ())
        .map_err(|e| format!("{what} `{}` cannot be read: {e}", p.display()))
}

/// Secret references resolve (set and non-empty; readable and non-empty), without keeping or
/// showing the values.
fn secrets(cfg: &Config, f: &mut Findings) {
    let env = Env::process();
    for id in &cfg.identities {
        for (key, r) in id.config.secret_refs() {
            let which = match r {
                SecretRef::Env(_) => format!("{key}_env"),
                SecretRef::File(_) => format!("{key}_file"),
            };
            if let Err(e) = secret::resolve(r, &env) {
                f.errors.push(format!(
                    "identity `{}` (line {}), `{which}`: {}",
                    id.name, id.line, e.message
                ));
            }
        }
        for w in secret::secret_file_warnings(&id.config) {
            f.warnings.push(w);
        }
    }
    if let Err(e) = config::resolve_notifiers(cfg, &|v| std::env::var(v).ok()) {
        f.errors.push(e.to_string());
    }
}

/// Files the identities and `[target]` name are readable; session policies are policies.
fn files_and_policies(cfg: &Config, f: &mut Findings) {
    if let Some(ca) = &cfg.target.ca_file
        && let Err(e) = readable("[target] ca_file", ca)
    {
        f.errors.push(e);
    }
    for id in &cfg.identities {
        let at = format!("identity `{}` (line {})", id.name, id.line);
        match &id.config.kind {
            IdentityKind::Profile(p) => {
                for (key, path) in [
                    ("config_file", &p.config_file),
                    ("credentials_file", &p.credentials_file),
                ] {
                    if let Some(path) = path
                        && let Err(e) = readable(&format!("{at}, `{key}`"), path)
                    {
                        f.errors.push(e);
                    }
                }
            }
            IdentityKind::AssumeRole(a) => {
                let template = match &a.session_policy {
                    None => None,
                    Some(SessionPolicy::Inline(t)) => Some(Ok(t.clone())),
                    Some(SessionPolicy::File(p)) => Some(std::fs::read_to_string(p).map_err(|e| {
                        format!(
                            "{at}, `session_policy_file` `{}` cannot be read: {e}",
                            p.display()
                        )
                    })),
                };
                match template {
                    None => {}
                    Some(Err(e)) => f.errors.push(e),
                    Some(Ok(t)) => {
                        let doc = expand_session_policy(&t, &a.session_name, &a.role_arn);
                        match iot_canary_policy::Policy::parse(&id.name, &doc) {
                            Err(e) => f.errors.push(format!(
                                "{at}: the session policy is not a valid policy: {e}"
                            )),
                            Ok(p) => {
                                unknown_actions(&format!("{at}: session policy"), &p, &mut f.errors)
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn unknown_actions(label: &str, p: &iot_canary_policy::Policy, into: &mut Vec<String>) {
    for (statement, action, hint) in iot_canary_policy::actions::unknown_actions(p) {
        let hint = hint
            .map(|h| format!(" (did you mean {h}?)"))
            .unwrap_or_default();
        into.push(format!(
            "{label}, statement {statement}: `{action}` is not an AWS action, so the statement grants or denies nothing through it{hint}"
        ));
    }
}

/// Client ids a CI gate (`once`) and a daemon (`run`) on this config would both use: without
/// `${run}` the second process to connect takes the first one's connection over. A deny
/// `connect` canary's fixed id is the thing under test and is left alone, and canaries that
/// do not speak MQTT connect with none.
fn shared_ids(cfg: &Config, f: &mut Findings) {
    let mut shared: Vec<&str> = cfg
        .canaries
        .iter()
        .filter(|c| !(c.action == ProbeAction::Connect && c.expect == Expect::Deny))
        // Only MQTT canaries connect (a `delete-connection` canary's id is probe-named).
        .filter(|c| c.action.is_mqtt())
        .filter(|c| !c.client_id.contains("${run}"))
        .map(|c| c.name.as_str())
        .collect();
    let witnessed = cfg.canaries.iter().any(|c| c.witness.is_some());
    if witnessed && !witness_template(&cfg.target.client_id).contains("${run}") {
        shared.insert(0, "[target] client_id (the witnesses)");
    }
    if !shared.is_empty() {
        f.warnings.push(format!(
            "client ids of {} (first: {}) have no `${{run}}`: a CI gate (`once`) and a daemon (`run`) on this config at the same time would use the same ids, and AWS IoT disconnects the older holder of a client id; add `${{run}}` (a per-process suffix) where the policies allow it",
            if shared.len() == 1 { "1 canary".to_string() } else { format!("{} canaries", shared.len()) },
            shared[0]
        ));
    }
}

/// Every canary's CONNECT against its identity's policies (the same engine and request
/// context as the lab and `simulate`): a control or canary whose client id its identity may
/// not use could never see (inconclusive(connect_refused)).
fn connect_policies(cfg: &Config, scenario: Option<&Path>, f: &mut Findings) {
    use iot_canary::simulate as sim;
    let Some(path) = scenario else {
        f.notes.push(
            "client ids against Connect policies: cannot tell without the policies (`check --lab-scenario FILE`)".into(),
        );
        return;
    };
    let loaded = match iot_canary_lab::scenario::load(path) {
        Ok(l) => l,
        Err(e) => {
            f.errors.push(format!("--lab-scenario: {e}"));
            return;
        }
    };
    for (name, p) in &loaded.policies {
        let mut found = Vec::new();
        unknown_actions(&format!("{}: policy {name}", path.display()), p, &mut found);
        f.warnings.extend(found);
    }
    let now = std::time::SystemTime::now();
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let ids = sim::identities_from_scenario(&cfg.identities, &loaded, now, &read);
    let mut checked = 0;
    for (c, r) in cfg
        .canaries
        .iter()
        .zip(sim::simulate(&cfg.canaries, &ids, now))
    {
        // A deny `connect` canary's id is the thing under test; the API doors never connect.
        if (c.action == ProbeAction::Connect && c.expect == Expect::Deny) || !c.action.is_mqtt() {
            continue;
        }
        let Some(connect) = r.checks.first() else {
            if let Some(why) = &r.reason {
                f.notes
                    .push(format!("canary `{}`: cannot tell: {why}", c.name));
            }
            continue;
        };
        checked += 1;
        if connect.decision != "ALLOWED" {
            f.warnings.push(format!(
                "canary `{}`: identity `{}` may not connect as `{}` ({} by {}): its probes would only ever be inconclusive(connect_refused); use a client id the identity's Connect policy allows",
                c.name,
                c.identity,
                connect.resource,
                connect.decision,
                connect.deciding.as_deref().unwrap_or("no statement")
            ));
        }
    }
    f.notes.push(format!(
        "client ids against Connect policies: {checked} canaries checked with {}",
        path.display()
    ));
}

pub fn check(a: CheckArgs) -> Exit {
    let source = Source::new(&a.config, a.config_env.as_deref());
    let cfg = match source.read() {
        Ok(c) => c,
        Err(e) => {
            out::error(e);
            return Exit::Usage;
        }
    };
    let mut f = Findings::default();
    if cfg.canaries.is_empty() {
        f.errors.push(no_canaries(&cfg));
    }
    secrets(&cfg, &mut f);
    files_and_policies(&cfg, &mut f);
    shared_ids(&cfg, &mut f);
    connect_policies(&cfg, a.world.lab_scenario.as_deref(), &mut f);
    for e in &f.errors {
        out::error(e);
    }
    let mut report = Vec::new();
    if f.errors.is_empty() {
        report.push(format!(
            "{}: ok ({} identities, {} canaries, {} notifiers)",
            cfg.path.display(),
            cfg.identities.len(),
            cfg.canaries.len(),
            cfg.notifiers.len()
        ));
    }
    report.extend(f.warnings.iter().map(|w| format!("warning: {w}")));
    report.extend(f.notes.iter().map(|n| format!("note: {n}")));
    if out::print(&(report.join("\n") + "\n")).is_err() || !f.errors.is_empty() {
        return if f.errors.is_empty() {
            Exit::Ok
        } else {
            Exit::Usage
        };
    }
    if a.coverage {
        let exit = coverage(&a, &cfg);
        if exit != Exit::Ok {
            return exit;
        }
    }
    if !a.credentials {
        return Exit::Ok;
    }
    verify_credentials(&cfg)
}

/// `--coverage`: the ratio over the world named on the command line, else the config's
/// `[coverage]` world.
fn coverage(a: &CheckArgs, cfg: &Config) -> Exit {
    use crate::cmd_world::{self, WorldArgs};
    let world = if a.world.is_given() {
        a.world.clone()
    } else if let Some(c) = &cfg.coverage {
        WorldArgs::from_coverage(c)
    } else {
        out::error(
            "--coverage needs a world: --lab-scenario FILE, --ownership FILE --policies SOURCES..., or a [coverage] table",
        );
        return Exit::Usage;
    };
    let now = std::time::SystemTime::now();
    match cmd_world::load(
        &world,
        "IOT_CANARY_DEMO",
        &crate::lab_world::LabEndpoints::default(),
        now,
    ) {
        Ok(w) => {
            let text = iot_canary_audit::coverage::coverage(&w, cfg, now).render(a.top);
            // A reader that went away (`| head`) leaves nothing to report to.
            let _ = out::print(&text);
            Exit::Ok
        }
        Err(e) => {
            out::error(format_args!("coverage: {e}"));
            Exit::Usage
        }
    }
}

/// One credential fetch per identity (an assume-role identity signed by another reuses that
/// identity's cached credentials), then sts:GetCallerIdentity with what came back: keys that
/// were never used are not "ok".
fn verify_credentials(cfg: &Config) -> Exit {
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return crate::cmd_daemon::fail(e),
    };
    let set = match identities::identity_set(cfg, Env::process()) {
        Ok(s) => s,
        Err(e) => {
            out::error(e);
            return Exit::Usage;
        }
    };
    let ctx = IdentityContext::new(cfg.target.region.clone(), cfg.endpoints.clone());
    rt.block_on(async {
        let mut exit = Exit::Ok;
        for spec in &cfg.identities {
            let Some(cache) = set.get(&spec.name) else {
                continue;
            };
            let verified = match cache.current().await {
                Ok(c) => iot_canary_daemon::identity::sdk::caller_identity(&ctx, &c)
                    .await
                    .map(|who| (c, who)),
                Err(e) => Err(e),
            };
            let line = match verified {
                Ok((c, who)) => format!(
                    "identity {} ({}): ok, {}; STS says {} (account {})",
                    spec.name,
                    spec.kind,
                    crate::cmd_daemon::credential_summary(&c, std::time::SystemTime::now()),
                    who.arn,
                    who.account
                ),
                Err(e) => {
                    exit = Exit::Blind;
                    format!(
                        "identity {} ({}): FAILED ({}): {}",
                        spec.name, spec.kind, e.reason, e.message
                    )
                }
            };
            if out::println(&line).is_err() {
                break;
            }
        }
        exit
    })
}
