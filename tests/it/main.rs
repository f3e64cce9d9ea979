//! The root package's integration tests, one binary. Everything here runs the built
//! `iot-canary` binary or crosses every crate with real outside tools:
//! - the CLI and its modes: `audit_cli` (`iot-canary audit`), `calibrate_cli` (`iot-canary calibrate` against the lab's `aws` profile), `daemon_cli` (once/check/--only/--shard/--settle), `daemon_demo`,
//!   `daemon_once_alerts` (the post-deploy gate's alert), `daemon_service` (run as a service:
//!   sd_notify, SIGTERM, SIGHUP), `daemon_state` (`[state] dir` across a restart, the web
//!   config file refused by name), `daemon_trigger` (`POST /-/probe` behind basic auth,
//!   SIGUSR1), `lab_cli` (`iot-canary lab`), `policy_cli`, `policy_simulate`;
//! - deploy artefacts: `deploy_cloudformation` (cfn-lint, parliament), `deploy_docker` (the
//!   image's completions and man pages), `deploy_rules` (promtool), `deploy_systemd`
//!   (systemd-analyze);
//! - the suite benchmark's generator: `bench_doors` (gen.py's MQTT and doors configs pass
//!   `check`; the doors share's per-family controls are what make it pass);
//! - the operator's surface: `cli_check` (check's offline checks, --credentials), `cli_gate`
//!   (fail-closed selection, --output, SIGINT partial reports, concurrent gates),
//!   `cli_transport` (dns / tcp_refused / timeout, progress, colour);
//! - docs that must stay true: `docs_reference` (docs/cli.md against --help, every command the
//!   docs show, canaries.schema.json against every shipped config, reasons in the runbook);
//! - real Prometheus (scraping through TLS and basic auth) and Alertmanager:
//!   `observe_prometheus`, `alert_alertmanager`;
//! - independent clients: `identity_boto3` (boto3), `lab_python` (AWS IoT Device SDK);
//! - the status page in Chromium, desktop and a 375 px phone: `status_page_chromium`;
//! - the workspace's crate layering (`layering`, scripts/check_layering.py);
//! - reliability: `reliability_faults` (every fault reads inconclusive, the lab killed and
//!   restarted as a subprocess), `reliability_secrets` (no mode leaks a secret).
//!
//! The soak is its own binary (tests/soak.rs: long-running). Library-level tests live with
//! their crates (crates/*/tests/it); shared harness code in crates/testkit.

mod alert_alertmanager;
mod audit_cli;
mod bench_doors;
mod calibrate_cli;
mod cli_check;
mod cli_gate;
mod cli_transport;
mod daemon_cli;
mod daemon_demo;
mod daemon_once_alerts;
mod daemon_service;
mod daemon_state;
mod daemon_trigger;
mod deploy_cloudformation;
mod deploy_docker;
mod deploy_rules;
mod deploy_systemd;
mod docs_reference;
mod generate_live;
mod identity_boto3;
mod lab_cli;
mod lab_python;
mod layering;
mod observe_prometheus;
mod policy_cli;
mod policy_simulate;
mod reliability_faults;
mod reliability_secrets;
mod status_page_chromium;
mod support;
