#!/usr/bin/env bash
# Installs everything the test suite starts or calls: Debian packages, a Python venv with the
# independent clients (AWS IoT Device SDK, boto3) and linters, and npm tools. Idempotent.
# Tools land under target/test-tools/ so tests can find them without PATH games:
#   target/test-tools/venv/bin/python   (awsiotsdk, boto3, pycognito, cfn-lint, parliament, moto, pytest, jsonschema)
#   target/test-tools/npm/node_modules  (@cloud-copilot/iam-simulate)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/test-tools
mkdir -p "$tools"

apt_pkgs=(python3-venv systemd prometheus prometheus-alertmanager chromium)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$tools/venv/bin/python" ]; then
  python3 -m venv "$tools/venv"
fi
"$tools/venv/bin/pip" install -q --disable-pip-version-check -r scripts/test-requirements.txt

# Independent IAM evaluator for the policy differential test (crates/policy/tests/it/differential.rs).
if ! command -v node >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ ! -f "$tools/npm/node_modules/@cloud-copilot/iam-simulate/package.json" ]; then
  mkdir -p "$tools/npm"
  npm install --prefix "$tools/npm" --no-audit --no-fund --loglevel=error @cloud-copilot/iam-simulate@0.1.173
fi
