#!/usr/bin/env python3
"""Suite benchmark driver: one lab, the generated suite, N interleaved runs of
`iot-canary once` and of the Python SDK peer against it. Each run records wall time,
probes/s, connects made (the lab's `connects_total` before/after), CPU seconds (user+sys of
the child from wait4, which includes every thread the child started) and peak RSS.
Checks that both clients agree on every verdict, then writes results JSON and a markdown
summary (medians, min–max, ratios).

The doors share (--doors K deny canaries per user, default 8; 0 skips it): the same lab and
identities, HTTPS data-plane and control-plane canaries (gen.py --doors), N interleaved runs
of `iot-canary once` on doors.toml and of the boto3 peer (peer_boto3.py) making the same
calls. Reported separately (doors.json, doors.md, and a section of summary.md); the MQTT
share's report and its wall/CPU targets are unchanged.

usage: run.py --bin target/release/iot-canary --python VENV_PYTHON [--runs 5]
              [--users 50] [--deny 1000] [--doors 8] [--concurrency 64]
              [--skip-mqtt] [--out bench/results]
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(cmd, env, stdout):
    """Runs cmd; returns (exit status, wall s, cpu s, peak RSS MiB).

    CPU and peak RSS come from /usr/bin/time (wait4 of its own child). Measuring with wait4
    straight from this Python process would overstate peak RSS: a child forked from Python
    starts with Python's RSS as its high-water mark, which survives the exec.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", t.name, *cmd], env=env,
                           stdout=stdout, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        fields = t.read().split()[-3:]
    user, sys_, maxrss_kb = float(fields[0]), float(fields[1]), float(fields[2])
    return p.returncode, wall, user + sys_, maxrss_kb / 1024.0


def run_iot_canary(a, cfg, out, env):
    """One `iot-canary once` run on cfg: (exit, wall, cpu, rss, {canary: verdict})."""
    cmd = [a.bin, "once", "-c", cfg, "--format", "json", "--output", out]
    rc, wall, cpu, rss = measure(cmd, env, subprocess.DEVNULL)
    with open(out) as f:
        got = {c["canary"]: c["verdict"] for c in json.load(f)["results"]}
    return rc, wall, cpu, rss, got


def run_peer(cmd, out, env):
    """One peer run, its JSON stdout kept in out: (exit, wall, cpu, rss, parsed output)."""
    with open(out, "w") as f:
        rc, wall, cpu, rss = measure(cmd, env, f)
    with open(out) as f:
        return rc, wall, cpu, rss, json.load(f)


def lab_state(admin):
    with urllib.request.urlopen(admin + "/state", timeout=10) as r:
        return json.load(r)


def start_lab(binary, scenario):
    lab = subprocess.Popen([binary, "lab", "--scenario", scenario], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    line = lab.stdout.readline()
    if not line:
        raise SystemExit("lab did not print its ready line")
    return lab, json.loads(line)


def med(xs):
    return statistics.median(xs)


def spread(xs, fmt="{:.2f}"):
    return f"{fmt.format(med(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def verdict(ratios, goal):
    if min(ratios) >= goal:
        return "met in every run"
    return "met in the median, not in every run" if med(ratios) >= goal else "NOT met"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--deny", type=int, default=1000)
    ap.add_argument("--doors", type=int, default=8,
                    help="doors-share deny canaries per user (0: no doors share)")
    ap.add_argument("--skip-mqtt", action="store_true",
                    help="run only the doors share (keeps summary.md and suite.json)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--out", default="bench/results")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="iot-canary-suite-")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), work, "--users", str(a.users),
                    "--deny", str(a.deny), "--doors", str(a.doors),
                    "--concurrency", str(a.concurrency)], check=True)
    lab, ready = start_lab(a.bin, os.path.join(work, "scenario.toml"))
    doors = None
    try:
        canaries = os.path.join(work, "canaries.toml")
        doors_cfg = os.path.join(work, "doors.toml")
        for src, dst in (("canaries.in.toml", canaries), ("doors.in.toml", doors_cfg)):
            if not os.path.exists(os.path.join(work, src)):
                continue
            with open(os.path.join(work, src)) as f:
                text = f.read()
            for k, v in (("@MQTT@", "mqtt"), ("@CA@", "ca_file"), ("@STS@", "sts"),
                         ("@IOT_DATA@", "iot_data"), ("@IOT@", "iot")):
                text = text.replace(k, ready[v])
            with open(dst, "w") as f:
                f.write(text)
        keys_path = os.path.join(work, "keys.json")
        with open(keys_path) as f:
            keys = json.load(f)
        env = dict(os.environ)
        for ident, (akid, secret) in keys.items():
            env[f"SUITE_{ident.upper()}_AKID"] = akid
            env[f"SUITE_{ident.upper()}_SECRET"] = secret
        env["RUST_LOG"] = "warn"
        runs = {"iot-canary": [], "peer": [], "peer-reuse": []}
        verdicts = {}
        for i in range(0 if a.skip_mqtt else a.runs):
            for who in runs:
                # The lab allows 1 CONNECT/s per client id; runs reuse client ids.
                time.sleep(1.5)
                before = lab_state(ready["admin"])["connects_total"]
                out = os.path.join(work, f"{who}-{i}.json")
                if who == "iot-canary":
                    rc, wall, cpu, rss, got = run_iot_canary(a, canaries, out, env)
                else:
                    cmd = [a.python, os.path.join(HERE, "peer.py"), canaries, keys_path,
                           "--concurrency", str(a.concurrency)]
                    if who == "peer-reuse":
                        cmd.append("--reuse")
                    rc, wall, cpu, rss, peer_out = run_peer(cmd, out, env)
                    got = peer_out["verdicts"]
                connects = lab_state(ready["admin"])["connects_total"] - before
                counts = collections.Counter(got.values())
                verdicts[(who, i)] = got
                row = {"run": i, "exit": rc, "wall_s": wall, "cpu_s": cpu, "rss_mib": rss,
                       "probes": len(got), "probes_per_s": len(got) / wall,
                       "connects": connects, "verdicts": dict(counts)}
                runs[who].append(row)
                print(f"{who:10} run {i}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, "
                      f"{rss:7.1f} MiB, {connects} connects, {dict(counts)}", flush=True)
        disagreements = sorted(
            {name for (who, i), v in verdicts.items() for name, verdict in v.items()
             if verdict != verdicts[("iot-canary", 0)].get(name)})
        final = lab_state(ready["admin"])
        doors = run_doors(a, work, doors_cfg, keys_path, env) if a.doors > 0 else None
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    if not a.skip_mqtt:
        write(a, runs, disagreements, final)
    if doors is not None:
        write_doors(a, *doors)
    bad = bool(disagreements) or (doors is not None and bool(doors[1]))
    return 1 if bad else 0


def run_doors(a, work, doors_cfg, keys_path, env):
    """N interleaved runs of iot-canary `once` and the boto3 peer on the doors share."""
    runs = {"iot-canary": [], "boto3": []}
    verdicts = {}
    for i in range(a.runs):
        for who in runs:
            # The witness's client ids repeat across runs; the lab allows 1 CONNECT/s each.
            time.sleep(1.5)
            out = os.path.join(work, f"doors-{who}-{i}.json")
            if who == "iot-canary":
                rc, wall, cpu, rss, got = run_iot_canary(a, doors_cfg, out, env)
            else:
                cmd = [a.python, os.path.join(HERE, "peer_boto3.py"), doors_cfg, keys_path,
                       "--concurrency", str(a.concurrency)]
                rc, wall, cpu, rss, peer_out = run_peer(cmd, out, env)
                got = peer_out["verdicts"]
            counts = collections.Counter(got.values())
            verdicts[(who, i)] = got
            row = {"run": i, "exit": rc, "wall_s": wall, "cpu_s": cpu, "rss_mib": rss,
                   "probes": len(got), "probes_per_s": len(got) / wall,
                   "verdicts": dict(counts)}
            if who == "boto3":
                # The peer's own timer: from its first call to its last answer (no imports,
                # no interpreter or CRT shutdown), the most favourable reading for boto3.
                row["wall_inner_s"] = peer_out["wall_s"]
            runs[who].append(row)
            print(f"doors {who:10} run {i}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, "
                  f"{rss:7.1f} MiB, {dict(counts)}", flush=True)
    ref = verdicts[("iot-canary", 0)]
    names = set(ref) | {n for v in verdicts.values() for n in v}
    disagreements = sorted(n for n in names
                           if any(v.get(n) != ref.get(n) for v in verdicts.values()))
    with open(doors_cfg) as f:
        kinds = collections.Counter(
            line.split('"')[1] for line in f if line.startswith("action = "))
    return runs, disagreements, dict(kinds)


def write_doors(a, runs, disagreements, kinds):
    os.makedirs(a.out, exist_ok=True)
    d, b = runs["iot-canary"], runs["boto3"]
    wall_ratio = [bb["wall_s"] / dd["wall_s"] for dd, bb in zip(d, b)]
    cpu_ratio = [bb["cpu_s"] / dd["cpu_s"] for dd, bb in zip(d, b)]
    inner_ratio = [bb["wall_inner_s"] / dd["wall_s"] for dd, bb in zip(d, b)]
    load = os.getloadavg()
    result = {"params": {"users": a.users, "doors_per_user": a.doors,
                         "concurrency": a.concurrency, "runs": a.runs},
              "actions": kinds, "runs": runs, "wall_ratio": wall_ratio,
              "cpu_ratio": cpu_ratio, "wall_ratio_inner": inner_ratio,
              "disagreements": disagreements,
              "machine": {"nproc": os.cpu_count(), "loadavg_end": load}}
    with open(os.path.join(a.out, "doors.json"), "w") as f:
        json.dump(result, f, indent=1)
    col = lambda rows, k: [r[k] for r in rows]  # noqa: E731
    mm = lambda xs, fmt="{:.2f}": (  # noqa: E731
        f"{fmt.format(min(xs))} / {fmt.format(med(xs))} / {fmt.format(max(xs))}")
    lines = [
        "## Doors share (HTTPS data plane + control plane)",
        "",
        f"{a.doors * a.users} deny canaries + {2 * a.users} controls (one per family per "
        f"identity) over {a.users} static-key identities (+ `ops` witness), concurrency "
        f"{a.concurrency}, {a.runs} interleaved runs each; min / median / max. Actions: "
        + ", ".join(f"`{k}` {n}" for k, n in sorted(kinds.items())) + ".",
        "Peer: `bench/suite/peer_boto3.py`, boto3 making the same calls with the same verdict "
        "rules, one client per identity per service, controls first, a thread pool of the "
        "same size; `https-publish` witnessed over MQTT by one shared awsiotsdk connection.",
        "",
        "| | iot-canary `once` | boto3 peer |",
        "|---|---|---|",
        f"| wall time (s) | {mm(col(d, 'wall_s'))} | {mm(col(b, 'wall_s'))} |",
        f"| boto3 peer's own timer, calls only (s) | | {mm(col(b, 'wall_inner_s'))} |",
        f"| CPU user+sys (s) | {mm(col(d, 'cpu_s'))} | {mm(col(b, 'cpu_s'))} |",
        f"| probes/s | {mm(col(d, 'probes_per_s'), '{:.0f}')} | "
        f"{mm(col(b, 'probes_per_s'), '{:.0f}')} |",
        f"| peak RSS (MiB) | {mm(col(d, 'rss_mib'), '{:.1f}')} | "
        f"{mm(col(b, 'rss_mib'), '{:.1f}')} |",
        f"| wall ratio (boto3 / iot-canary) | | {mm(wall_ratio, '{:.1f}')}× |",
        f"| wall ratio, boto3's own timer / iot-canary | | {mm(inner_ratio, '{:.1f}')}× |",
        f"| CPU ratio (boto3 / iot-canary) | | {mm(cpu_ratio, '{:.1f}')}× |",
        "",
        f"Verdicts (first run): iot-canary {d[0]['verdicts']}, boto3 {b[0]['verdicts']}; "
        f"canaries on which any run disagreed: {len(disagreements)}"
        + (f" ({', '.join(disagreements[:10])})" if disagreements else "") + ".",
        f"Machine: {os.cpu_count()} cores, load average at the end {load[0]:.1f}. No ratio "
        "target applies to this share (the ≥5× wall / ≥10× CPU goal is the MQTT share's).",
        "",
    ]
    text = "\n".join(lines)
    with open(os.path.join(a.out, "doors.md"), "w") as f:
        f.write(text)
    summary = os.path.join(a.out, "summary.md")
    if os.path.exists(summary):
        with open(summary) as f:
            old = f.read().split("## Doors share")[0].rstrip("\n")
        with open(summary, "w") as f:
            f.write(old + "\n\n" + text)
    print(text)


def write(a, runs, disagreements, final):
    os.makedirs(a.out, exist_ok=True)
    d, p, r = runs["iot-canary"], runs["peer"], runs["peer-reuse"]
    wall_ratio = [pp["wall_s"] / dd["wall_s"] for dd, pp in zip(d, p)]
    cpu_ratio = [pp["cpu_s"] / dd["cpu_s"] for dd, pp in zip(d, p)]
    wall_ratio_r = [pp["wall_s"] / dd["wall_s"] for dd, pp in zip(d, r)]
    cpu_ratio_r = [pp["cpu_s"] / dd["cpu_s"] for dd, pp in zip(d, r)]
    result = {"params": {"users": a.users, "deny": a.deny, "concurrency": a.concurrency,
                         "runs": a.runs},
              "runs": runs, "wall_ratio": wall_ratio, "cpu_ratio": cpu_ratio,
              "wall_ratio_reuse": wall_ratio_r, "cpu_ratio_reuse": cpu_ratio_r,
              "disagreements": disagreements,
              "lab_after": {k: final[k] for k in ("connections", "sockets_open")},
              "machine": {"nproc": os.cpu_count(), "loadavg_end": os.getloadavg()}}
    with open(os.path.join(a.out, "suite.json"), "w") as f:
        json.dump(result, f, indent=1)
    col = lambda rows, k: [r[k] for r in rows]  # noqa: E731
    lines = [
        "# Suite benchmark",
        "",
        f"{a.deny} deny canaries + {a.users} controls over {a.users} static-key identities "
        f"(+ `ops` witness), MQTT 5 over TLS on loopback, concurrency {a.concurrency}; one "
        f"round per run, {a.runs} interleaved runs each; median (min–max). Generated by "
        "`bench/suite/run.sh`.",
        "",
        "Peers: the Python AWS IoT Device SDK v2 script (`bench/suite/peer.py`), as a user "
        "would write it — one client per canary — and, as `peer --reuse`, the more careful "
        "variant with one long-lived client per identity (what iot-canary does).",
        "",
        "| | iot-canary `once` | peer (client per canary) | peer --reuse (client per identity) |",
        "|---|---|---|---|",
        f"| wall time (s) | {spread(col(d, 'wall_s'))} | {spread(col(p, 'wall_s'))} | {spread(col(r, 'wall_s'))} |",
        f"| CPU user+sys (s) | {spread(col(d, 'cpu_s'))} | {spread(col(p, 'cpu_s'))} | {spread(col(r, 'cpu_s'))} |",
        f"| probes/s | {spread(col(d, 'probes_per_s'), '{:.0f}')} | "
        f"{spread(col(p, 'probes_per_s'), '{:.0f}')} | {spread(col(r, 'probes_per_s'), '{:.0f}')} |",
        f"| peak RSS (MiB) | {spread(col(d, 'rss_mib'), '{:.1f}')} | "
        f"{spread(col(p, 'rss_mib'), '{:.1f}')} | {spread(col(r, 'rss_mib'), '{:.1f}')} |",
        f"| connects made | {spread(col(d, 'connects'), '{:.0f}')} | "
        f"{spread(col(p, 'connects'), '{:.0f}')} | {spread(col(r, 'connects'), '{:.0f}')} |",
        f"| wall ratio (peer / iot-canary) | | {spread(wall_ratio, '{:.1f}')}× | {spread(wall_ratio_r, '{:.1f}')}× |",
        f"| CPU ratio (peer / iot-canary) | | {spread(cpu_ratio, '{:.1f}')}× | {spread(cpu_ratio_r, '{:.1f}')}× |",
        "",
        f"Verdicts (every run): iot-canary {d[0]['verdicts']}, peer {p[0]['verdicts']}, "
        f"peer --reuse {r[0]['verdicts']}; "
        f"canaries on which any run disagreed: {len(disagreements)}"
        + (f" ({', '.join(disagreements[:10])})" if disagreements else "") + ".",
        f"Lab after the runs: {result['lab_after']}. Machine: {os.cpu_count()} cores, load "
        f"average at the end {os.getloadavg()[0]:.1f}.",
        "",
        f"Goal (≥5× wall, ≥10× CPU) against the peer: wall {verdict(wall_ratio, 5)}, CPU {verdict(cpu_ratio, 10)}; "
        f"against peer --reuse: wall {verdict(wall_ratio_r, 5)}, CPU {verdict(cpu_ratio_r, 10)}.",
        "",
    ]
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
