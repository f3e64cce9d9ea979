#!/usr/bin/env bash
# The suite benchmark: iot-canary `once` vs a Python AWS IoT Device SDK peer on the same lab (MQTT
# share), and vs a boto3 peer on the HTTPS data plane and control plane (doors share).
#   bash bench/suite/run.sh [--runs 5] [--deny 1000] [--doors 8] [--users 50] [--concurrency 64] [--skip-mqtt]
# Needs scripts/test-deps.sh (the venv with awsiotsdk). Results: bench/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=target/test-tools/venv/bin/python
[ -x "$py" ] || { echo "bench: $py missing: run scripts/test-deps.sh" >&2; exit 1; }
"$py" -c 'import awsiot, awscrt, boto3' || { echo "bench: awsiotsdk missing: run scripts/test-deps.sh" >&2; exit 1; }
cargo build --release --locked
exec python3 bench/suite/run.py --bin target/release/iot-canary --python "$py" "$@"
