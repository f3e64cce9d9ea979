#!/usr/bin/env python3
"""Footprint and scale of iot-canary against the lab (the suite's generated world).

  footprint.py scale --bin B [--runs 3]          round time at 100/1,000/10,000 deny canaries
                                                 (concurrency 64) and at concurrency 8/64/256
                                                 (1,000 canaries): `once`, wall/CPU/RSS/connects
  footprint.py run --bin B [--interval 20] [--rounds 4]
                                                 `run` mode with 1,000 canaries: RSS and open fds
                                                 per second, CPU inside rounds and between them

Results: bench/results/scale.json|md, bench/results/run-mode.json|md.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import lab_state, measure, start_lab  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def world(binary, deny, concurrency, extra_schedule=""):
    work = tempfile.mkdtemp(prefix="iot-canary-fp-")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), work, "--deny", str(deny),
                    "--concurrency", str(concurrency)], check=True)
    lab, ready = start_lab(binary, os.path.join(work, "scenario.toml"))
    with open(os.path.join(work, "canaries.in.toml")) as f:
        text = f.read().replace("@MQTT@", ready["mqtt"]).replace("@CA@", ready["ca_file"])
    if extra_schedule:
        text = re.sub(r'interval = "60s"\n', extra_schedule, text, count=1)
    path = os.path.join(work, "canaries.toml")
    with open(path, "w") as f:
        f.write(text)
    env = dict(os.environ, RUST_LOG="warn")
    with open(os.path.join(work, "keys.json")) as f:
        for ident, (akid, secret) in json.load(f).items():
            env[f"SUITE_{ident.upper()}_AKID"] = akid
            env[f"SUITE_{ident.upper()}_SECRET"] = secret
    return lab, ready, path, env


def scale(a):
    cases = [(100, 64), (1000, 64), (10000, 64), (1000, 8), (1000, 256)]
    if a.cases:
        cases = [tuple(int(x) for x in c.split("x")) for c in a.cases.split(",")]
    rows = []
    if a.merge and os.path.exists(os.path.join(a.out, "scale.json")):
        with open(os.path.join(a.out, "scale.json")) as f:
            rows = [r for r in json.load(f) if (r["deny"], r["concurrency"]) not in cases]
    for deny, conc in cases:
        lab, ready, path, env = world(a.bin, deny, conc)
        try:
            samples = []
            for i in range(a.runs):
                time.sleep(1.5)
                before = lab_state(ready["admin"])["connects_total"]
                out = path + f".{i}.json"
                rc, wall, cpu, rss = measure([a.bin, "once", "-c", path, "--format", "json",
                                              "--output", out], env, subprocess.DEVNULL)
                with open(out) as f:
                    cs = json.load(f)["results"]
                denied = sum(c["verdict"] == "denied" for c in cs)
                connects = lab_state(ready["admin"])["connects_total"] - before
                samples.append({"wall_s": wall, "cpu_s": cpu, "rss_mib": rss,
                                "connects": connects, "denied": denied, "probes": len(cs)})
                print(f"deny={deny} conc={conc} run {i}: {wall:.2f} s, {cpu:.2f} s CPU, "
                      f"{rss:.1f} MiB, {connects} connects, {denied}/{len(cs)} denied",
                      flush=True)
            rows.append({"deny": deny, "concurrency": conc, "runs": samples})
        finally:
            lab.terminate()
            lab.wait(timeout=30)
    order = {c: i for i, c in enumerate([(100, 64), (1000, 64), (10000, 64), (1000, 8), (1000, 256)])}
    rows.sort(key=lambda r: order.get((r["deny"], r["concurrency"]), 99))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "scale.json"), "w") as f:
        json.dump(rows, f, indent=1)
    m = lambda r, k, fmt="{:.2f}": (  # noqa: E731
        f"{fmt.format(statistics.median(x[k] for x in r['runs']))} "
        f"({fmt.format(min(x[k] for x in r['runs']))}–{fmt.format(max(x[k] for x in r['runs']))})")
    lines = ["| deny canaries | concurrency | round wall (s) | CPU (s) | peak RSS (MiB) | connects | denied |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['deny']:,} | {r['concurrency']} | {m(r, 'wall_s')} | {m(r, 'cpu_s')} | "
                     f"{m(r, 'rss_mib', '{:.1f}')} | {m(r, 'connects', '{:.0f}')} | "
                     f"{r['runs'][0]['denied']}/{r['runs'][0]['probes']} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "scale.md"), "w") as f:
        f.write(text)
    print(text)


def proc_sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024.0
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return cpu, rss, fds


def metric(url, name):
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def run_mode(a):
    sched = f'interval = "{a.interval}s"\njitter = "0%"\n'
    lab, ready, path, env = world(a.bin, 1000, 64, sched)
    d = subprocess.Popen([a.bin, "run", "-c", path], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in d.stderr:
            m = re.search(r"metrics on (http://\S+/metrics)", line)
            if m:
                url = m.group(1)
                break
        if not url:
            raise SystemExit("run mode did not print its metrics URL")
        # Drain stderr so the daemon never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [None for _ in d.stderr], daemon=True).start()
        # No /metrics scraping while measuring (rendering it costs CPU); rounds are told
        # apart by open fds: a round holds hundreds of sockets, the pause about ten.
        samples = []
        completions = []
        active = False
        base_fds = None
        t0 = time.monotonic()
        while len(completions) < a.rounds + 1 and time.monotonic() - t0 < a.interval * (a.rounds + 3):
            cpu, rss, fds = proc_sample(d.pid)
            now = time.monotonic()
            base_fds = fds if base_fds is None else min(base_fds, fds)
            if fds > base_fds + 20:
                active = True
            elif active:
                active = False
                completions.append(now)
            samples.append({"t": now - t0, "cpu_s": cpu, "rss_mib": rss, "fds": fds})
            time.sleep(0.5)
        # Idle windows: from 2 s after a round completed to 2 s before the next one starts.
        idle = []
        for c in completions[:-1]:
            lo, hi = c + 2 - t0, c + a.interval - 4 - t0
            win = [s for s in samples if lo <= s["t"] <= hi]
            if len(win) >= 2:
                idle.append((win[-1]["cpu_s"] - win[0]["cpu_s"]) / (win[-1]["t"] - win[0]["t"]))
        idle_rss = [s["rss_mib"] for c in completions[:-1] for s in samples
                    if c + 2 - t0 <= s["t"] <= c + a.interval - 4 - t0]
        after_first = [s for s in samples if completions and s["t"] >= completions[0] - t0]
        result = {
            "interval_s": a.interval, "rounds_seen": len(completions),
            "idle_cpu_fraction": idle,
            "rss_mib_after_first_round": [s["rss_mib"] for s in after_first],
            "rss_mib_between_rounds": idle_rss,
            "peak_rss_mib": max(s["rss_mib"] for s in samples),
            "fds_after_first_round": [s["fds"] for s in after_first],
            "cpu_total_s": samples[-1]["cpu_s"], "duration_s": samples[-1]["t"],
            "lab_after": lab_state(ready["admin"]),
        }
    finally:
        d.terminate()
        d.wait(timeout=60)
        lab.terminate()
        lab.wait(timeout=30)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "run-mode.json"), "w") as f:
        json.dump({**result, "samples": samples}, f, indent=1)
    idle_rss = result["rss_mib_between_rounds"]
    fds = result["fds_after_first_round"]
    text = (
        f"`run` with 1,000 deny canaries + 50 controls, interval {a.interval} s (jitter 0), "
        f"{result['rounds_seen']} rounds observed over {result['duration_s']:.0f} s.\n\n"
        f"| RSS between rounds (MiB) | peak RSS (MiB) | open fds | idle CPU between rounds (% of a core) | CPU per round (s) |\n"
        f"|---|---|---|---|---|\n"
        f"| {statistics.median(idle_rss):.1f} ({min(idle_rss):.1f}–{max(idle_rss):.1f}) | "
        f"{result['peak_rss_mib']:.1f} | "
        f"{statistics.median(fds):.0f} ({min(fds)}–{max(fds)}) | "
        f"{100 * statistics.median(idle):.2f} ({100 * min(idle):.2f}–{100 * max(idle):.2f}) | "
        f"{result['cpu_total_s'] / max(1, result['rounds_seen']):.2f} |\n"
    )
    with open(os.path.join(a.out, "run-mode.md"), "w") as f:
        f.write(text)
    print(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["scale", "run"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--interval", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--cases", help="DENYxCONCURRENCY,... (default: the standard five)")
    ap.add_argument("--merge", action="store_true", help="replace only these cases in scale.json")
    a = ap.parse_args()
    scale(a) if a.mode == "scale" else run_mode(a)


if __name__ == "__main__":
    main()
