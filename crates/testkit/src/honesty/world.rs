//! One random world: a lab scenario whose policies carry AWS IoT's documented traps, the
//! principals the daemon probes as (IAM users, an assumed role with the credential-vending
//! session policy, a Cognito user whose role is intersected with its IoT policy, a Cognito
//! guest), and random canaries of every kind over both MQTT versions.
//!
//! The traps (aws-iot-authz.md): a wildcard topic filter past a `Deny` on a specific filter
//! (`iot:Subscribe` resources match the filter text literally); `${iot:ClientId}` in a
//! resource with `+` and `#` as client ids; `NotResource`; policy variables (`${iot:ClientId}`,
//! `${aws:username}`, `${cognito-identity.amazonaws.com:sub}`); an action wildcard (`iot:Re*`
//! is Receive *and* RetainPublish); an STS session policy (rendered from the vending template)
//! and a Cognito role ∩ IoT policy.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use iot_canary_core::verdict::{Expect, MqttVersion, ProbeAction};
use iot_canary_lab::broker::session::authorize;
use iot_canary_lab::identity::vending;
use iot_canary_lab::state::{IssuedCredentials, LabState, Principal, cognito_identity_id};
use iot_canary_policy::{IotAction, Policy};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{DEMO_APP_CLIENT, DEMO_POOL, DEMO_USER_POOL};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const ARN: &str = "arn:aws:iot:us-east-1:123456789012";
const THINGS: [&str; 3] = ["lamp-1", "lamp-2", "door-7"];
const LEAVES: [&str; 4] = ["telemetry", "cmd", "state", "secret"];

/// How many canaries a world holds.
#[derive(Debug, Clone, Copy)]
pub struct WorldSize {
    /// Random canaries per (probing identity, MQTT version), controls included.
    pub per_identity_version: usize,
}

/// Who the daemon probes as, and the keys it signs with (registered in the lab).
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub principal: Principal,
}

/// One canary as planned, with what the engine says of it once the lab is up.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub identity: String,
    pub action: ProbeAction,
    pub version: MqttVersion,
    pub client_id: String,
    pub topic: Option<String>,
    pub topic_filter: Option<String>,
    pub thing: Option<String>,
    pub qos: u8,
    pub expect: Expect,
    pub truth: Option<Truth>,
    /// A topic the canary's connection may subscribe to and receive (the engine says so),
    /// for the receive and subscribe probes' liveness markers (receive and subscribe only).
    pub marker_topic: Option<String>,
}

/// The engine's answer for one canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truth {
    /// The canary's CONNECT with its client id is allowed.
    pub connect: bool,
    /// The whole attempt is allowed (CONNECT and every action the probe needs).
    pub allowed: bool,
}

/// A generated world.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub policies: Vec<(String, String)>,
    pub identities: Vec<Identity>,
    pub canaries: Vec<Planned>,
    /// The `[realism]` table (TOML) the scenario carries.
    pub realism: String,
    users: Vec<(String, String, String, Vec<String>)>,
    vending_role_policies: Vec<String>,
    vending_template: String,
    cognito_role_policies: Vec<String>,
    cognito_iot_policies: Vec<String>,
    guest_role_policies: Vec<String>,
}

/// The witness: may do anything.
pub const WITNESS: &str = "ops";
const WITNESS_KEYS: (&str, &str) = ("AKIALABOPS0000000001", "lab-secret-ops");

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        // Invariant: every list picked from is a non-empty constant or literal.
        xs.choose(&mut self.rng).expect("non-empty choice")
    }
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }
    fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }
}

fn json_list(xs: &[String]) -> String {
    let quoted: Vec<String> = xs
        .iter()
        .map(|x| serde_json::Value::String(x.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(","))
}

fn stmt(effect: &str, actions: &[&str], key: &str, resources: &[String]) -> String {
    let actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    format!(
        r#"{{"Effect":"{effect}","Action":{},"{key}":{}}}"#,
        json_list(&actions),
        json_list(resources)
    )
}

/// Allows `actions` on `resources` (ARN tails: `topic/...`, `topicfilter/...`).
fn grant(s: &mut Vec<String>, actions: &[&str], resources: &[String]) {
    let arns: Vec<String> = resources.iter().map(|r| format!("{ARN}:{r}")).collect();
    s.push(stmt("Allow", actions, "Resource", &arns));
}

/// Allows `actions` on the topics `pattern` and `iot:Subscribe` on the same filters.
fn topics(s: &mut Vec<String>, actions: &[&str], pattern: &str) {
    grant(s, actions, &[format!("topic/{pattern}")]);
    grant(s, &["iot:Subscribe"], &[format!("topicfilter/{pattern}")]);
}

fn doc(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// A random identity policy for a principal whose client ids start `prefix-`: mostly sane
/// grants around one or two things, each trap with some probability.
fn random_policy(g: &mut Gen, prefix: &str, var_user: &str) -> String {
    let mut s = Vec::new();
    let thing = if g.chance(0.7) {
        home(prefix)
    } else {
        *g.pick(&THINGS)
    };
    let other = *g.pick(&THINGS);
    // Connect as its own prefix (what a working deployment grants; the canaries' own client
    // ids use it), plus sometimes the `${iot:ClientId}` trap (any client id, `+` and `#`
    // included) or every client id.
    grant(&mut s, &["iot:Connect"], &[format!("client/{prefix}-*")]);
    match g.below(10) {
        0..=2 => grant(&mut s, &["iot:Connect"], &["client/${iot:ClientId}".into()]),
        3 => s.push(stmt("Allow", &["iot:Connect"], "Resource", &["*".into()])),
        _ => {}
    }
    // The liveness-marker topic a careful user grants (docs/evidence-rules.md).
    grant(
        &mut s,
        &["iot:Subscribe", "iot:Receive"],
        &[
            format!("topic/canary/{prefix}/marker"),
            format!("topicfilter/canary/{prefix}/marker"),
        ],
    );
    // Own thing's topics.
    const PUBRECV: [&[&str]; 5] = [
        &["iot:Publish", "iot:Receive"],
        &["iot:Publish"],
        &["iot:Receive"],
        &["iot:Re*"],
        &["iot:*"],
    ];
    let pubrecv: &[&str] = g.pick::<&[&str]>(&PUBRECV);
    topics(&mut s, pubrecv, &format!("devices/{thing}/*"));
    if g.chance(0.5) {
        // Wildcard past a Deny: the specific filter is denied, a wildcard one is not.
        s.push(stmt(
            "Deny",
            &["iot:Subscribe"],
            "Resource",
            &[format!("{ARN}:topicfilter/devices/{other}/secret")],
        ));
        grant(
            &mut s,
            &["iot:Subscribe"],
            &["topicfilter/devices/*".into()],
        );
        if g.chance(0.5) {
            grant(&mut s, &["iot:Receive"], &["topic/devices/*".into()]);
        }
    }
    if g.chance(0.35) {
        // NotResource: an Allow (or Deny) of everything except one thing's topics.
        let effect = if g.chance(0.5) { "Allow" } else { "Deny" };
        s.push(stmt(
            effect,
            &["iot:Publish"],
            "NotResource",
            &[format!("{ARN}:topic/devices/{other}/*")],
        ));
    }
    if g.chance(0.5) {
        // Policy variables: per-client and per-user topics.
        let var = if g.chance(0.6) {
            "${iot:ClientId}".to_string()
        } else {
            var_user.to_string()
        };
        topics(
            &mut s,
            &["iot:Publish", "iot:Receive"],
            &format!("users/{var}/*"),
        );
    }
    if g.chance(0.4) {
        grant(
            &mut s,
            &["iot:RetainPublish"],
            &[format!("topic/devices/{thing}/state/*")],
        );
    }
    if g.chance(0.5) {
        let t = *g.pick(&THINGS);
        topics(
            &mut s,
            &["iot:Publish", "iot:Receive"],
            &format!("$aws/things/{t}/shadow/*"),
        );
    }
    if g.chance(0.3) {
        let a = *g.pick(&["iot:Publish", "iot:Receive", "iot:Subscribe", "iot:*"]);
        let r = *g.pick(&[
            "topic/devices/lamp-2/*",
            "topic/fleet/*",
            "topicfilter/fleet/*",
            "client/guest-*",
            "*",
        ]);
        let res = if r == "*" {
            "*".to_string()
        } else {
            format!("{ARN}:{r}")
        };
        let effect = if g.chance(0.4) { "Deny" } else { "Allow" };
        s.push(stmt(effect, &[a], "Resource", &[res]));
    }
    doc(&s)
}

/// A role policy that a second layer (session policy, IoT policy) cuts down.
fn random_role_policy(g: &mut Gen, prefix: &str) -> String {
    match g.below(4) {
        0 => doc(&[stmt("Allow", &["iot:*"], "Resource", &["*".into()])]),
        1 => doc(&[
            stmt(
                "Allow",
                &["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"],
                "Resource",
                &["*".into()],
            ),
            stmt(
                "Deny",
                &["iot:Publish"],
                "Resource",
                &[format!("{ARN}:topic/devices/door-7/*")],
            ),
        ]),
        _ => random_policy(g, prefix, "${aws:username}"),
    }
}

/// The credential-vending session policy template (docs/lab-identity.md): per-thing grants
/// and the documented `${iot:ClientId}` connect statement.
fn random_vending_template(g: &mut Gen) -> String {
    let mut s = vec![stmt(
        "Allow",
        &["iot:Connect"],
        "Resource",
        &[format!(
            "arn:aws:iot:${{region}}:${{account}}:client/{}",
            if g.chance(0.5) {
                "${iot:ClientId}"
            } else {
                "vend-*"
            }
        )],
    )];
    s.push(stmt(
        "Allow",
        &["iot:Publish", "iot:Receive", "iot:RetainPublish"],
        "Resource",
        &[
            "arn:aws:iot:${region}:${account}:topic/devices/${thing}/*".into(),
            "arn:aws:iot:${region}:${account}:topic/$aws/things/${thing}/shadow/*".into(),
        ],
    ));
    s.push(stmt(
        "Allow",
        &["iot:Subscribe"],
        "Resource",
        &[
            "arn:aws:iot:${region}:${account}:topicfilter/devices/${thing}/*".into(),
            "arn:aws:iot:${region}:${account}:topicfilter/$aws/things/${thing}/shadow/*".into(),
        ],
    ));
    s.push(stmt(
        "Allow",
        &["iot:Subscribe", "iot:Receive"],
        "Resource",
        &[
            "arn:aws:iot:${region}:${account}:topic/canary/vend/marker".into(),
            "arn:aws:iot:${region}:${account}:topicfilter/canary/vend/marker".into(),
        ],
    ));
    if g.chance(0.5) {
        s.push(stmt(
            "Allow",
            &["iot:Publish", "iot:Receive", "iot:Subscribe"],
            "Resource",
            &[
                "arn:aws:iot:${region}:${account}:topic/users/${iot:ClientId}/*".into(),
                "arn:aws:iot:${region}:${account}:topicfilter/users/${iot:ClientId}/*".into(),
            ],
        ));
    }
    doc(&s)
}

impl World {
    /// The world of `seed`, with `realism` (TOML keys of `[realism]`, e.g. `profile = "chaos"`)
    /// seeded from `seed` too.
    pub fn generate(seed: u64, profile: &str, size: WorldSize) -> World {
        let mut g = Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
        };
        let cog_sub = cognito_identity_id(REGION, DEMO_POOL, "cog");
        let mut policies = vec![(
            "Witness".to_string(),
            doc(&[stmt("Allow", &["iot:*"], "Resource", &["*".into()])]),
        )];
        let mut add = |name: &str, text: String| {
            policies.push((name.to_string(), text));
            name.to_string()
        };
        let alpha = add(
            "AlphaPolicy",
            random_policy(&mut g, "alpha", "${aws:username}"),
        );
        let beta1 = add(
            "BetaPolicy",
            random_policy(&mut g, "beta", "${aws:username}"),
        );
        let beta2 = add("BetaExtra", random_policy(&mut g, "beta", "lamp-2"));
        let vend_role = add("VendingRole", random_role_policy(&mut g, "vend"));
        let cog_role = add("CogRole", random_role_policy(&mut g, "cog"));
        let cog_iot = add(
            "CogIot",
            random_policy(&mut g, "cog", "${cognito-identity.amazonaws.com:sub}"),
        );
        let guest_role = add("GuestRole", random_role_policy(&mut g, "guest"));
        let vending_template = random_vending_template(&mut g);

        let users = vec![
            (
                WITNESS.to_string(),
                WITNESS_KEYS.0.to_string(),
                WITNESS_KEYS.1.to_string(),
                vec!["Witness".to_string()],
            ),
            (
                "alpha".into(),
                "AKIAHONESTYALPHA0001".into(),
                "honesty-secret-alpha".into(),
                vec![alpha],
            ),
            (
                "beta".into(),
                "AKIAHONESTYBETA00001".into(),
                "honesty-secret-beta".into(),
                vec![beta1, beta2],
            ),
        ];
        let user_identity = |name: &str, key: &str, secret: &str| Identity {
            name: name.to_string(),
            access_key_id: key.to_string(),
            secret_access_key: secret.to_string(),
            session_token: None,
            principal: Principal::IamUser {
                name: name.to_string(),
            },
        };
        let mut identities: Vec<Identity> = users
            .iter()
            .map(|(n, k, s, _)| user_identity(n, k, s))
            .collect();
        // The vending API's session: rendered from the template over the things `ven` owns.
        let owned_thing = if g.chance(0.7) {
            home("vend")
        } else {
            *g.pick(&THINGS)
        };
        let owned: Vec<String> = vec![owned_thing.to_string()];
        let rendered = vending::render(
            &vending_template,
            &vending::TemplateVars {
                username: "ven",
                region: REGION,
                account: ACCOUNT,
                things: &owned,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let session_policy = Policy::parse("vending-session", &rendered)
            .unwrap_or_else(|e| panic!("seed {seed}: vending session policy: {e}"));
        identities.push(Identity {
            name: "vend".into(),
            access_key_id: "ASIAHONESTYVEND00001".into(),
            secret_access_key: "honesty-secret-vend".into(),
            session_token: Some("honesty-token-vend".into()),
            principal: Principal::AssumedRole {
                role: "Vending".into(),
                session_name: vending::session_name("ven"),
                session_policy: Some(Arc::new(session_policy)),
            },
        });
        identities.push(Identity {
            name: "cog".into(),
            access_key_id: "ASIAHONESTYCOG000001".into(),
            secret_access_key: "honesty-secret-cog".into(),
            session_token: Some("honesty-token-cog".into()),
            principal: Principal::CognitoAuthenticated {
                identity_id: cog_sub.clone(),
                username: "cog".into(),
            },
        });
        identities.push(Identity {
            name: "guest".into(),
            access_key_id: "ASIAHONESTYGUEST0001".into(),
            secret_access_key: "honesty-secret-guest".into(),
            session_token: Some("honesty-token-guest".into()),
            principal: Principal::CognitoUnauthenticated {
                identity_id: cognito_identity_id(REGION, DEMO_POOL, "guest"),
            },
        });

        let mut world = World {
            seed,
            policies,
            identities,
            canaries: Vec::new(),
            realism: format!("profile = \"{profile}\"\nseed = {seed}\n"),
            users,
            vending_role_policies: vec![vend_role],
            vending_template,
            cognito_role_policies: vec![cog_role],
            cognito_iot_policies: vec![cog_iot],
            guest_role_policies: vec![guest_role],
        };
        world.canaries = plan_canaries(&mut g, &world, size, &cog_sub);
        world
    }

    /// The lab scenario (TOML).
    pub fn scenario_text(&self) -> String {
        let mut t = format!("region = \"{REGION}\"\naccount_id = \"{ACCOUNT}\"\n\n[policies]\n");
        for (name, text) in &self.policies {
            let _ = writeln!(t, "{name} = {}", toml_str(text));
        }
        let _ = write!(t, "\n[realism]\n{}", self.realism);
        for (name, key, secret, pols) in &self.users {
            let _ = write!(
                t,
                "\n[[iam_user]]\nname = \"{name}\"\naccess_key_id = \"{key}\"\nsecret_access_key = \"{secret}\"\npolicies = {}\n",
                toml_list(pols)
            );
        }
        for (role, pols) in [
            ("Vending", &self.vending_role_policies),
            ("CogAuth", &self.cognito_role_policies),
            ("CogGuest", &self.guest_role_policies),
        ] {
            let _ = write!(
                t,
                "\n[[role]]\nname = \"{role}\"\npolicies = {}\n",
                toml_list(pols)
            );
        }
        let _ = write!(
            t,
            "\n[cognito]\nuser_pool_id = \"{DEMO_USER_POOL}\"\napp_client_id = \"{DEMO_APP_CLIENT}\"\nidentity_pool_id = \"{DEMO_POOL}\"\nauthenticated_role = \"CogAuth\"\nunauthenticated_role = \"CogGuest\"\n\n[[cognito.user]]\nusername = \"cog\"\npassword = \"pw-cog\"\niot_policies = {}\n\n[[cognito.user]]\nusername = \"ven\"\npassword = \"pw-ven\"\n",
            toml_list(&self.cognito_iot_policies)
        );
        for (i, thing) in THINGS.iter().enumerate() {
            let owner = ["alpha", "beta", WITNESS][i % 3];
            let _ = write!(t, "\n[[thing]]\nname = \"{thing}\"\nowner = \"{owner}\"\n");
        }
        let _ = write!(
            t,
            "\n[vending]\nrole = \"Vending\"\nsession_policy_template = {}\n",
            toml_str(&self.vending_template)
        );
        t
    }

    /// Registers the non-IAM principals' keys, as the lab's STS and Cognito would on issue
    /// (how credentials are obtained is not under test here; whose they are is).
    pub fn register(&self, state: &LabState) {
        for id in &self.identities {
            if matches!(id.principal, Principal::IamUser { .. }) {
                continue;
            }
            state.register_credentials(IssuedCredentials {
                access_key_id: id.access_key_id.clone(),
                secret_access_key: id.secret_access_key.clone(),
                session_token: id.session_token.clone(),
                expiration: None,
                principal: id.principal.clone(),
            });
        }
    }

    /// Asks the engine about every canary and chooses the controls: per (identity, version)
    /// an engine-allowed connect (or any allowed canary) and sometimes one more allowed one
    /// become `expect = "allow"` (with none allowed, the first canary: a control that fails);
    /// everything else is a deny canary — a breach where the engine allows it.
    pub fn decide_truth(&mut self, state: &LabState) {
        let mut g = Gen {
            // "truth" in ASCII: the control choice draws from its own stream, so it does not
            // shift the world generator's draws.
            rng: ChaCha8Rng::seed_from_u64(self.seed ^ 0x0074_7275_7468),
        };
        for c in &mut self.canaries {
            let id = self
                .identities
                .iter()
                .find(|i| i.name == c.identity)
                .unwrap_or_else(|| panic!("identity {}", c.identity));
            c.truth = Some(truth(state, &id.principal, c));
            if matches!(c.action, ProbeAction::Receive | ProbeAction::Subscribe) {
                c.marker_topic = marker_topic(state, &id.principal, c);
            }
        }
        let groups: BTreeSet<(String, MqttVersion)> = self
            .canaries
            .iter()
            .map(|c| (c.identity.clone(), c.version))
            .collect();
        for (identity, version) in groups {
            let of_group = |c: &&mut Planned| c.identity == identity && c.version == version;
            let allowed = |c: &Planned| c.truth.is_some_and(|t| t.allowed);
            // The first control: an allowed connect where there is one (what users pick: the
            // daemon pairs every denial of the identity with its controls, so one control
            // that chaos makes inconclusive blinds them all), else any allowed canary.
            let first = self
                .canaries
                .iter()
                .position(|c| {
                    c.identity == identity
                        && c.version == version
                        && c.action == ProbeAction::Connect
                        && allowed(c)
                })
                .or_else(|| {
                    self.canaries
                        .iter()
                        .position(|c| c.identity == identity && c.version == version && allowed(c))
                });
            let mut any = false;
            if let Some(i) = first {
                self.canaries[i].expect = Expect::Allow;
                any = true;
            }
            // Sometimes one more control of another kind (users keep a control or two per
            // identity); the remaining allowed canaries are breaches the daemon must report.
            if g.chance(0.3)
                && let Some(c) = self
                    .canaries
                    .iter_mut()
                    .filter(of_group)
                    .find(|c| c.action != ProbeAction::Connect && allowed(c))
            {
                c.expect = Expect::Allow;
            }
            if !any {
                // Nothing of it is allowed: its first canary (a connect) is a control that
                // must fail, and the daemon must not decide its denials on that basis.
                if let Some(c) = self
                    .canaries
                    .iter_mut()
                    .find(|c| c.identity == identity && c.version == version)
                {
                    c.expect = Expect::Allow;
                }
            }
        }
    }

    /// The `[[identity]]` and `[[canary]]` tables (the caller adds `[target]` and
    /// `[schedule]`); identity keys come from `HONESTY_<NAME>_KEY`/`_SECRET`/`_TOKEN`
    /// variables the caller provides ([`World::env`]). `markers`: write each receive and
    /// subscribe canary's `marker_topic` where the engine found one.
    pub fn canaries_toml(&self, markers: bool) -> String {
        let mut t = String::new();
        for id in &self.identities {
            let up = id.name.to_uppercase();
            let _ = write!(
                t,
                "\n[[identity]]\nname = \"{}\"\nkind = \"static\"\naccess_key_id_env = \"HONESTY_{up}_KEY\"\nsecret_access_key_env = \"HONESTY_{up}_SECRET\"\n",
                id.name
            );
            if id.session_token.is_some() {
                let _ = writeln!(t, "session_token_env = \"HONESTY_{up}_TOKEN\"");
            }
        }
        for c in &self.canaries {
            let _ = write!(
                t,
                "\n[[canary]]\nname = \"{}\"\nidentity = \"{}\"\naction = \"{}\"\nexpect = \"{}\"\nmqtt_version = \"{}\"\nclient_id = {}\n",
                c.name,
                c.identity,
                c.action.as_str(),
                c.expect.as_str(),
                c.version,
                toml_str(&c.client_id),
            );
            if let Some(x) = &c.topic {
                let _ = writeln!(t, "topic = {}", toml_str(x));
            }
            if let Some(x) = &c.topic_filter {
                let _ = writeln!(t, "topic_filter = {}", toml_str(x));
            }
            if let Some(x) = &c.thing {
                let _ = writeln!(t, "thing = {}", toml_str(x));
            }
            if let Some(x) = c.marker_topic.as_ref().filter(|_| markers) {
                let _ = writeln!(t, "marker_topic = {}", toml_str(x));
            }
            if matches!(
                c.action,
                ProbeAction::Publish | ProbeAction::Receive | ProbeAction::Retain
            ) {
                let _ = writeln!(t, "witness = \"{WITNESS}\"");
            }
            if c.action == ProbeAction::Publish {
                let _ = writeln!(t, "qos = {}", c.qos);
            }
        }
        t
    }

    /// The environment [`World::canaries_toml`] reads keys from.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for id in &self.identities {
            let up = id.name.to_uppercase();
            out.push((format!("HONESTY_{up}_KEY"), id.access_key_id.clone()));
            out.push((format!("HONESTY_{up}_SECRET"), id.secret_access_key.clone()));
            if let Some(tok) = &id.session_token {
                out.push((format!("HONESTY_{up}_TOKEN"), tok.clone()));
            }
        }
        out
    }

    pub fn canary(&self, name: &str) -> Option<&Planned> {
        self.canaries.iter().find(|c| c.name == name)
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(xs: &[String]) -> String {
    toml::Value::Array(xs.iter().map(|x| toml::Value::from(x.as_str())).collect()).to_string()
}

/// The broker's own decision for `principal` connected as `client_id` from loopback (the
/// daemon's address in these runs), now.
fn engine<'a>(
    state: &'a LabState,
    principal: &'a Principal,
    client_id: &'a str,
) -> impl Fn(IotAction, &str) -> bool + 'a {
    let now = state.now();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    move |action, resource| authorize(state, principal, ip, client_id, action, resource, &[], now)
}

/// What the engine says of canary `c` for `principal`: CONNECT with its client id, then every
/// action its probe needs (receive: the subscription and `iot:Receive` of the bait's topic;
/// retain: `iot:Publish` and `iot:RetainPublish`; shadow: the request's `iot:Publish`).
pub fn truth(state: &LabState, principal: &Principal, c: &Planned) -> Truth {
    let allows = engine(state, principal, &c.client_id);
    let connect = allows(IotAction::Connect, &c.client_id);
    let topic = c.topic.as_deref().unwrap_or("");
    let filter = c.topic_filter.as_deref().unwrap_or(topic);
    let action = match c.action {
        ProbeAction::Connect => true,
        ProbeAction::Subscribe => allows(IotAction::Subscribe, filter),
        ProbeAction::Publish => allows(IotAction::Publish, topic),
        ProbeAction::Receive => {
            allows(IotAction::Subscribe, filter) && allows(IotAction::Receive, topic)
        }
        ProbeAction::Retain => {
            allows(IotAction::Publish, topic) && allows(IotAction::RetainPublish, topic)
        }
        ProbeAction::ShadowGet | ProbeAction::ShadowUpdate | ProbeAction::ShadowDelete => {
            allows(IotAction::Publish, &shadow_request(c))
        }
        // Honesty worlds plan MQTT probes only (MQTT_ACTIONS); nothing else has a truth here.
        _ => false,
    };
    Truth {
        connect,
        allowed: connect && action,
    }
}

/// A receive canary's marker topic: one its filter under test matches (the marker must come
/// through that filter, docs/evidence-rules.md R2/R7) that its connection may receive, other
/// than the canary's own topic; else any topic under the filter (the probe then cannot prove
/// an absence: honest, inconclusive); none for an exact filter (it matches only the topic).
/// A subscribe canary's: a topic its connection may subscribe to (by the topic itself) and
/// receive; else the marker topic its policies would grant if they were complete.
fn marker_topic(state: &LabState, principal: &Principal, c: &Planned) -> Option<String> {
    if c.action == ProbeAction::Receive {
        return receive_marker_topic(state, principal, c);
    }
    let allows = engine(state, principal, &c.client_id);
    let fallback = format!("canary/{}/marker", c.identity);
    let mut candidates: Vec<String> = vec![fallback.clone()];
    if c.client_id != "+" && c.client_id != "#" {
        candidates.push(format!("users/{}/marker", c.client_id));
    }
    candidates.push(format!("users/{}/marker", c.identity));
    for thing in THINGS {
        candidates.push(format!("devices/{thing}/marker"));
    }
    candidates.push("fleet/marker".into());
    let found = candidates.into_iter().find(|t| {
        Some(t) != c.topic.as_ref()
            && allows(IotAction::Subscribe, t)
            && allows(IotAction::Receive, t)
    });
    Some(found.unwrap_or(fallback))
}

fn receive_marker_topic(state: &LabState, principal: &Principal, c: &Planned) -> Option<String> {
    use iot_canary_core::config::{markers::matched_by, names};
    let filter = c.topic_filter.as_ref().or(c.topic.as_ref())?;
    if !filter.contains(['+', '#']) {
        return None;
    }
    let allows = engine(state, principal, &c.client_id);
    let mut words: Vec<String> = THINGS.iter().map(|t| t.to_string()).collect();
    words.extend([c.identity.clone(), format!("{}-marker", c.identity)]);
    if c.client_id != "+" && c.client_id != "#" {
        words.push(c.client_id.clone());
    }
    words.extend(["marker", "state", "telemetry", "inbox", "cmd"].map(String::from));
    // Every `+` level takes one word (the same one throughout), a trailing `#` each word.
    let mut candidates = Vec::new();
    for plus in &words {
        for hash in &words {
            let t = filter
                .split('/')
                .map(|l| match l {
                    "+" => plus.as_str(),
                    "#" => hash.as_str(),
                    other => other,
                })
                .collect::<Vec<_>>()
                .join("/");
            candidates.push(t);
        }
    }
    let found = candidates.into_iter().find(|t| {
        Some(t) != c.topic.as_ref()
            && names::topic_problem(t).is_none()
            && matched_by(t, filter)
            && allows(IotAction::Receive, t)
    });
    found.or_else(|| names::topic_under(filter).filter(|t| Some(t) != c.topic.as_ref()))
}

/// The request topic of a shadow canary (the probe's: classic shadow for get/update, the
/// named shadow `iot-canary` for delete).
fn shadow_request(c: &Planned) -> String {
    let thing = c.thing.as_deref().unwrap_or("");
    match c.action {
        ProbeAction::ShadowGet => format!("$aws/things/{thing}/shadow/get"),
        ProbeAction::ShadowUpdate => format!("$aws/things/{thing}/shadow/update"),
        _ => format!("$aws/things/{thing}/shadow/name/iot-canary/delete"),
    }
}

/// The thing an identity's policies mostly grant and its canaries mostly probe (so that
/// controls and breaches are common, not only denials).
fn home(identity: &str) -> &'static str {
    match identity {
        "beta" => "lamp-2",
        "cog" => "door-7",
        _ => "lamp-1",
    }
}

const PROBING: [&str; 5] = ["alpha", "beta", "vend", "cog", "guest"];

/// The MQTT probe kinds the honesty worlds draw from: the first eight of `ProbeAction::ALL`,
/// in its order, which every seed's world depends on (the HTTPS, control-plane and
/// role-path doors have their own end-to-end tests; drawing from these eight keeps every
/// seed's world as it was).
const MQTT_ACTIONS: &[ProbeAction] = ProbeAction::ALL.split_at(8).0;

fn plan_canaries(g: &mut Gen, world: &World, size: WorldSize, cog_sub: &str) -> Vec<Planned> {
    let mut out = Vec::new();
    // `+` and `#` at most once per world: one client id is one connection on AWS.
    let mut specials = vec!["+", "#"];
    let mut n = 0usize;
    for identity in PROBING {
        // The guest's enhanced-flow scope-down leaves it little; a few canaries suffice.
        let count = if identity == "guest" {
            size.per_identity_version.div_ceil(4)
        } else {
            size.per_identity_version
        };
        for version in MqttVersion::ALL {
            // Every (identity, version) starts with a connect as its own prefix: the usual
            // control.
            for k in 0..count {
                n += 1;
                let name = format!("h{}-{n}", world.seed % 10_000);
                let action = if k == 0 {
                    ProbeAction::Connect
                } else {
                    *g.pick(MQTT_ACTIONS)
                };
                let mut client_id = format!("{identity}-{n}");
                if k > 0 && !specials.is_empty() && g.chance(0.08) {
                    client_id = specials.remove(0).to_string();
                } else if action == ProbeAction::Connect && k > 0 && g.chance(0.3) {
                    client_id = format!("{}-{n}", g.pick(&PROBING));
                }
                let mut c = Planned {
                    name,
                    identity: identity.to_string(),
                    action,
                    version,
                    client_id: client_id.clone(),
                    topic: None,
                    topic_filter: None,
                    thing: None,
                    qos: 1,
                    expect: Expect::Deny,
                    truth: None,
                    marker_topic: None,
                };
                let user_seg = match identity {
                    "cog" => cog_sub.to_string(),
                    other => other.to_string(),
                };
                let topic = random_topic(g, identity, &client_id, &user_seg);
                match action {
                    ProbeAction::Connect => {}
                    // The `${iot:ClientId}` trap: connected as `+`, `users/+/…` is "its own".
                    ProbeAction::Subscribe if client_id == "+" && g.chance(0.7) => {
                        c.topic_filter = Some("users/+/#".into())
                    }
                    ProbeAction::Subscribe => c.topic_filter = Some(random_filter(g, &topic)),
                    ProbeAction::Publish => {
                        c.topic = Some(topic);
                        c.qos = if g.chance(0.3) { 0 } else { 1 };
                    }
                    ProbeAction::Receive => {
                        c.topic_filter = Some(random_filter(g, &topic));
                        c.topic = Some(topic);
                    }
                    // A retained topic of its own: two retain probes on one topic would each
                    // find the other's message (and must not overwrite it).
                    ProbeAction::Retain => {
                        let thing = if g.chance(0.6) {
                            home(identity)
                        } else {
                            *g.pick(&THINGS)
                        };
                        c.topic = Some(format!("devices/{thing}/state/r{n}"));
                    }
                    ProbeAction::ShadowGet
                    | ProbeAction::ShadowUpdate
                    | ProbeAction::ShadowDelete => {
                        let thing = if g.chance(0.5) {
                            home(identity)
                        } else {
                            *g.pick(&THINGS)
                        };
                        c.thing = Some(thing.to_string());
                    }
                    // Not drawn (MQTT_ACTIONS only).
                    _ => {}
                }
                out.push(c);
            }
        }
    }
    out
}

/// A topic the canary may or may not reach: a thing's topics, per-client and per-user
/// topics (the variables' targets, including someone else's), a fleet topic.
fn random_topic(g: &mut Gen, identity: &str, client_id: &str, user: &str) -> String {
    let thing = if g.chance(0.5) {
        home(identity)
    } else {
        *g.pick(&THINGS)
    };
    let leaf = *g.pick(&LEAVES);
    match g.below(8) {
        0..=3 => format!("devices/{thing}/{leaf}"),
        // `+` and `#` are client ids, not topic levels: the canary reaches for everyone's.
        4 if client_id == "+" || client_id == "#" => format!("users/{}/inbox", g.pick(&PROBING)),
        4 => format!("users/{client_id}/inbox"),
        5 => format!("users/{user}/inbox"),
        6 => format!("users/{}/inbox", g.pick(&PROBING)),
        _ => format!("fleet/{leaf}"),
    }
}

/// A filter matching `topic`: the topic itself or a wildcard generalisation of it.
fn random_filter(g: &mut Gen, topic: &str) -> String {
    let parts: Vec<&str> = topic.split('/').collect();
    match g.below(5) {
        0 | 1 => topic.to_string(),
        2 => {
            let mut p = parts.clone();
            let i = g.below(p.len());
            p[i] = "+";
            p.join("/")
        }
        3 => {
            let keep = 1 + g.below(parts.len());
            let mut p: Vec<&str> = parts[..keep.min(parts.len() - 1).max(1)].to_vec();
            p.push("#");
            p.join("/")
        }
        _ => format!("{}/#", parts[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iot_canary_core::verdict::ProbeFamily;

    #[test]
    fn worlds_draw_from_exactly_the_mqtt_actions_in_their_old_order() {
        assert_eq!(
            MQTT_ACTIONS.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            [
                "connect",
                "publish",
                "subscribe",
                "receive",
                "retain",
                "shadow-get",
                "shadow-update",
                "shadow-delete"
            ]
        );
        let mqtt = ProbeAction::ALL
            .iter()
            .filter(|a| a.family() == ProbeFamily::Mqtt)
            .count();
        assert_eq!(mqtt, MQTT_ACTIONS.len());
    }
}
