//! Log setup: pretty on a TTY, JSON lines otherwise (ECS/CloudWatch/journald can filter them).
//! Colour only on a terminal and never with `NO_COLOR`; in JSON mode every line on stderr is
//! a JSON object (the CLI's own messages go through [`message`] for that reason).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Pretty when stderr is a terminal, JSON otherwise.
    Auto,
    Pretty,
    Json,
}

/// `--log-level`: the least severe events logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Whether stderr carries JSON lines (set by [`init`]).
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Whether `format` means JSON on this stderr.
pub fn is_json(format: LogFormat) -> bool {
    match format {
        LogFormat::Auto => !std::io::stderr().is_terminal(),
        LogFormat::Pretty => false,
        LogFormat::Json => true,
    }
}

/// Colour on stderr: a terminal, and `NO_COLOR` unset or empty.
pub fn stderr_color() -> bool {
    iot_canary_core::report::use_color(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// The filter: `--log-level` when given, else `RUST_LOG` (full directives, e.g.
/// `info,iot_canary_daemon::mqtt=debug`), else `info`.
fn filter(level: Option<LogLevel>) -> tracing_subscriber::EnvFilter {
    match level {
        Some(l) => tracing_subscriber::EnvFilter::new(l.directive()),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    }
}

/// Installs the global subscriber writing to stderr (stdout is reserved for reports and the
/// lab's ready line).
pub fn init(format: LogFormat, level: Option<LogLevel>) {
    let json = is_json(format);
    JSON.store(json, Ordering::Relaxed);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stderr);
    // try_init: a second call (tests, demo wiring) keeps the first subscriber instead of panicking.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(stderr_color()).try_init()
    };
}

/// How bad a CLI message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warn,
    Info,
}

/// A message of the CLI itself (`iot-canary: …`): a plain line on stderr, or in JSON mode one
/// JSON object in the shape of the tracing events beside it (`timestamp`, `level`,
/// `message`, `target`), so stderr never mixes the two. Not subject to the log filter: these
/// are the command's own answers (errors, where metrics are served).
pub fn message(severity: Severity, text: &str) {
    use std::io::Write;
    let line = if json() {
        let level = match severity {
            Severity::Error => "ERROR",
            Severity::Warn => "WARN",
            Severity::Info => "INFO",
        };
        let obj = serde_json::json!({
            "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            "level": level,
            "message": text,
            "target": "iot_canary",
        });
        format!("{obj}\n")
    } else {
        match severity {
            Severity::Warn => format!("iot-canary: warning: {text}\n"),
            Severity::Error | Severity::Info => format!("iot-canary: {text}\n"),
        }
    };
    // One write per line, so concurrent log lines never interleave with it; a closed stderr
    // leaves nowhere to report to.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
