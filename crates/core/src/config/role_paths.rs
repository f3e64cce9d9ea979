//! `check`'s rule for the role-path actions (`assume-role`, `web-identity`, `custom-role`):
//! which identities can try them (`role_arn` itself is `probe_names::role_arn_problem`). Pure.

use super::identity::{EndpointAuth, IdentityConfig, IdentityKind};
use crate::verdict::ProbeAction;

/// Why `identity` cannot try `action` (a role path), if it cannot. `web-identity` needs a
/// Cognito identity (a guest or a signed-in user of an identity pool); `custom-role` a
/// signed-in user (role selection reads the id token); `assume-role` any identity (it signs
/// sts:AssumeRole with the identity's own credentials).
pub fn identity_problem(action: ProbeAction, identity: &IdentityConfig) -> Option<String> {
    let (guest, signed_in) = match &identity.kind {
        IdentityKind::CognitoGuest(_) => (true, false),
        IdentityKind::Cognito(_) => (false, true),
        IdentityKind::CredentialEndpoint(c) => (
            false,
            matches!(c.auth, EndpointAuth::Cognito { .. }) && c.identity_pool_id.is_some(),
        ),
        _ => (false, false),
    };
    let kind = identity.kind.as_str();
    let endpoint_hint = if matches!(identity.kind, IdentityKind::CredentialEndpoint(_)) {
        " (a `credential-endpoint` identity qualifies with a Cognito login and `identity_pool_id`)"
    } else {
        ""
    };
    match action {
        ProbeAction::WebIdentity if !(guest || signed_in) => Some(format!(
            "action `web-identity` needs a Cognito identity (`cognito`, `cognito-guest`, or `credential-endpoint` with a Cognito login and `identity_pool_id`); identity `{}` is `{kind}`{endpoint_hint}",
            identity.name
        )),
        ProbeAction::CustomRole if !signed_in => Some(format!(
            "action `custom-role` needs a signed-in Cognito user (`cognito`, or `credential-endpoint` with a Cognito login and `identity_pool_id`): role selection reads the user's id token; identity `{}` is `{kind}`{endpoint_hint}",
            identity.name
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(text: &str) -> IdentityConfig {
        #[derive(serde::Deserialize)]
        struct Doc {
            identity: Vec<IdentityConfig>,
        }
        toml::from_str::<Doc>(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .identity
            .remove(0)
    }

    const POOL: &str = "us-east-1:0a1b2c3d-0000-4000-8000-00000000c0de";

    #[test]
    fn who_may_try_which_path() {
        let guest = identity(&format!(
            "[[identity]]\nname = \"g\"\nkind = \"cognito-guest\"\nidentity_pool_id = \"{POOL}\"\n"
        ));
        let user = identity(&format!(
            "[[identity]]\nname = \"u\"\nkind = \"cognito\"\nuser_pool_id = \"us-east-1_P\"\napp_client_id = \"c\"\nidentity_pool_id = \"{POOL}\"\nusername = \"alice\"\npassword_env = \"P\"\n"
        ));
        let vend_pool = identity(&format!(
            "[[identity]]\nname = \"v\"\nkind = \"credential-endpoint\"\nurl = \"https://x.example/vend\"\nuser_pool_id = \"us-east-1_P\"\napp_client_id = \"c\"\nusername = \"alice\"\npassword_env = \"P\"\nidentity_pool_id = \"{POOL}\"\n"
        ));
        let vend = identity(
            "[[identity]]\nname = \"w\"\nkind = \"credential-endpoint\"\nurl = \"https://x.example/vend\"\nuser_pool_id = \"us-east-1_P\"\napp_client_id = \"c\"\nusername = \"alice\"\npassword_env = \"P\"\n",
        );
        let keys = identity(
            "[[identity]]\nname = \"k\"\nkind = \"static\"\naccess_key_id_env = \"A\"\nsecret_access_key_env = \"S\"\n",
        );
        use ProbeAction::*;
        for id in [&guest, &user, &vend_pool, &vend, &keys] {
            assert_eq!(identity_problem(AssumeRole, id), None, "{}", id.name);
        }
        for id in [&guest, &user, &vend_pool] {
            assert_eq!(identity_problem(WebIdentity, id), None, "{}", id.name);
        }
        for id in [&user, &vend_pool] {
            assert_eq!(identity_problem(CustomRole, id), None, "{}", id.name);
        }
        let e = identity_problem(WebIdentity, &keys).expect("static has no Cognito identity");
        assert!(e.contains("identity `k` is `static`"), "{e}");
        let e = identity_problem(WebIdentity, &vend).expect("no identity_pool_id");
        assert!(e.contains("`identity_pool_id`"), "{e}");
        let e = identity_problem(CustomRole, &guest).expect("guests have no id token");
        assert!(e.contains("signed-in"), "{e}");
    }

    #[test]
    fn identity_pool_id_needs_a_cognito_login() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            identity: Vec<IdentityConfig>,
        }
        let e = toml::from_str::<Doc>(&format!(
            "[[identity]]\nname = \"b\"\nkind = \"credential-endpoint\"\nurl = \"https://x.example/vend\"\nbearer_token_env = \"T\"\nidentity_pool_id = \"{POOL}\"\n"
        ))
        .expect_err("bearer tokens cannot sign in to an identity pool");
        assert!(
            e.to_string()
                .contains("`identity_pool_id` needs a Cognito login"),
            "{e}"
        );
    }
}
