//! CloudFormation templates (YAML with short-form tags, or JSON): AWS::IoT::Policy,
//! AWS::IAM::Role (inline `Policies`, `ManagedPolicyArns`), AWS::IAM::Policy and
//! AWS::IAM::ManagedPolicy (`Roles`), AWS::Cognito::IdentityPoolRoleAttachment (which roles are
//! the pool's authenticated / unauthenticated roles) and AWS::IoT::RoleAlias.
//!
//! Intrinsics resolved: `Ref` (parameters: `--parameter` override, else `Default`; pseudo
//! parameters; resources), `Fn::Sub` (both forms, `${!Literal}`), `Fn::Join`, `Fn::Select`,
//! `Fn::Split`, `Fn::FindInMap`, `Fn::If` (with `Conditions` built from `Fn::Equals`, `Fn::Not`,
//! `Fn::And`, `Fn::Or`, `Condition`), `Fn::GetAtt` of the resource types below (and a
//! synthesized `Arn` for other types). Resources whose `Condition` is false are left out. A resource's
//! physical name is its name property when the template sets one; otherwise CloudFormation
//! generates one at deploy time, and the logical id stands in for it: a specific name without
//! wildcards, which is what the checks care about. Anything else (`Fn::If`, `Fn::ImportValue`,
//! a parameter without a value, an unknown attribute) is an `UNRESOLVED_INTRINSIC` finding and
//! the document it sits in is not audited.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::node::{Kind, Node};
use super::{LoadOptions, Location, Pending, PolicyKind, PolicySource, SourceFinding, SourceSet};
use crate::InputError;

/// Why a value could not be resolved, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unresolved {
    line: usize,
    message: String,
}

struct Template<'a> {
    file: &'a str,
    options: &'a LoadOptions,
    parameters: HashMap<String, Option<Value>>,
    mappings: Option<&'a Node>,
    conditions: Option<&'a Node>,
    resources: BTreeMap<String, (&'a str, Option<&'a Node>, usize)>,
}

const MAX_DEPTH: usize = 32;

const INTRINSICS: &[&str] = &[
    "Ref",
    "Fn::Sub",
    "Fn::Join",
    "Fn::GetAtt",
    "Fn::Select",
    "Fn::Split",
    "Fn::FindInMap",
    "Fn::If",
    "Fn::ImportValue",
    "Fn::GetAZs",
    "Fn::Base64",
    "Fn::Cidr",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Transform",
    "Fn::Length",
    "Fn::ToJsonString",
    "Condition",
];

/// `(function, argument)` when the node is an intrinsic in either form.
fn intrinsic(node: &Node) -> Option<(String, Node)> {
    if let Some(tag) = &node.tag
        && let Some(short) = tag.strip_prefix('!')
    {
        let name = match short {
            "Ref" | "Condition" => short.to_owned(),
            other => format!("Fn::{other}"),
        };
        let mut arg = node.clone();
        arg.tag = None;
        return Some((name, arg));
    }
    match node.entries() {
        [(k, v)] if INTRINSICS.contains(&k.as_str()) => Some((k.clone(), v.clone())),
        _ => None,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'a> Template<'a> {
    fn err(&self, line: usize, message: impl Into<String>) -> Unresolved {
        Unresolved {
            line,
            message: message.into(),
        }
    }

    fn audit(&self) -> &crate::AuditOptions {
        &self.options.audit
    }

    /// Resolves a node to JSON; `Ok(None)` is `AWS::NoValue` (the element is dropped).
    fn value(&self, node: &Node, depth: usize) -> Result<Option<Value>, Unresolved> {
        if depth > MAX_DEPTH {
            return Err(self.err(node.line, "intrinsics nest too deep (a reference cycle?)"));
        }
        if let Some((func, arg)) = intrinsic(node) {
            return self.call(&func, &arg, node.line, depth + 1);
        }
        Ok(Some(match &node.kind {
            Kind::Scalar { text, plain } => super::node::scalar_json(text, *plain),
            Kind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    if let Some(v) = self.value(i, depth + 1)? {
                        out.push(v);
                    }
                }
                Value::Array(out)
            }
            Kind::Map(entries) => {
                let mut out = serde_json::Map::new();
                for (k, v) in entries {
                    if let Some(v) = self.value(v, depth + 1)? {
                        out.insert(k.clone(), v);
                    }
                }
                Value::Object(out)
            }
        }))
    }

    fn text(&self, node: &Node, depth: usize, what: &str) -> Result<String, Unresolved> {
        match self.value(node, depth)? {
            Some(v) => as_text(&v)
                .ok_or_else(|| self.err(node.line, format!("{what} must be a string, got {v}"))),
            None => Err(self.err(node.line, format!("{what} is AWS::NoValue"))),
        }
    }

    fn call(
        &self,
        func: &str,
        arg: &Node,
        line: usize,
        depth: usize,
    ) -> Result<Option<Value>, Unresolved> {
        match func {
            "Ref" => {
                let name = arg
                    .as_str()
                    .ok_or_else(|| self.err(line, "Ref takes a name"))?;
                self.reference(name, line, depth)
            }
            "Fn::GetAtt" => {
                let (res, attr) = match &arg.kind {
                    Kind::Scalar { text, .. } => match text.split_once('.') {
                        Some((r, a)) => (r.to_owned(), a.to_owned()),
                        None => return Err(self.err(line, "Fn::GetAtt takes `Resource.Attribute`")),
                    },
                    Kind::Seq(items) if items.len() == 2 => (
                        self.text(&items[0], depth, "Fn::GetAtt resource")?,
                        self.text(&items[1], depth, "Fn::GetAtt attribute")?,
                    ),
                    _ => return Err(self.err(line, "Fn::GetAtt takes [Resource, Attribute]")),
                };
                self.get_att(&res, &attr, line, depth)
                    .map(|s| Some(Value::String(s)))
            }
            "Fn::Sub" => {
                let (template, vars) = match &arg.kind {
                    Kind::Seq(items) if items.len() == 2 => (&items[0], Some(&items[1])),
                    Kind::Scalar { .. } => (arg, None),
                    _ => return Err(self.err(line, "Fn::Sub takes a string or [string, map]")),
                };
                let template = template
                    .as_str()
                    .ok_or_else(|| self.err(line, "Fn::Sub template must be a string"))?;
                self.sub(template, vars, line, depth)
                    .map(|s| Some(Value::String(s)))
            }
            "Fn::Join" => {
                let [delim, list] = arg.items() else {
                    return Err(self.err(line, "Fn::Join takes [delimiter, [values]]"));
                };
                let delim = self.text(delim, depth, "Fn::Join delimiter")?;
                let parts = match self.value(list, depth)? {
                    Some(Value::Array(items)) => items,
                    _ => return Err(self.err(list.line, "Fn::Join values must be a list")),
                };
                let mut out = Vec::with_capacity(parts.len());
                for p in &parts {
                    out.push(as_text(p).ok_or_else(|| {
                        self.err(list.line, format!("Fn::Join value {p} is not a string"))
                    })?);
                }
                Ok(Some(Value::String(out.join(&delim))))
            }
            "Fn::Select" => {
                let [index, list] = arg.items() else {
                    return Err(self.err(line, "Fn::Select takes [index, list]"));
                };
                let i: usize = self
                    .text(index, depth, "Fn::Select index")?
                    .parse()
                    .map_err(|_| self.err(index.line, "Fn::Select index is not a number"))?;
                match self.value(list, depth)? {
                    Some(Value::Array(items)) => items.get(i).cloned().map(Some).ok_or_else(|| {
                        self.err(line, format!("Fn::Select index {i} is out of range"))
                    }),
                    _ => Err(self.err(list.line, "Fn::Select needs a list")),
                }
            }
            "Fn::Split" => {
                let [delim, source] = arg.items() else {
                    return Err(self.err(line, "Fn::Split takes [delimiter, string]"));
                };
                let delim = self.text(delim, depth, "Fn::Split delimiter")?;
                let source = self.text(source, depth, "Fn::Split source")?;
                Ok(Some(Value::Array(
                    source
                        .split(delim.as_str())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                )))
            }
            "Fn::FindInMap" => {
                let [map, k1, k2] = arg.items() else {
                    return Err(self.err(line, "Fn::FindInMap takes [map, key, key]"));
                };
                let map = self.text(map, depth, "Fn::FindInMap map")?;
                let k1 = self.text(k1, depth, "Fn::FindInMap key")?;
                let k2 = self.text(k2, depth, "Fn::FindInMap key")?;
                let found = self
                    .mappings
                    .and_then(|m| m.get(&map))
                    .and_then(|m| m.get(&k1))
                    .and_then(|m| m.get(&k2))
                    .ok_or_else(|| {
                        self.err(line, format!("Fn::FindInMap: no Mappings.{map}.{k1}.{k2}"))
                    })?;
                self.value(found, depth)
            }
            "Fn::If" => match self.branch_of_if(arg, line, depth)? {
                Some(n) => self.value(&n, depth),
                None => Ok(None),
            },
            other => Err(self.err(
                line,
                format!("{other} is not resolved offline (its value is only known at deploy time)"),
            )),
        }
    }

    /// The branch `Fn::If [condition, then, else]` takes.
    fn branch_of_if(
        &self,
        arg: &Node,
        line: usize,
        depth: usize,
    ) -> Result<Option<Node>, Unresolved> {
        let [cond, then, otherwise] = arg.items() else {
            return Err(self.err(
                line,
                "Fn::If takes [condition, value if true, value if false]",
            ));
        };
        let name = cond
            .as_str()
            .ok_or_else(|| self.err(cond.line, "Fn::If condition must be a name"))?;
        let chosen = if self.condition(name, line, depth + 1)? {
            then
        } else {
            otherwise
        };
        self.branch(chosen, depth + 1)
    }

    /// A node with `Fn::If` resolved structurally (keeping lines); `None` for AWS::NoValue.
    fn branch(&self, node: &Node, depth: usize) -> Result<Option<Node>, Unresolved> {
        if depth > MAX_DEPTH {
            return Err(self.err(node.line, "intrinsics nest too deep (a reference cycle?)"));
        }
        match intrinsic(node) {
            Some((f, arg)) if f == "Fn::If" => self.branch_of_if(&arg, node.line, depth + 1),
            Some((f, arg)) if f == "Ref" && arg.as_str() == Some("AWS::NoValue") => Ok(None),
            _ => Ok(Some(node.clone())),
        }
    }

    fn condition(&self, name: &str, line: usize, depth: usize) -> Result<bool, Unresolved> {
        let node = self
            .conditions
            .and_then(|c| c.get(name))
            .ok_or_else(|| self.err(line, format!("Fn::If: no condition {name} in Conditions")))?;
        self.truth(node, depth + 1)
    }

    fn truth(&self, node: &Node, depth: usize) -> Result<bool, Unresolved> {
        if depth > MAX_DEPTH {
            return Err(self.err(node.line, "conditions nest too deep (a reference cycle?)"));
        }
        let Some((f, arg)) = intrinsic(node) else {
            return Err(self.err(
                node.line,
                "a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition",
            ));
        };
        match f.as_str() {
            "Fn::Equals" => {
                let [a, b] = arg.items() else {
                    return Err(self.err(node.line, "Fn::Equals takes two values"));
                };
                Ok(self.value(a, depth)? == self.value(b, depth)?)
            }
            "Fn::Not" => match arg.items() {
                [c] => Ok(!self.truth(c, depth + 1)?),
                _ => Err(self.err(node.line, "Fn::Not takes one condition")),
            },
            "Fn::And" => {
                for c in arg.items() {
                    if !self.truth(c, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Fn::Or" => {
                for c in arg.items() {
                    if self.truth(c, depth + 1)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            "Condition" => {
                let name = arg
                    .as_str()
                    .ok_or_else(|| self.err(node.line, "Condition takes a name"))?;
                self.condition(name, node.line, depth + 1)
            }
            other => Err(self.err(node.line, format!("{other} is not a condition function"))),
        }
    }

    fn reference(
        &self,
        name: &str,
        line: usize,
        depth: usize,
    ) -> Result<Option<Value>, Unresolved> {
        let o = self.audit();
        let pseudo = match name {
            "AWS::Region" => Some(o.region.clone()),
            "AWS::AccountId" => Some(o.account_id.clone()),
            "AWS::Partition" => Some(o.partition.clone()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_owned()),
            "AWS::StackName" => Some("stack".to_owned()),
            "AWS::NoValue" => return Ok(None),
            _ => None,
        };
        if let Some(p) = pseudo {
            return Ok(Some(Value::String(p)));
        }
        if name.starts_with("AWS::") {
            return Err(self.err(
                line,
                format!("Ref {name}: pseudo parameter not resolved offline"),
            ));
        }
        if let Some(p) = self.parameters.get(name) {
            return p.clone().map(Some).ok_or_else(|| {
                self.err(
                    line,
                    format!(
                        "Ref {name}: the parameter has no Default; pass --parameter {name}=VALUE"
                    ),
                )
            });
        }
        if let Some((ty, _, _)) = self.resources.get(name) {
            let value = match *ty {
                "AWS::IAM::ManagedPolicy" => self.managed_policy_arn(name, depth)?,
                "AWS::Cognito::IdentityPool" => format!("{}:{name}", o.region),
                // Types whose Ref is their ARN.
                "AWS::ECS::TaskDefinition"
                | "AWS::SNS::Topic"
                | "AWS::SecretsManager::Secret"
                | "AWS::StepFunctions::StateMachine" => self.synthetic_arn(name, ty, depth)?,
                _ => self.physical_name(name, depth)?,
            };
            return Ok(Some(Value::String(value)));
        }
        Err(self.err(line, format!("Ref {name}: no such parameter or resource")))
    }

    /// The resource's name property, or its logical id when the template leaves naming to
    /// CloudFormation.
    fn physical_name(&self, logical: &str, depth: usize) -> Result<String, Unresolved> {
        let Some((ty, props, _)) = self.resources.get(logical) else {
            return Ok(logical.to_owned());
        };
        let key = match *ty {
            "AWS::IAM::Role" => "RoleName",
            "AWS::IoT::Policy" => "PolicyName",
            "AWS::IoT::Thing" => "ThingName",
            "AWS::IoT::RoleAlias" => "RoleAlias",
            "AWS::IAM::ManagedPolicy" => "ManagedPolicyName",
            "AWS::IAM::User" => "UserName",
            "AWS::IAM::Policy" => "PolicyName",
            "AWS::Cognito::IdentityPool" => "IdentityPoolName",
            "AWS::IoT::ThingGroup" => "ThingGroupName",
            _ => return Ok(logical.to_owned()),
        };
        match props.and_then(|p| p.get(key)) {
            Some(n) => self.text(n, depth + 1, key),
            None => Ok(logical.to_owned()),
        }
    }

    fn role_arn(&self, logical: &str, depth: usize) -> Result<String, Unresolved> {
        let o = self.audit();
        let path = match self
            .resources
            .get(logical)
            .and_then(|r| r.1)
            .and_then(|p| p.get("Path"))
        {
            Some(n) => self.text(n, depth + 1, "Path")?,
            None => "/".to_owned(),
        };
        Ok(format!(
            "arn:{}:iam::{}:role{path}{}",
            o.partition,
            o.account_id,
            self.physical_name(logical, depth)?
        ))
    }

    fn managed_policy_arn(&self, logical: &str, depth: usize) -> Result<String, Unresolved> {
        let o = self.audit();
        Ok(format!(
            "arn:{}:iam::{}:policy/{}",
            o.partition,
            o.account_id,
            self.physical_name(logical, depth)?
        ))
    }

    fn get_att(
        &self,
        res: &str,
        attr: &str,
        line: usize,
        depth: usize,
    ) -> Result<String, Unresolved> {
        let o = self.audit();
        let Some((ty, _, _)) = self.resources.get(res) else {
            return Err(self.err(line, format!("Fn::GetAtt {res}.{attr}: no such resource")));
        };
        let iot = |kind: &str| -> Result<String, Unresolved> {
            Ok(format!(
                "arn:{}:iot:{}:{}:{kind}/{}",
                o.partition,
                o.region,
                o.account_id,
                self.physical_name(res, depth)?
            ))
        };
        match (*ty, attr) {
            ("AWS::IAM::Role", "Arn") => self.role_arn(res, depth),
            ("AWS::IAM::Role", "RoleId") => Ok(format!("AROA{}", res.to_ascii_uppercase())),
            ("AWS::IAM::User", "Arn") => Ok(format!(
                "arn:{}:iam::{}:user/{}",
                o.partition,
                o.account_id,
                self.physical_name(res, depth)?
            )),
            ("AWS::IAM::ManagedPolicy", "PolicyArn") => self.managed_policy_arn(res, depth),
            ("AWS::Cognito::IdentityPool", "Id") => Ok(format!("{}:{res}", o.region)),
            ("AWS::Cognito::IdentityPool", "Name") => self.physical_name(res, depth),
            ("AWS::IoT::Policy", "Arn") => iot("policy"),
            ("AWS::IoT::Policy", "Id") => self.physical_name(res, depth),
            ("AWS::IoT::Thing", "Arn") => iot("thing"),
            ("AWS::IoT::Thing", "Id") => self.physical_name(res, depth),
            ("AWS::IoT::ThingGroup", "Arn") => iot("thinggroup"),
            ("AWS::IoT::RoleAlias", "RoleAliasArn") => iot("rolealias"),
            (_, "Arn") => self.synthetic_arn(res, ty, depth),
            _ => Err(self.err(
                line,
                format!("Fn::GetAtt {res}.{attr}: attribute of {ty} not resolved offline"),
            )),
        }
    }

    /// The ARN of a resource type without a rule above: service and resource type from the
    /// type name, the physical name last. Specific, never wildcarded, which is all a policy
    /// check needs of it.
    fn synthetic_arn(&self, logical: &str, ty: &str, depth: usize) -> Result<String, Unresolved> {
        let o = self.audit();
        let mut parts = ty.split("::").skip(1);
        let service = parts.next().unwrap_or("aws").to_ascii_lowercase();
        let kind = parts.next().unwrap_or("resource").to_ascii_lowercase();
        let name = self.physical_name(logical, depth)?;
        Ok(match service.as_str() {
            "s3" => format!("arn:{}:s3:::{name}", o.partition),
            "iam" => format!("arn:{}:iam::{}:{kind}/{name}", o.partition, o.account_id),
            _ => format!(
                "arn:{}:{service}:{}:{}:{kind}/{name}",
                o.partition, o.region, o.account_id
            ),
        })
    }

    fn sub(
        &self,
        template: &str,
        vars: Option<&Node>,
        line: usize,
        depth: usize,
    ) -> Result<String, Unresolved> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.err(line, format!("Fn::Sub: unclosed `${{` in `{template}`")));
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                out.push_str(&self.text(v, depth, &format!("Fn::Sub variable {name}"))?);
            } else if let Some((res, attr)) = name.split_once('.')
                && self.resources.contains_key(res)
            {
                out.push_str(&self.get_att(res, attr, line, depth)?);
            } else if name.contains(':') && !name.starts_with("AWS::") {
                return Err(self.err(
                    line,
                    format!(
                        "Fn::Sub: `${{{name}}}` is not a template parameter; a policy variable inside Fn::Sub must be written `${{!{name}}}`"
                    ),
                ));
            } else {
                match self.reference(name, line, depth)? {
                    Some(v) => out.push_str(&as_text(&v).ok_or_else(|| {
                        self.err(
                            line,
                            format!("Fn::Sub: `${{{name}}}` is a list, not a string"),
                        )
                    })?),
                    None => {
                        return Err(
                            self.err(line, format!("Fn::Sub: `${{{name}}}` is AWS::NoValue"))
                        );
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A policy document property: an object, or a JSON string (AWS::IoT::Policy accepts both).
    fn document(&self, node: &Node) -> Result<Value, Unresolved> {
        match self.value(node, 0)? {
            Some(Value::String(s)) => serde_json::from_str(&s).map_err(|e| {
                self.err(
                    node.line,
                    format!("policy document string is not JSON: {e}"),
                )
            }),
            Some(v @ Value::Object(_)) => Ok(v),
            Some(v) => Err(self.err(
                node.line,
                format!("policy document must be an object, got {v}"),
            )),
            None => Err(self.err(node.line, "policy document is AWS::NoValue")),
        }
    }
}

pub fn load(file: &str, root: &Node, options: &LoadOptions) -> Result<SourceSet, InputError> {
    let at = |line: usize, message: String| InputError::At {
        file: file.into(),
        line,
        message,
    };
    let resources_node = root
        .get("Resources")
        .ok_or_else(|| at(root.line, "Resources: missing".into()))?;
    if !matches!(resources_node.kind, Kind::Map(_)) {
        return Err(at(
            resources_node.line,
            "Resources: must be a mapping".into(),
        ));
    }
    let mut parameters = HashMap::new();
    for (name, p) in root.get("Parameters").map(Node::entries).unwrap_or(&[]) {
        let list = p
            .get("Type")
            .and_then(Node::as_str)
            .is_some_and(|t| t.starts_with("List<") || t == "CommaDelimitedList");
        let raw: Option<Value> = options
            .parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Value::String(v.clone()))
            .or_else(|| p.get("Default").map(Node::to_json));
        let value = raw.map(|v| match (&v, list) {
            (Value::String(s), true) => Value::Array(
                s.split(',')
                    .map(|x| Value::String(x.trim().to_owned()))
                    .collect(),
            ),
            _ => v,
        });
        parameters.insert(name.clone(), value);
    }
    for (k, _) in &options.parameters {
        if !parameters.contains_key(k) {
            return Err(InputError::File {
                file: file.into(),
                message: format!("--parameter {k}: the template has no parameter {k}"),
            });
        }
    }
    let mut resources = BTreeMap::new();
    for (id, r) in resources_node.entries() {
        let ty = r
            .get("Type")
            .and_then(Node::as_str)
            .ok_or_else(|| at(r.line, format!("Resources.{id}.Type: missing")))?;
        resources.insert(id.clone(), (ty, r.get("Properties"), r.line));
    }
    let mut t = Template {
        file,
        options,
        parameters,
        mappings: root.get("Mappings"),
        conditions: root.get("Conditions"),
        resources,
    };
    let mut out = SourceSet::default();
    // Resources whose `Condition` is false are not created; one that cannot be evaluated is
    // reported and left out.
    let mut absent = Vec::new();
    for (id, r) in resources_node.entries() {
        let Some(c) = r.get("Condition") else {
            continue;
        };
        let created = match c.as_str() {
            Some(name) => t.condition(name, c.line, 0),
            None => Err(t.err(c.line, "Condition must be a condition name")),
        };
        match created {
            Ok(true) => {}
            Ok(false) => absent.push(id.clone()),
            Err(u) => {
                out.findings.push(SourceFinding {
                    reason: "UNRESOLVED_INTRINSIC",
                    subject: id.clone(),
                    location: Location {
                        file: file.into(),
                        line: u.line,
                    },
                    message: format!(
                        "{id}: its Condition cannot be evaluated: {}; its policies are not audited",
                        u.message
                    ),
                });
                absent.push(id.clone());
            }
        }
    }
    t.resources.retain(|id, _| !absent.contains(id));
    let t = t;
    let mut pending: Vec<Pending> = Vec::new();
    let unresolved = |out: &mut SourceSet, subject: &str, u: Unresolved| {
        out.findings.push(SourceFinding {
            reason: "UNRESOLVED_INTRINSIC",
            subject: subject.to_owned(),
            location: Location {
                file: t.file.into(),
                line: u.line,
            },
            message: format!("{subject}: {}; the policy is not audited", u.message),
        });
    };
    let mut add =
        |out: &mut SourceSet, role: Option<&str>, subject: &str, name: &str, doc_node: &Node| {
            match t.document(doc_node) {
                Ok(document) => pending.push(Pending {
                    role: role.map(str::to_owned),
                    source: PolicySource {
                        kind: PolicyKind::IotPolicy,
                        principal: subject.to_owned(),
                        name: name.to_owned(),
                        document,
                        location: Location {
                            file: file.into(),
                            line: doc_node.line,
                        },
                        statement_lines: super::statement_lines(doc_node),
                        session: None,
                    },
                }),
                Err(u) => unresolved(out, subject, u),
            }
        };
    // Role name -> logical id, to attach AWS::IAM::Policy `Roles` and pool attachments by ARN.
    let mut role_by_arn: HashMap<String, String> = HashMap::new();
    let mut role_by_name: HashMap<String, String> = HashMap::new();
    for (id, (ty, _, line)) in &t.resources {
        if *ty == "AWS::IAM::Role" {
            match (t.role_arn(id, 0), t.physical_name(id, 0)) {
                (Ok(arn), Ok(name)) => {
                    role_by_arn.insert(arn, id.clone());
                    role_by_name.insert(name, id.clone());
                }
                (Err(u), _) | (_, Err(u)) => unresolved(
                    &mut out,
                    id,
                    Unresolved {
                        line: u.line.max(*line),
                        message: u.message,
                    },
                ),
            }
        }
    }
    let role_of = |t: &Template<'_>, n: &Node| -> Result<Option<String>, Unresolved> {
        let v = t.text(n, 0, "role")?;
        Ok(role_by_arn
            .get(&v)
            .or_else(|| role_by_name.get(&v))
            .or_else(|| v.rsplit('/').next().and_then(|n| role_by_name.get(n)))
            .cloned())
    };
    // A list property, with `Fn::If` and AWS::NoValue resolved around and inside it.
    let list = |out: &mut SourceSet, id: &str, n: Option<&Node>| -> Vec<Node> {
        let Some(n) = n else { return Vec::new() };
        let whole = match t.branch(n, 0) {
            Ok(Some(w)) => w,
            Ok(None) => return Vec::new(),
            Err(u) => {
                unresolved(out, id, u);
                return Vec::new();
            }
        };
        let mut items = Vec::new();
        for i in whole.items() {
            match t.branch(i, 0) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {}
                Err(u) => unresolved(out, id, u),
            }
        }
        items
    };
    // Roles name managed policies by ARN; collect them first, the policies may come earlier.
    let mut managed_targets: HashMap<String, Vec<String>> = HashMap::new();
    for (id, (ty, props, _)) in &t.resources {
        if *ty != "AWS::IAM::Role" {
            continue;
        }
        for m in list(&mut out, id, props.and_then(|p| p.get("ManagedPolicyArns"))) {
            match t.text(&m, 0, "ManagedPolicyArns") {
                Ok(arn) => managed_targets.entry(arn).or_default().push(id.clone()),
                Err(u) => unresolved(&mut out, id, u),
            }
        }
    }
    for (id, (ty, props, line)) in &t.resources {
        let Some(props) = props else { continue };
        match *ty {
            "AWS::IoT::Policy" => match props.get("PolicyDocument") {
                Some(doc) => {
                    let name = t.physical_name(id, 0).unwrap_or_else(|_| id.clone());
                    add(&mut out, None, &name, &name, doc);
                }
                None => {
                    return Err(at(
                        *line,
                        format!("Resources.{id}.Properties.PolicyDocument: missing"),
                    ));
                }
            },
            "AWS::IAM::Role" => {
                for p in list(&mut out, id, props.get("Policies")) {
                    let name = match p.get("PolicyName").map(|n| t.text(n, 0, "PolicyName")) {
                        Some(Ok(n)) => n,
                        Some(Err(u)) => {
                            unresolved(&mut out, id, u);
                            continue;
                        }
                        None => {
                            return Err(at(
                                p.line,
                                format!("Resources.{id}.Properties.Policies[].PolicyName: missing"),
                            ));
                        }
                    };
                    match p.get("PolicyDocument") {
                        Some(doc) => add(&mut out, Some(id), id, &name, doc),
                        None => {
                            return Err(at(
                                p.line,
                                format!(
                                    "Resources.{id}.Properties.Policies[].PolicyDocument: missing"
                                ),
                            ));
                        }
                    }
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                let name = t.physical_name(id, 0).unwrap_or_else(|_| id.clone());
                let Some(doc) = props.get("PolicyDocument") else {
                    return Err(at(
                        *line,
                        format!("Resources.{id}.Properties.PolicyDocument: missing"),
                    ));
                };
                let mut roles = Vec::new();
                for r in list(&mut out, id, props.get("Roles")) {
                    match role_of(&t, &r) {
                        Ok(Some(role)) => roles.push(role),
                        Ok(None) => out.findings.push(SourceFinding::unresolved_reference(id, file, r.line, format!("{id}: attached to a role that is not in this template; audited on its own"))),
                        Err(u) => unresolved(&mut out, id, u),
                    }
                }
                if *ty == "AWS::IAM::ManagedPolicy"
                    && let Ok(arn) = t.managed_policy_arn(id, 0)
                {
                    roles.extend(managed_targets.get(&arn).cloned().unwrap_or_default());
                    managed_targets.remove(&arn);
                }
                if roles.is_empty() {
                    // Attached to nothing in the template: linted as a role policy of its own.
                    add(&mut out, Some(id), id, &name, doc);
                }
                for role in roles {
                    add(&mut out, Some(&role), &role, &name, doc);
                }
            }
            _ => {}
        }
    }
    for (arn, roles) in managed_targets {
        for role in roles {
            let line = t.resources.get(&role).map_or(1, |r| r.2);
            out.findings.push(SourceFinding::unresolved_reference(&role, file, line, format!("{role}: managed policy {arn} is not in this template, so its statements are not audited")));
        }
    }
    // Which roles are identity-pool roles or behind role aliases.
    let mut kinds = super::RoleKinds::new();
    for (id, (ty, props, _)) in &t.resources {
        let Some(props) = props else { continue };
        match *ty {
            "AWS::Cognito::IdentityPoolRoleAttachment" => {
                let roles = props.get("Roles");
                for (key, kind) in [
                    ("authenticated", PolicyKind::CognitoAuthRole),
                    ("unauthenticated", PolicyKind::CognitoUnauthRole),
                ] {
                    let Some(n) = roles.and_then(|r| r.get(key)) else {
                        continue;
                    };
                    match role_of(&t, n) {
                        Ok(Some(role)) => {
                            kinds.entry(role).or_default().push((kind, String::new()))
                        }
                        Ok(None) => out.findings.push(SourceFinding::unresolved_reference(
                            id,
                            file,
                            n.line,
                            format!(
                                "{id}: the {key} role is not in this template, so it is not audited"
                            ),
                        )),
                        Err(u) => unresolved(&mut out, id, u),
                    }
                }
                // Rule-based role mappings hand authenticated identities other roles.
                for (_, mapping) in props.get("RoleMappings").map(Node::entries).unwrap_or(&[]) {
                    let rules = mapping
                        .get("RulesConfiguration")
                        .and_then(|r| r.get("Rules"));
                    for rule in rules.map(Node::items).unwrap_or(&[]) {
                        if let Some(n) = rule.get("RoleARN")
                            && let Ok(Some(role)) = role_of(&t, n)
                        {
                            kinds
                                .entry(role)
                                .or_default()
                                .push((PolicyKind::CognitoAuthRole, String::new()));
                        }
                    }
                }
            }
            "AWS::IoT::RoleAlias" => {
                let alias = t.physical_name(id, 0).unwrap_or_else(|_| id.clone());
                let Some(n) = props.get("RoleArn") else {
                    continue;
                };
                match role_of(&t, n) {
                    Ok(Some(role)) => kinds.entry(role).or_default().push((PolicyKind::RoleAlias, alias)),
                    Ok(None) => out.findings.push(SourceFinding::unresolved_reference(id, file, n.line, format!("{id}: the role behind role alias {alias} is not in this template, so it is not audited"))),
                    Err(u) => unresolved(&mut out, id, u),
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

    /// `fixtures/cfn-NAME.yaml` (NAME: the test's name) loaded with `params`.
    fn load_fixture(name: &str, params: &[(&str, &str)]) -> SourceSet {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("src/sources/fixtures/cfn-{name}.yaml"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let options = LoadOptions {
            parameters: params
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Default::default()
        };
        load("t.yaml", &parse(&text).unwrap(), &options).unwrap()
    }

    /// [`load_fixture`], which must find nothing to report.
    fn load_clean(name: &str, params: &[(&str, &str)]) -> SourceSet {
        let s = load_fixture(name, params);
        assert!(s.findings.is_empty(), "{:?}", s.findings);
        s
    }

    #[test]
    fn short_and_long_form_intrinsics_resolve() {
        let s = load_clean(
            "short-and-long-form-intrinsics-resolve",
            &[("Prefix", "lab")],
        );
        let p = &s.policies[0];
        assert_eq!((p.name.as_str(), p.kind), ("p1", PolicyKind::IotPolicy));
        assert_eq!(
            p.document["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:iot:us-east-1:123456789012:topic/lab/${iot:ClientId}",
                "arn:aws:iot:us-east-1:1:thing/lab-one",
                "arn:aws:iot:us-east-1:123456789012:thing/lab-one"
            ])
        );
        assert_eq!(p.statement_lines, vec![13]);
        assert_eq!(p.location.line, 10);
    }

    #[test]
    fn unresolvable_intrinsics_are_findings_with_lines() {
        let s = load_fixture("unresolvable-intrinsics-are-findings-with-lines", &[]);
        assert!(s.policies.is_empty());
        let msgs: Vec<_> = s
            .findings
            .iter()
            .map(|f| (f.location.line, f.message.clone()))
            .collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert_eq!(msgs[0].0, 10);
        assert!(
            msgs[0].1.contains("--parameter NoDefault=VALUE"),
            "{msgs:?}"
        );
        assert!(msgs[1].1.contains("${!iot:ClientId}"), "{msgs:?}");
        assert!(msgs[2].1.contains("Fn::ImportValue"), "{msgs:?}");
        assert!(
            s.findings
                .iter()
                .all(|f| f.reason == "UNRESOLVED_INTRINSIC")
        );
    }

    #[test]
    fn pool_attachment_and_role_alias_decide_role_kinds() {
        let s = load_clean("pool-attachment-and-role-alias-decide-role-kinds", &[]);
        let kinds: Vec<_> = s
            .policies
            .iter()
            .map(|p| (p.kind, p.principal.as_str(), p.name.as_str()))
            .collect();
        assert!(
            kinds.contains(&(PolicyKind::CognitoAuthRole, "Auth", "a")),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(PolicyKind::CognitoUnauthRole, "Guest", "extra")),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(PolicyKind::RoleAlias, "cam", "d")),
            "{kinds:?}"
        );
    }

    #[test]
    fn managed_policies_attach_by_arn_and_external_ones_are_reported() {
        let s = load_fixture(
            "managed-policies-attach-by-arn-and-external-ones-are-reported",
            &[],
        );
        let p: Vec<_> = s
            .policies
            .iter()
            .map(|p| (p.kind, p.principal.as_str(), p.name.as_str()))
            .collect();
        assert_eq!(p, [(PolicyKind::IamRole, "Device", "Shared")]);
        let f = s.only_finding();
        assert_eq!(f.reason, "UNRESOLVED_REFERENCE");
        assert!(f.message.contains("AWSIoTDataAccess"));
    }

    #[test]
    fn resource_conditions_and_arns_of_other_types() {
        let s = load_clean(
            "resource-conditions-and-arns-of-other-types",
            &[("WithTask", "yes")],
        );
        assert_eq!(
            s.policies[0].document["Statement"][0]["Resource"],
            "arn:aws:ecs:us-east-1:123456789012:taskdefinition/Def"
        );
        assert_eq!(
            s.policies[0].document["Statement"][1]["Resource"],
            "arn:aws:events:us-east-1:123456789012:apidestination/Dest"
        );
    }

    #[test]
    fn resources_whose_condition_is_false_are_not_audited() {
        let s = load_fixture("resources-whose-condition-is-false-are-not-audited", &[]);
        assert!(s.policies.is_empty());
        assert!(
            s.only_finding()
                .message
                .contains("Q: its Condition cannot be evaluated")
        );
    }

    #[test]
    fn json_templates_and_string_documents() {
        let s = load(
            "t.json",
            &parse(include_str!(
                "fixtures/cfn-json-templates-and-string-documents.json"
            ))
            .unwrap(),
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(
            s.policies[0].document["Statement"][0]["Action"],
            "iot:Connect"
        );
        assert_eq!(s.policies[0].name, "P");
    }

    #[test]
    fn bad_templates_name_file_line_and_key() {
        let e = load(
            "t.yaml",
            &parse("Resources:\n  P:\n    Properties: {}\n").unwrap(),
            &LoadOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "t.yaml:2: Resources.P.Type: missing");
        let options = LoadOptions {
            parameters: vec![("Nope".into(), "x".into())],
            ..Default::default()
        };
        let e = load("t.yaml", &parse("Resources: {}\n").unwrap(), &options).unwrap_err();
        assert!(e.to_string().contains("--parameter Nope"), "{e}");
    }
}
