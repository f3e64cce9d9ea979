//! The lab's world: scenario, current policy documents and attachments (replaceable at run
//! time with an optional propagation delay), things, issued credentials and injected faults.
//!
//! Every read takes `now` so the propagation delay is a pure function of time: a change made
//! at `t` with delay `d` becomes visible to lookups at `now >= t + d` (AWS caches policy
//! documents for "a few minutes"; the broker keeps enforcing the old document meanwhile).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::realism::Realism;
use crate::scenario::LoadedScenario;
use iot_canary_policy::{Policy, PolicySet};

/// Who a set of credentials belongs to (contract shared with the identity plane).
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    IamUser {
        name: String,
    },
    AssumedRole {
        role: String,
        session_name: String,
        session_policy: Option<Arc<Policy>>,
    },
    CognitoAuthenticated {
        identity_id: String,
        username: String,
    },
    CognitoUnauthenticated {
        identity_id: String,
    },
}

/// Credentials the lab knows the secret of (static IAM keys, STS and Cognito issues).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub expiration: Option<SystemTime>,
    pub principal: Principal,
}

/// Who an IoT/IAM policy is attached to at run time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    IamUser(String),
    Role(String),
    /// A Cognito identity id (`REGION:uuid`): IoT policies.
    Identity(String),
}

/// A thing's owner and the users it is shared with (the vending API reads these).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThingInfo {
    pub owner: Option<String>,
    pub shared_with: Vec<String>,
}

/// Faults injected through the admin API; the gateway and broker read them per event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Faults {
    /// Answer every websocket upgrade with 403 ForbiddenException.
    pub refuse_upgrades: bool,
    /// Accept TCP/TLS and the upgrade request, then never answer.
    pub stall: bool,
    /// Close the socket right after reading CONNECT, without CONNACK.
    pub drop_after_connect: bool,
    /// Answer CONNECT/PUBLISH/SUBSCRIBE with 0x97 Quota exceeded (v5) / close (3.1.1).
    pub quota_exceeded: bool,
    /// Seconds added to the lab's clock (signature time checks, credential expiry).
    pub clock_skew_secs: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("unknown policy `{0}`")]
    UnknownPolicy(String),
    #[error("unknown thing `{0}`")]
    UnknownThing(String),
    #[error("unknown attachment target {0:?}")]
    UnknownTarget(Target),
    #[error("policy `{name}` is invalid: {message}")]
    InvalidPolicy { name: String, message: String },
}

/// A value with a history of scheduled versions; `at(now)` is the newest version whose
/// effective time has passed.
#[derive(Debug, Clone)]
struct Versioned<T> {
    versions: Vec<(SystemTime, T)>,
}

impl<T: Clone> Versioned<T> {
    fn new(initial: T) -> Self {
        Versioned {
            versions: vec![(SystemTime::UNIX_EPOCH, initial)],
        }
    }

    fn at(&self, now: SystemTime) -> Option<&T> {
        self.versions
            .iter()
            .rev()
            .find(|(from, _)| *from <= now)
            .map(|(_, v)| v)
    }

    /// Newest scheduled version (what a reader will see once every delay has passed).
    fn latest(&self) -> Option<&T> {
        self.versions.last().map(|(_, v)| v)
    }

    fn schedule(&mut self, effective: SystemTime, value: T, now: SystemTime) {
        // Versions already superseded at `now` are unreachable; keep the history short.
        if let Some(current) = self.versions.iter().rposition(|(from, _)| *from <= now) {
            self.versions.drain(..current);
        }
        // A change scheduled earlier than a pending one replaces it: time stays monotone.
        self.versions.retain(|(from, _)| *from < effective);
        self.versions.push((effective, value));
    }
}

/// A policy document and its JSON; `None` in a version = the policy was deleted.
type PolicyVersion = Option<(Arc<Policy>, String)>;

#[derive(Debug)]
struct World {
    policies: BTreeMap<String, Versioned<PolicyVersion>>,
    attachments: BTreeMap<Target, Versioned<BTreeSet<String>>>,
    things: BTreeMap<String, ThingInfo>,
    credentials: HashMap<String, IssuedCredentials>,
    propagation_delay: Duration,
    faults: Faults,
    realism: Arc<Realism>,
}

/// Shared lab state (one per running lab, behind `Arc`).
#[derive(Debug)]
pub struct LabState {
    loaded: LoadedScenario,
    world: RwLock<World>,
}

/// Cognito identity id for a user of an identity pool: deterministic (same user, same id, as
/// with a real pool) and shaped like AWS's `REGION:uuid`.
pub fn cognito_identity_id(region: &str, identity_pool_id: &str, username: &str) -> String {
    let digest = Sha256::digest(format!("{identity_pool_id}\u{0}{username}").as_bytes());
    let h = hex::encode(&digest[..16]);
    format!(
        "{region}:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl LabState {
    pub fn new(loaded: LoadedScenario) -> LabState {
        let sc = &loaded.scenario;
        let realism = Arc::new(loaded.realism.clone());
        let policies = loaded
            .policies
            .iter()
            .map(|(name, p)| {
                let json = loaded.policy_json.get(name).cloned().unwrap_or_default();
                (name.clone(), Versioned::new(Some((p.clone(), json))))
            })
            .collect();
        let mut attachments = BTreeMap::new();
        for u in &sc.iam_user {
            attachments.insert(
                Target::IamUser(u.name.clone()),
                Versioned::new(u.policies.iter().cloned().collect()),
            );
        }
        for r in &sc.role {
            attachments.insert(
                Target::Role(r.name.clone()),
                Versioned::new(r.policies.iter().cloned().collect()),
            );
        }
        if let Some(c) = &sc.cognito {
            for u in &c.user {
                let id = cognito_identity_id(&sc.region, &c.identity_pool_id, &u.username);
                attachments.insert(
                    Target::Identity(id),
                    Versioned::new(u.iot_policies.iter().cloned().collect()),
                );
            }
        }
        let things = sc
            .thing
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    ThingInfo {
                        owner: t.owner.clone(),
                        shared_with: t.shared_with.clone(),
                    },
                )
            })
            .collect();
        let credentials = sc
            .iam_user
            .iter()
            .map(|u| {
                (
                    u.access_key_id.clone(),
                    IssuedCredentials {
                        access_key_id: u.access_key_id.clone(),
                        secret_access_key: u.secret_access_key.clone(),
                        session_token: None,
                        expiration: None,
                        principal: Principal::IamUser {
                            name: u.name.clone(),
                        },
                    },
                )
            })
            .collect();
        LabState {
            loaded,
            world: RwLock::new(World {
                policies,
                attachments,
                things,
                credentials,
                propagation_delay: Duration::ZERO,
                faults: Faults::default(),
                realism,
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, World> {
        // A poisoned lock means a panic while holding it; the data is plain values that stay
        // consistent (every writer finishes its mutation in one statement), so keep serving.
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn scenario(&self) -> &crate::scenario::Scenario {
        &self.loaded.scenario
    }

    pub fn loaded(&self) -> &LoadedScenario {
        &self.loaded
    }

    pub fn region(&self) -> &str {
        &self.loaded.scenario.region
    }

    pub fn account_id(&self) -> &str {
        &self.loaded.scenario.account_id
    }

    /// The lab's clock: wall clock plus the injected skew. IO code calls this once per event
    /// and passes the value into the pure decision functions.
    pub fn now(&self) -> SystemTime {
        let skew = self.read().faults.clock_skew_secs;
        let base = SystemTime::now();
        if skew >= 0 {
            base + Duration::from_secs(skew.unsigned_abs())
        } else {
            base - Duration::from_secs(skew.unsigned_abs())
        }
    }

    // --- credentials ---------------------------------------------------------------------

    pub fn register_credentials(&self, creds: IssuedCredentials) {
        self.write()
            .credentials
            .insert(creds.access_key_id.clone(), creds);
    }

    pub fn lookup_access_key(&self, access_key_id: &str) -> Option<IssuedCredentials> {
        self.read().credentials.get(access_key_id).cloned()
    }

    // --- policies ------------------------------------------------------------------------

    pub fn propagation_delay(&self) -> Duration {
        self.read().propagation_delay
    }

    pub fn set_propagation_delay(&self, delay: Duration) {
        self.write().propagation_delay = delay;
    }

    /// Replaces (or creates) a policy document; effective after the propagation delay.
    pub fn put_policy(&self, name: &str, json: &str, now: SystemTime) -> Result<(), StateError> {
        let policy = Policy::parse(name, json).map_err(|e| StateError::InvalidPolicy {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        let mut w = self.write();
        let effective = now + w.propagation_delay;
        let value = Some((Arc::new(policy), json.to_string()));
        match w.policies.get_mut(name) {
            Some(v) => v.schedule(effective, value, now),
            None => {
                let mut v = Versioned::new(None);
                v.schedule(effective, value, now);
                w.policies.insert(name.to_string(), v);
            }
        }
        Ok(())
    }

    /// Deletes a policy document; effective after the propagation delay.
    pub fn delete_policy(&self, name: &str, now: SystemTime) -> Result<(), StateError> {
        let mut w = self.write();
        let effective = now + w.propagation_delay;
        let v = w
            .policies
            .get_mut(name)
            .ok_or_else(|| StateError::UnknownPolicy(name.to_string()))?;
        v.schedule(effective, None, now);
        Ok(())
    }

    /// The policy document's JSON as the latest change left it (pending changes included).
    pub fn policy_json(&self, name: &str) -> Option<String> {
        self.read()
            .policies
            .get(name)
            .and_then(|v| v.latest().cloned().flatten())
            .map(|(_, json)| json)
    }

    /// Attaches (`attached`) or detaches a policy; effective after the propagation delay. Only
    /// an existing policy can be attached; detaching one that is gone is allowed.
    pub fn set_attached(
        &self,
        name: &str,
        target: Target,
        attached: bool,
        now: SystemTime,
    ) -> Result<(), StateError> {
        let mut w = self.write();
        if attached && !w.policies.contains_key(name) {
            return Err(StateError::UnknownPolicy(name.to_string()));
        }
        match &target {
            Target::IamUser(n) if !self.loaded.scenario.iam_user.iter().any(|u| &u.name == n) => {
                return Err(StateError::UnknownTarget(target));
            }
            Target::Role(n) if !self.loaded.scenario.role.iter().any(|r| &r.name == n) => {
                return Err(StateError::UnknownTarget(target));
            }
            _ => {}
        }
        let effective = now + w.propagation_delay;
        let entry = w
            .attachments
            .entry(target)
            .or_insert_with(|| Versioned::new(BTreeSet::new()));
        let mut next = entry.latest().cloned().unwrap_or_default();
        if attached {
            next.insert(name.to_string());
        } else {
            next.remove(name);
        }
        entry.schedule(effective, next, now);
        Ok(())
    }

    /// Policy names attached to `target` as seen at `now`.
    pub fn attached(&self, target: &Target, now: SystemTime) -> Vec<String> {
        self.read()
            .attachments
            .get(target)
            .and_then(|v| v.at(now))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn resolve(&self, w: &World, target: &Target, now: SystemTime) -> Vec<Arc<Policy>> {
        let Some(names) = w.attachments.get(target).and_then(|v| v.at(now)) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|n| w.policies.get(n))
            .filter_map(|v| v.at(now).cloned().flatten())
            .map(|(p, _)| p)
            .collect()
    }

    /// How `principal`'s policies combine at `now` (propagation delay applied).
    pub fn policy_set_for(&self, principal: &Principal, now: SystemTime) -> PolicySet {
        let w = self.read();
        match principal {
            Principal::IamUser { name } => PolicySet::Iam {
                policies: self.resolve(&w, &Target::IamUser(name.clone()), now),
            },
            Principal::AssumedRole {
                role,
                session_policy,
                ..
            } => {
                let role_policies = self.resolve(&w, &Target::Role(role.clone()), now);
                match session_policy {
                    Some(s) => PolicySet::AssumedRole {
                        role_policies,
                        session_policies: vec![s.clone()],
                    },
                    // No session policy passed: the session has the role's permissions.
                    None => PolicySet::Iam {
                        policies: role_policies,
                    },
                }
            }
            Principal::CognitoAuthenticated { identity_id, .. } => {
                let role_policies = match &self.loaded.scenario.cognito {
                    Some(c) => self.resolve(&w, &Target::Role(c.authenticated_role.clone()), now),
                    None => Vec::new(),
                };
                PolicySet::CognitoAuthenticated {
                    role_policies,
                    iot_policies: self.resolve(&w, &Target::Identity(identity_id.clone()), now),
                }
            }
            Principal::CognitoUnauthenticated { .. } => {
                let role_policies = match self
                    .loaded
                    .scenario
                    .cognito
                    .as_ref()
                    .and_then(|c| c.unauthenticated_role.clone())
                {
                    Some(role) => self.resolve(&w, &Target::Role(role), now),
                    None => Vec::new(),
                };
                // The lab's identity pool issues guest credentials through the enhanced flow
                // only (GetCredentialsForIdentity), so Cognito's scope-down always applies.
                PolicySet::cognito_guest(role_policies)
            }
        }
    }

    // --- things --------------------------------------------------------------------------

    pub fn thing(&self, name: &str) -> Option<ThingInfo> {
        self.read().things.get(name).cloned()
    }

    pub fn things(&self) -> BTreeMap<String, ThingInfo> {
        self.read().things.clone()
    }

    /// Things `user` owns or that are shared with them (the vending API's session policy).
    pub fn things_accessible_by(&self, user: &str) -> Vec<String> {
        self.read()
            .things
            .iter()
            .filter(|(_, t)| {
                t.owner.as_deref() == Some(user) || t.shared_with.iter().any(|s| s == user)
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn set_thing(&self, name: &str, info: ThingInfo) -> Result<(), StateError> {
        let mut w = self.write();
        let t = w
            .things
            .get_mut(name)
            .ok_or_else(|| StateError::UnknownThing(name.to_string()))?;
        *t = info;
        Ok(())
    }

    // --- faults --------------------------------------------------------------------------

    pub fn faults(&self) -> Faults {
        self.read().faults.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.write().faults = faults;
    }

    // --- realism -------------------------------------------------------------------------

    /// The realism settings in force (sessions read them per event, so changes apply to
    /// connections already open).
    pub fn realism(&self) -> Arc<Realism> {
        self.read().realism.clone()
    }

    pub fn set_realism(&self, realism: Realism) {
        self.write().realism = Arc::new(realism);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;
    use std::path::Path;

    const SCENARIO: &str = r#"
region = "us-east-1"
account_id = "123456789012"

[policies]
All = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'
None = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]}'

[[iam_user]]
name = "ops"
access_key_id = "AKIAOPS"
secret_access_key = "s3cret"
policies = ["All"]

[[role]]
name = "Auth"
policies = ["All"]

[cognito]
user_pool_id = "us-east-1_pool"
app_client_id = "client"
identity_pool_id = "us-east-1:pool"
authenticated_role = "Auth"

[[cognito.user]]
username = "alice"
password = "pw"
iot_policies = ["All"]

[[thing]]
name = "lamp"
owner = "alice"
"#;

    fn state() -> LabState {
        LabState::new(scenario::parse(SCENARIO, "t.toml", Path::new(".")).unwrap())
    }

    fn names(set: &PolicySet) -> Vec<String> {
        let list = match set {
            PolicySet::Iam { policies } => policies.clone(),
            PolicySet::AssumedRole {
                role_policies,
                session_policies,
            } => [role_policies.clone(), session_policies.clone()].concat(),
            PolicySet::CognitoAuthenticated {
                role_policies,
                iot_policies,
            } => [role_policies.clone(), iot_policies.clone()].concat(),
            PolicySet::CognitoUnauthenticated {
                role_policies,
                session_policies,
            } => [role_policies.clone(), session_policies.clone()].concat(),
        };
        list.iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn identity_id_is_deterministic_and_region_prefixed() {
        let a = cognito_identity_id("eu-west-1", "pool", "alice");
        assert_eq!(a, cognito_identity_id("eu-west-1", "pool", "alice"));
        assert_ne!(a, cognito_identity_id("eu-west-1", "pool", "bob"));
        assert_ne!(a, cognito_identity_id("eu-west-1", "pool2", "alice"));
        let (region, uuid) = a.split_once(':').unwrap();
        assert_eq!(region, "eu-west-1");
        let parts: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
    }

    #[test]
    fn static_users_are_registered_and_cognito_users_pre_attached() {
        let s = state();
        let c = s.lookup_access_key("AKIAOPS").unwrap();
        assert_eq!(c.principal, Principal::IamUser { name: "ops".into() });
        assert!(s.lookup_access_key("AKIAOTHER").is_none());
        let id = cognito_identity_id("us-east-1", "us-east-1:pool", "alice");
        let now = SystemTime::now();
        assert_eq!(s.attached(&Target::Identity(id.clone()), now), vec!["All"]);
        let set = s.policy_set_for(
            &Principal::CognitoAuthenticated {
                identity_id: id,
                username: "alice".into(),
            },
            now,
        );
        assert!(matches!(set, PolicySet::CognitoAuthenticated { .. }));
        assert_eq!(names(&set), vec!["All", "All"]);
    }

    #[test]
    fn replaced_policy_takes_effect_only_after_the_delay() {
        let s = state();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        s.set_propagation_delay(Duration::from_secs(60));
        let user = Principal::IamUser { name: "ops".into() };
        s.set_attached("All", Target::IamUser("ops".into()), false, t0)
            .unwrap();
        assert_eq!(names(&s.policy_set_for(&user, t0)), vec!["All"]);
        assert_eq!(
            names(&s.policy_set_for(&user, t0 + Duration::from_secs(59))),
            vec!["All"]
        );
        assert!(names(&s.policy_set_for(&user, t0 + Duration::from_secs(60))).is_empty());
        s.set_propagation_delay(Duration::ZERO);
        let t1 = t0 + Duration::from_secs(100);
        s.set_attached("None", Target::IamUser("ops".into()), true, t1)
            .unwrap();
        assert_eq!(names(&s.policy_set_for(&user, t1)), vec!["None"]);
    }

    #[test]
    fn attach_rejects_unknown_policy_and_target() {
        let s = state();
        let now = SystemTime::now();
        assert_eq!(
            s.set_attached("Nope", Target::IamUser("ops".into()), true, now),
            Err(StateError::UnknownPolicy("Nope".into()))
        );
        assert!(matches!(
            s.set_attached("All", Target::Role("Nope".into()), true, now),
            Err(StateError::UnknownTarget(_))
        ));
    }

    #[test]
    fn session_policy_intersects_and_absent_session_policy_means_role_only() {
        let s = state();
        let now = SystemTime::now();
        let with = Principal::AssumedRole {
            role: "Auth".into(),
            session_name: "x".into(),
            session_policy: Some(Arc::new(Policy::parse("session", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#).unwrap())),
        };
        assert!(matches!(
            s.policy_set_for(&with, now),
            PolicySet::AssumedRole { .. }
        ));
        let without = Principal::AssumedRole {
            role: "Auth".into(),
            session_name: "x".into(),
            session_policy: None,
        };
        assert!(matches!(
            s.policy_set_for(&without, now),
            PolicySet::Iam { .. }
        ));
    }

    #[test]
    fn guests_get_the_role_scoped_down_by_cognito_session_policies() {
        let text = SCENARIO
            .replace(
                "[[role]]\nname = \"Auth\"",
                "[[role]]\nname = \"Guest\"\npolicies = [\"Everything\"]\n\n[[role]]\nname = \"Auth\"",
            )
            .replace(
                "authenticated_role = \"Auth\"",
                "authenticated_role = \"Auth\"\nunauthenticated_role = \"Guest\"",
            )
            .replace(
                "[policies]",
                "[policies]\nEverything = '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}'",
            );
        let s = LabState::new(scenario::parse(&text, "t.toml", Path::new(".")).unwrap());
        let guest = Principal::CognitoUnauthenticated {
            identity_id: "us-east-1:guest".into(),
        };
        let authz = s.principal_authz(&guest, SystemTime::now());
        let decide = |action: &str, arn: &str| {
            iot_canary_policy::authorize_action(&authz.set, action, arn, &authz.context)
        };
        // The inline scope-down lists iot:*: IoT access survives; STS is in neither list.
        assert!(decide("iot:Connect", "arn:aws:iot:us-east-1:123456789012:client/g").allowed());
        let sts = decide("sts:AssumeRole", "arn:aws:iam::123456789012:role/Auth");
        assert!(!sts.allowed());
        assert!(
            sts.explanation.contains("Cognito guest session policies"),
            "{}",
            sts.explanation
        );
        assert_eq!(
            names(&authz.set),
            vec![
                "Everything",
                iot_canary_policy::cognito::INLINE_SCOPE_DOWN_NAME,
                iot_canary_policy::cognito::MANAGED_SESSION_POLICY_NAME
            ]
        );
    }

    #[test]
    fn thing_shares_change_at_run_time() {
        let s = state();
        assert_eq!(s.things_accessible_by("alice"), vec!["lamp"]);
        assert!(s.things_accessible_by("ops").is_empty());
        s.set_thing(
            "lamp",
            ThingInfo {
                owner: Some("alice".into()),
                shared_with: vec!["ops".into()],
            },
        )
        .unwrap();
        assert_eq!(s.things_accessible_by("ops"), vec!["lamp"]);
        assert!(s.set_thing("ghost", ThingInfo::default()).is_err());
    }
}
