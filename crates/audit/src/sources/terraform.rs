//! Terraform plans as `terraform show -json PLAN` prints them: resources under
//! `planned_values.root_module` and its `child_modules`.
//!
//! Handled: `aws_iot_policy`, `aws_iam_role` (`inline_policy` blocks, `managed_policy_arns`),
//! `aws_iam_role_policy`, `aws_iam_policy` with `aws_iam_role_policy_attachment`,
//! `aws_cognito_identity_pool_roles_attachment`, `aws_iot_role_alias`. Values Terraform only
//! knows after apply (an ARN of a role created by the same plan) are absent from
//! `planned_values`; the attachment is then resolved through the reference in the plan's
//! `configuration` section, and a reference that stays ambiguous is an `UNRESOLVED_REFERENCE`
//! finding.
//!
//! Lines: the plan does not say where a resource is written in the `.tf` files, so findings
//! point at the line of the resource's object in the plan file itself.

use std::collections::HashMap;

use serde_json::Value;

use super::node::Node;
use super::{LoadOptions, Location, Pending, PolicyKind, PolicySource, SourceFinding, SourceSet};
use crate::InputError;

struct Resource<'a> {
    address: String,
    ty: String,
    values: &'a Node,
    line: usize,
}

fn collect<'a>(module: &'a Node, out: &mut Vec<Resource<'a>>) {
    for r in module.get("resources").map(Node::items).unwrap_or(&[]) {
        if r.get("mode").and_then(Node::as_str) == Some("data") {
            continue;
        }
        let (Some(address), Some(ty), Some(values)) = (
            r.get("address").and_then(Node::as_str),
            r.get("type").and_then(Node::as_str),
            r.get("values"),
        ) else {
            continue;
        };
        out.push(Resource {
            address: address.to_owned(),
            ty: ty.to_owned(),
            values,
            line: r.line,
        });
    }
    for m in module.get("child_modules").map(Node::items).unwrap_or(&[]) {
        collect(m, out);
    }
}

/// `configuration` references per absolute address and attribute.
fn config_refs(module: &Node, prefix: &str, out: &mut HashMap<(String, String), Vec<String>>) {
    for r in module.get("resources").map(Node::items).unwrap_or(&[]) {
        let Some(addr) = r.get("address").and_then(Node::as_str) else {
            continue;
        };
        for (attr, expr) in r.get("expressions").map(Node::entries).unwrap_or(&[]) {
            let refs: Vec<String> = expr
                .get("references")
                .map(Node::items)
                .unwrap_or(&[])
                .iter()
                .filter_map(Node::as_str)
                .map(|s| format!("{prefix}{s}"))
                .collect();
            if !refs.is_empty() {
                out.insert((format!("{prefix}{addr}"), attr.clone()), refs);
            }
        }
    }
    for (name, call) in module.get("module_calls").map(Node::entries).unwrap_or(&[]) {
        if let Some(m) = call.get("module") {
            config_refs(m, &format!("{prefix}module.{name}."), out);
        }
    }
}

fn text<'n>(n: &'n Node, key: &str) -> Option<&'n str> {
    n.get(key).and_then(Node::as_str)
}

/// The resource address a reference such as `aws_iam_role.auth.arn` names.
fn ref_target(reference: &str, ty: &str) -> Option<String> {
    let i = reference.find(&format!("{ty}."))?;
    let rest = &reference[i + ty.len() + 1..];
    let name = rest.split('.').next()?;
    Some(format!("{}{ty}.{name}", &reference[..i]))
}

pub fn load(file: &str, root: &Node, options: &LoadOptions) -> Result<SourceSet, InputError> {
    let Some(planned) = root
        .get("planned_values")
        .and_then(|p| p.get("root_module"))
    else {
        return Err(InputError::At {
            file: file.into(),
            line: root.line,
            message:
                "planned_values.root_module: missing (is this `terraform show -json` of a plan?)"
                    .into(),
        });
    };
    let mut resources = Vec::new();
    collect(planned, &mut resources);
    let mut refs = HashMap::new();
    if let Some(c) = root.get("configuration").and_then(|c| c.get("root_module")) {
        config_refs(c, "", &mut refs);
    }
    let o = &options.audit;
    let loc = |line: usize| Location {
        file: file.into(),
        line,
    };
    let mut out = SourceSet::default();
    let unresolved = |out: &mut SourceSet, subject: &str, line: usize, message: String| {
        out.findings.push(SourceFinding::unresolved_reference(
            subject, file, line, message,
        ));
    };
    // Roles by address, and the names and ARNs that point at them.
    let mut role_keys: HashMap<String, String> = HashMap::new();
    for r in resources.iter().filter(|r| r.ty == "aws_iam_role") {
        role_keys.insert(r.address.clone(), r.address.clone());
        if let Some(name) = text(r.values, "name") {
            role_keys.insert(name.to_owned(), r.address.clone());
            let path = text(r.values, "path").unwrap_or("/");
            role_keys.insert(
                format!("arn:{}:iam::{}:role{path}{name}", o.partition, o.account_id),
                r.address.clone(),
            );
        }
        if let Some(arn) = text(r.values, "arn") {
            role_keys.insert(arn.to_owned(), r.address.clone());
        }
    }
    // Resolves a role-valued attribute: its planned value, else the configuration reference.
    let role_of = |r: &Resource<'_>, value: Option<&str>, attr: &str| -> Option<String> {
        if let Some(v) = value {
            return role_keys
                .get(v)
                .or_else(|| v.rsplit('/').next().and_then(|n| role_keys.get(n)))
                .cloned();
        }
        let targets: Vec<String> = refs
            .get(&(r.address.clone(), attr.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|s| ref_target(s, "aws_iam_role"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        match targets.as_slice() {
            [one] => role_keys.get(one).cloned(),
            _ => None,
        }
    };
    let mut pending = Vec::new();
    let mut doc = |out: &mut SourceSet,
                   r: &Resource<'_>,
                   role: Option<String>,
                   name: &str,
                   policy: Option<&str>| {
        let Some(policy) = policy else {
            unresolved(
                out,
                &r.address,
                r.line,
                format!(
                    "{}: the policy document is only known after apply, so it is not audited",
                    r.address
                ),
            );
            return;
        };
        match serde_json::from_str::<Value>(policy) {
            Ok(document) => pending.push(Pending {
                role,
                source: PolicySource {
                    kind: PolicyKind::IotPolicy,
                    principal: name.to_owned(),
                    name: name.to_owned(),
                    document,
                    location: loc(r.line),
                    statement_lines: Vec::new(),
                    session: None,
                },
            }),
            Err(e) => out.findings.push(SourceFinding {
                reason: "POLICY_DOCUMENT_REJECTED",
                subject: r.address.clone(),
                location: loc(r.line),
                message: format!("{}: the policy is not JSON: {e}", r.address),
            }),
        }
    };
    let mut policies_by_arn: HashMap<String, &Resource<'_>> = HashMap::new();
    for r in resources.iter().filter(|r| r.ty == "aws_iam_policy") {
        policies_by_arn.insert(r.address.clone(), r);
        if let Some(arn) = text(r.values, "arn") {
            policies_by_arn.insert(arn.to_owned(), r);
        }
        if let Some(name) = text(r.values, "name") {
            let path = text(r.values, "path").unwrap_or("/");
            policies_by_arn.insert(
                format!(
                    "arn:{}:iam::{}:policy{path}{name}",
                    o.partition, o.account_id
                ),
                r,
            );
        }
    }
    let mut attached: std::collections::HashSet<String> = std::collections::HashSet::new();
    for r in &resources {
        let v = r.values;
        match r.ty.as_str() {
            "aws_iot_policy" => {
                let name = text(v, "name").unwrap_or(&r.address);
                doc(&mut out, r, None, name, text(v, "policy"));
            }
            "aws_iam_role" => {
                for ip in v.get("inline_policy").map(Node::items).unwrap_or(&[]) {
                    let name = text(ip, "name").unwrap_or("inline");
                    if ip.get("policy").is_none() && text(ip, "name").is_none() {
                        continue; // the provider's empty placeholder block
                    }
                    doc(
                        &mut out,
                        r,
                        Some(r.address.clone()),
                        name,
                        text(ip, "policy"),
                    );
                }
                for m in v.get("managed_policy_arns").map(Node::items).unwrap_or(&[]) {
                    if let Some(arn) = m.as_str()
                        && !policies_by_arn.contains_key(arn)
                    {
                        unresolved(
                            &mut out,
                            &r.address,
                            r.line,
                            format!(
                                "{}: managed policy {arn} is not in this plan, so its statements are not audited",
                                r.address
                            ),
                        );
                    }
                }
            }
            "aws_iam_role_policy" => {
                let name = text(v, "name").unwrap_or(&r.address);
                match role_of(r, text(v, "role"), "role") {
                    Some(role) => doc(&mut out, r, Some(role), name, text(v, "policy")),
                    None => {
                        unresolved(
                            &mut out,
                            &r.address,
                            r.line,
                            format!(
                                "{}: its role is not in this plan; audited as a role policy of its own",
                                r.address
                            ),
                        );
                        doc(
                            &mut out,
                            r,
                            Some(r.address.clone()),
                            name,
                            text(v, "policy"),
                        );
                    }
                }
            }
            "aws_iam_role_policy_attachment" => {
                let policy = match text(v, "policy_arn") {
                    Some(arn) => policies_by_arn.get(arn).copied(),
                    None => refs
                        .get(&(r.address.clone(), "policy_arn".to_owned()))
                        .into_iter()
                        .flatten()
                        .find_map(|s| ref_target(s, "aws_iam_policy"))
                        .and_then(|a| policies_by_arn.get(&a).copied()),
                };
                let role = role_of(r, text(v, "role"), "role");
                match (policy, role) {
                    (Some(p), Some(role)) => {
                        attached.insert(p.address.clone());
                        let name = text(p.values, "name").unwrap_or(&p.address);
                        doc(&mut out, p, Some(role), name, text(p.values, "policy"));
                    }
                    _ => unresolved(
                        &mut out,
                        &r.address,
                        r.line,
                        format!(
                            "{}: the policy or the role it attaches is not in this plan, so the attachment is not audited",
                            r.address
                        ),
                    ),
                }
            }
            _ => {}
        }
    }
    for r in resources.iter().filter(|r| r.ty == "aws_iam_policy") {
        if !attached.contains(&r.address) {
            let name = text(r.values, "name").unwrap_or(&r.address);
            doc(
                &mut out,
                r,
                Some(r.address.clone()),
                name,
                text(r.values, "policy"),
            );
        }
    }
    let mut kinds = super::RoleKinds::new();
    for r in &resources {
        match r.ty.as_str() {
            "aws_cognito_identity_pool_roles_attachment" => {
                let roles = r.values.get("roles");
                let mut known = Vec::new();
                let mut absent = Vec::new();
                for (key, kind) in [
                    ("authenticated", PolicyKind::CognitoAuthRole),
                    ("unauthenticated", PolicyKind::CognitoUnauthRole),
                ] {
                    match roles.and_then(|m| text(m, key)) {
                        Some(arn) => match role_of(r, Some(arn), "roles") {
                            Some(role) => {
                                known.push(role.clone());
                                kinds.entry(role).or_default().push((kind, String::new()));
                            }
                            None => unresolved(
                                &mut out,
                                &r.address,
                                r.line,
                                format!(
                                    "{}: the {key} role {arn} is not in this plan, so it is not audited",
                                    r.address
                                ),
                            ),
                        },
                        None => absent.push((key, kind)),
                    }
                }
                // An ARN known only after apply is absent from planned_values; the roles the
                // `roles` expression references, less those already placed, tell which it is
                // when exactly one is left.
                let referenced: std::collections::BTreeSet<String> = refs
                    .get(&(r.address.clone(), "roles".to_owned()))
                    .into_iter()
                    .flatten()
                    .filter_map(|s| ref_target(s, "aws_iam_role"))
                    .filter(|a| !known.contains(a))
                    .collect();
                match (absent.as_slice(), referenced.len()) {
                    (_, 0) => {}
                    ([(_, kind)], 1) => {
                        if let Some(role) = referenced.into_iter().next() {
                            kinds.entry(role).or_default().push((*kind, String::new()));
                        }
                    }
                    _ => unresolved(
                        &mut out,
                        &r.address,
                        r.line,
                        format!(
                            "{}: role ARNs known only after apply, and the configuration does not tell which role is which; pass the plan after apply or name the roles by ARN",
                            r.address
                        ),
                    ),
                }
            }
            "aws_iot_role_alias" => {
                let alias = text(r.values, "alias").unwrap_or(&r.address).to_owned();
                match role_of(r, text(r.values, "role_arn"), "role_arn") {
                    Some(role) => kinds
                        .entry(role)
                        .or_default()
                        .push((PolicyKind::RoleAlias, alias)),
                    None => unresolved(
                        &mut out,
                        &r.address,
                        r.line,
                        format!(
                            "{}: the role behind role alias {alias} is not in this plan, so it is not audited",
                            r.address
                        ),
                    ),
                }
            }
            _ => {}
        }
    }
    super::settle(&mut out, pending, &kinds);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::node::parse;

    const PLAN: &str = include_str!("fixtures/tf-plan.json");

    #[test]
    fn plan_resources_and_attachments_resolve() {
        let s = load("plan.json", &parse(PLAN).unwrap(), &LoadOptions::default()).unwrap();
        let got: Vec<_> = s
            .policies
            .iter()
            .map(|p| {
                (
                    p.kind,
                    p.principal.as_str(),
                    p.name.as_str(),
                    p.location.line,
                )
            })
            .collect();
        assert!(
            got.contains(&(PolicyKind::IotPolicy, "dev", "dev", 7)),
            "{got:?}"
        );
        assert!(
            got.contains(&(PolicyKind::CognitoUnauthRole, "aws_iam_role.guest", "g", 9)),
            "{got:?}"
        );
        assert!(
            got.contains(&(
                PolicyKind::CognitoAuthRole,
                "module.m.aws_iam_role.auth",
                "p",
                15
            )),
            "{got:?}"
        );
        assert!(s.findings.is_empty(), "{:?}", s.findings);
    }

    #[test]
    fn pool_roles_known_only_after_apply_are_ambiguous_findings() {
        let plan = include_str!(
            "fixtures/tf-pool-roles-known-only-after-apply-are-ambiguous-findings.json"
        );
        let s = load("plan.json", &parse(plan).unwrap(), &LoadOptions::default()).unwrap();
        assert!(
            s.only_finding()
                .message
                .contains("does not tell which role is which")
        );
    }

    #[test]
    fn unknown_documents_are_findings() {
        let plan = include_str!("fixtures/tf-unknown-documents-are-findings.json");
        let s = load("plan.json", &parse(plan).unwrap(), &LoadOptions::default()).unwrap();
        assert!(s.policies.is_empty());
        assert_eq!(s.findings[0].reason, "UNRESOLVED_REFERENCE");
        assert!(s.findings[0].message.contains("only known after apply"));
    }
}
