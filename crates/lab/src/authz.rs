//! How the lab authorizes a principal: its policy set and the principal's part of the request
//! context. The broker, the shadow service and the root package's `simulate` all start here,
//! so the live lab and the offline gate evaluate the same thing by construction.

use std::time::SystemTime;

use iot_canary_policy::{PolicySet, RequestContext};

use crate::state::{LabState, Principal};

/// A principal as the policy engine sees it, before the per-request facts (client id, source
/// address, connect attributes) are added.
#[derive(Debug, Clone)]
pub struct PrincipalAuthz {
    pub set: PolicySet,
    /// Region, account and the principal's variables (`aws:username`, the Cognito `sub`).
    pub context: RequestContext,
}

impl LabState {
    /// The policy set in force for `principal` at `now` (propagation delay applied) and the
    /// request context every one of its requests starts from.
    pub fn principal_authz(&self, principal: &Principal, now: SystemTime) -> PrincipalAuthz {
        let mut context = RequestContext {
            region: self.region().to_string(),
            account_id: self.account_id().to_string(),
            ..Default::default()
        };
        match principal {
            Principal::IamUser { name } => {
                context
                    .values
                    .insert("aws:username".into(), vec![name.clone()]);
            }
            Principal::CognitoAuthenticated { identity_id, .. }
            | Principal::CognitoUnauthenticated { identity_id } => {
                context.values.insert(
                    "cognito-identity.amazonaws.com:sub".into(),
                    vec![identity_id.clone()],
                );
            }
            Principal::AssumedRole { .. } => {}
        }
        PrincipalAuthz {
            set: self.policy_set_for(principal, now),
            context,
        }
    }
}
