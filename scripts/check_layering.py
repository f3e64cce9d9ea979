#!/usr/bin/env python3
"""The workspace's layering as a checked fact, over `cargo metadata`'s resolved graph.

Rules (docs/architecture.md): the policy engine and core are pure (no async runtime, no
network or AWS crates); the lab never depends on core or the daemon; the daemon never depends
on the lab; the fuzz crate builds only policy, core and the lab (no AWS SDK). Only normal
dependencies count (a dev-dependency for tests is allowed), followed transitively.

    python3 scripts/check_layering.py             # check the workspace and fuzz/
    python3 scripts/check_layering.py --self-test # prove a forbidden edge is caught
Exit 0 when every rule holds, 1 with one line per violation (package, forbidden crate, path).
"""

import copy
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

IO_CRATES = ["tokio", "async-std", "smol", "mio", "hyper", "reqwest", "rumqttc", "axum",
             "tungstenite", "tokio-tungstenite", "rustls"]
AWS_PREFIX = "aws-"

# package -> (forbidden crate names, forbidden name prefixes)
RULES = {
    "iot-canary-policy": (IO_CRATES + ["iot-canary-core", "iot-canary-lab", "iot-canary-daemon"],
                          [AWS_PREFIX]),
    "iot-canary-core": (IO_CRATES + ["iot-canary-lab", "iot-canary-daemon"], [AWS_PREFIX]),
    "iot-canary-audit": (IO_CRATES + ["iot-canary-lab", "iot-canary-daemon"], [AWS_PREFIX]),
    "iot-canary-lab": (["iot-canary-core", "iot-canary-daemon"], []),
    "iot-canary-daemon": (["iot-canary-lab"], []),
    "iot-canary-fuzz": (["iot-canary-daemon", "iot-canary", "aws-config"], ["aws-sdk-"]),
}


def metadata(manifest):
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--manifest-path", manifest],
        cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def violations(meta):
    """One (package, forbidden crate, path) per rule broken, over normal dependencies."""
    names = {p["id"]: p["name"] for p in meta["packages"]}
    edges = {}
    for node in meta["resolve"]["nodes"]:
        edges[node["id"]] = [
            d["pkg"] for d in node.get("deps", [])
            if any(k.get("kind") is None for k in d.get("dep_kinds", []))
        ]
    found = []
    for pkg_id in meta["workspace_members"]:
        rule = RULES.get(names[pkg_id])
        if rule is None:
            continue
        banned, prefixes = rule
        # Breadth-first, remembering how each crate was reached (the path goes in the message).
        seen = {pkg_id: [names[pkg_id]]}
        queue = [pkg_id]
        while queue:
            cur = queue.pop(0)
            for dep in edges.get(cur, []):
                if dep in seen:
                    continue
                seen[dep] = seen[cur] + [names[dep]]
                queue.append(dep)
                dep_name = names[dep]
                if dep_name in banned or any(dep_name.startswith(p) for p in prefixes):
                    found.append((names[pkg_id], dep_name, " -> ".join(seen[dep])))
    return found


def check(metas):
    bad = [v for m in metas for v in violations(m)]
    for pkg, dep, path in bad:
        print(f"layering: {pkg} must not depend on {dep}: {path}")
    return not bad


def with_forbidden_edge(meta, frm, to):
    """A copy of `meta` where `frm` gains a normal dependency on `to` (the fixture)."""
    meta = copy.deepcopy(meta)
    ids = {p["name"]: p["id"] for p in meta["packages"]}
    for node in meta["resolve"]["nodes"]:
        if node["id"] == ids[frm]:
            node.setdefault("deps", []).append(
                {"name": to.replace("-", "_"), "pkg": ids[to], "dep_kinds": [{"kind": None}]})
    return meta


def main():
    workspace = metadata(os.path.join(ROOT, "Cargo.toml"))
    fuzz = metadata(os.path.join(ROOT, "fuzz", "Cargo.toml"))
    if "--self-test" in sys.argv:
        # Each forbidden edge on its own must be reported; the real graph must be clean.
        cases = [("iot-canary-core", "tokio"), ("iot-canary-policy", "hyper"),
                 ("iot-canary-lab", "iot-canary-core"), ("iot-canary-daemon", "iot-canary-lab"),
                 ("iot-canary-core", "aws-sigv4")]
        ok = True
        for frm, to in cases:
            caught = [v for v in violations(with_forbidden_edge(workspace, frm, to))
                      if v[0] == frm and v[1] == to]
            print(f"self-test: {frm} -> {to}: {'caught' if caught else 'MISSED'}")
            ok &= bool(caught)
        ok &= check([workspace, fuzz])
        return 0 if ok else 1
    if check([workspace, fuzz]):
        print("layering: ok (policy, core, audit pure; lab without core/daemon; daemon without lab; "
              "fuzz without the AWS SDK)")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
