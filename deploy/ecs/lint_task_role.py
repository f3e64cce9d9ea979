"""Lints the ECS task role of iot-canary.yaml with parliament (least privilege, no iot:*).

Run with the test venv: target/test-tools/venv/bin/python deploy/ecs/lint_task_role.py
Exit 0 clean; prints findings and exits 1 otherwise.
"""
import json
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml
from parliament import analyze_policy_string

template = cfn_yaml.load(str(Path(__file__).with_name("iot-canary.yaml")))
role = template["Resources"]["TaskRole"]["Properties"]
# Policies: !If [HasVendingRole, [...], NoValue] -> lint the populated branch.
policies = role["Policies"]["Fn::If"][1]
failures = []
actions = []
for p in policies:
    doc = json.loads(json.dumps(p["PolicyDocument"]))
    for st in doc["Statement"]:
        # Intrinsic refs are placeholders for a concrete role ARN.
        st["Resource"] = "arn:aws:iam::123456789012:role/iot-canary-vending"
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        actions.extend(acts)
    findings = analyze_policy_string(json.dumps(doc)).findings
    failures.extend(f"{p['PolicyName']}: {f.issue} {f.detail}" for f in findings)
if any(a.lower().startswith("iot:") or a == "*" for a in actions):
    failures.append(f"task role grants IoT or wildcard actions: {actions}")
print(json.dumps({"policies": len(policies), "actions": actions, "findings": failures}))
sys.exit(1 if failures else 0)
