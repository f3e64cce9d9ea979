"""Lints the IAM roles of the deploy templates with parliament (least privilege, no iot:*).

- deploy/ecs/iot-canary.yaml: the service's TaskRole (reported as `actions`/`policies`, as before).
- deploy/cloudformation/policy-change-trigger.yaml: the once task's roles and the EventBridge
  roles (RunTask, API destination), and the us-east-1 leg's forwarding role (under `roles`).

Every role's actions must also stay inside an allow-list: task roles only sts:AssumeRole, each
EventBridge role only the one or two actions its target needs.

Run with the test venv: target/test-tools/venv/bin/python deploy/ecs/lint_task_role.py
Exit 0 clean; prints findings and exits 1 otherwise.
"""
import json
import re
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml
from parliament import analyze_policy_string

DEPLOY = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "eu-west-1"

# Concrete stand-ins for parameters and resource attributes, so parliament sees real ARNs.
PARAMS = {
    "VendingRoleArn": f"arn:aws:iam::{ACCOUNT}:role/iot-canary-vending",
    "CanaryPasswordsSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:iot-canary/passwords-AbCdEf",
    "ConfigParameterName": "/iot-canary/canaries.toml",
    "ClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/iot-canary",
    "HomeRegion": REGION,
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
}
REFS = {
    "OnceTaskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/iot-canary-once:1",
}
ATTS = {
    "TriggerApiDestination": f"arn:aws:events:{REGION}:{ACCOUNT}:api-destination/iot-canary-trigger/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
}

# Allowed actions per role (beyond these is a finding, whatever parliament says).
ALLOWED = {
    ("ecs/iot-canary.yaml", "TaskRole"): {"sts:AssumeRole"},
    ("cloudformation/policy-change-trigger.yaml", "OnceTaskRole"): {"sts:AssumeRole"},
    ("cloudformation/policy-change-trigger.yaml", "OnceExecutionRole"): {
        "secretsmanager:GetSecretValue",
        "ssm:GetParameters",
    },
    ("cloudformation/policy-change-trigger.yaml", "RunTaskRole"): {"ecs:RunTask", "iam:PassRole"},
    ("cloudformation/policy-change-trigger.yaml", "InvokeTriggerRole"): {"events:InvokeApiDestination"},
    ("cloudformation/policy-change-trigger-us-east-1.yaml", "ForwardRole"): {"events:PutEvents"},
}


def resolve(node):
    """Intrinsic functions -> concrete values; Fn::If takes its populated (first) branch."""
    if isinstance(node, list):
        return [resolve(n) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, val), = node.items()
        if key == "Ref":
            return PARAMS.get(val) or REFS.get(val) or f"arn:aws:iam::{ACCOUNT}:role/{val}"
        if key == "Fn::GetAtt":
            name = val[0] if isinstance(val, list) else val.split(".")[0]
            return ATTS.get(name, f"arn:aws:iam::{ACCOUNT}:role/{name}")
        if key == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: PARAMS[m.group(1)], val)
        if key == "Fn::If":
            return resolve(val[1])
    return {k: resolve(v) for k, v in node.items()}


def lint_role(template_rel, logical_id, role):
    policies = resolve(role["Properties"].get("Policies", []))
    findings, actions = [], []
    for p in policies:
        doc = p["PolicyDocument"]
        for st in doc["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            actions.extend(acts)
        for f in analyze_policy_string(json.dumps(doc)).findings:
            findings.append(f"{template_rel}:{logical_id}:{p['PolicyName']}: {f.issue} {f.detail}")
    allowed = ALLOWED.get((template_rel, logical_id))
    if allowed is None:
        findings.append(f"{template_rel}:{logical_id}: role not in the allow-list of this linter")
    elif not set(actions) <= allowed:
        findings.append(f"{template_rel}:{logical_id}: actions {sorted(set(actions) - allowed)} beyond {sorted(allowed)}")
    if any(a.lower().startswith("iot:") or a == "*" or a.endswith(":*") for a in actions):
        findings.append(f"{template_rel}:{logical_id}: grants IoT or wildcard actions: {actions}")
    return {"policies": len(policies), "actions": actions, "findings": findings}


def main():
    report = {"roles": {}}
    failures = []
    for rel in (
        "ecs/iot-canary.yaml",
        "cloudformation/policy-change-trigger.yaml",
        "cloudformation/policy-change-trigger-us-east-1.yaml",
    ):
        template = cfn_yaml.load(str(DEPLOY / rel))
        for logical_id, res in template["Resources"].items():
            if res["Type"] != "AWS::IAM::Role":
                continue
            if rel == "ecs/iot-canary.yaml" and logical_id == "ExecutionRole":
                continue  # covered by the same checks in the trigger template's OnceExecutionRole
            r = lint_role(rel, logical_id, res)
            failures.extend(r["findings"])
            report["roles"][f"{rel}:{logical_id}"] = r
    service = report["roles"]["ecs/iot-canary.yaml:TaskRole"]
    # The service task role, as reported before the trigger templates existed.
    report.update(policies=service["policies"], actions=service["actions"], findings=failures)
    print(json.dumps(report))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
