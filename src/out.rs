//! Where the CLI's output goes: stdout that may be closed under it (`demo --once | head -1`),
//! report files checked writable before the work starts and replaced atomically after it, and
//! the CLI's own messages ([`error`], [`warn`], [`info`]: plain lines, or JSON lines in JSON
//! log mode).

use std::io::Write;
use std::path::{Path, PathBuf};

use iot_canary_daemon::logging::{self, Severity};

pub fn error(text: impl std::fmt::Display) {
    logging::message(Severity::Error, &text.to_string());
}

pub fn warn(text: impl std::fmt::Display) {
    logging::message(Severity::Warn, &text.to_string());
}

pub fn info(text: impl std::fmt::Display) {
    logging::message(Severity::Info, &text.to_string());
}

/// stdout was closed by its reader: stop printing, end quietly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Writes `text` to stdout and flushes. A reader that went away (`| head`) is [`Closed`], not a
/// panic; any other write error is reported once and treated the same way (nowhere to write).
pub fn print(text: &str) -> Result<(), Closed> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Closed),
        Err(e) => {
            error(format_args!("cannot write to stdout: {e}"));
            Err(Closed)
        }
    }
}

/// [`print`] with a newline.
pub fn println(text: &str) -> Result<(), Closed> {
    print(&format!("{text}\n"))
}

/// Where a report goes: stdout, or a file that was proven writable before the run (a new
/// temporary file beside it) and is replaced atomically with the finished report.
pub enum Sink {
    Stdout,
    File {
        path: PathBuf,
        tmp: tempfile::NamedTempFile,
    },
}

impl Sink {
    /// Opens the destination now, so a typo'd or read-only `--output` fails before any probe
    /// runs (exit 3), not after the round.
    pub fn open(output: Option<&Path>) -> Result<Sink, String> {
        let Some(path) = output else {
            return Ok(Sink::Stdout);
        };
        if path.is_dir() {
            return Err(format!(
                "--output {}: is a directory, not a file",
                path.display()
            ));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".iot-canary-report")
            .tempfile_in(dir)
            .map_err(|e| format!("--output {}: cannot write there: {e}", path.display()))?;
        Ok(Sink::File {
            path: path.to_path_buf(),
            tmp,
        })
    }

    /// Writes the finished report. `Err(None)`: stdout was closed (nothing more to say);
    /// `Err(Some(message))`: the file could not be written.
    pub fn write(self, text: &str) -> Result<(), Option<String>> {
        match self {
            Sink::Stdout => print(text).map_err(|Closed| None),
            Sink::File { path, mut tmp } => {
                let fail = |e: std::io::Error| Some(format!("writing {}: {e}", path.display()));
                tmp.write_all(text.as_bytes()).map_err(fail)?;
                tmp.as_file().sync_all().map_err(fail)?;
                // Reports are not secret; tempfile creates 0600, a report file is read by CI.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    tmp.as_file()
                        .set_permissions(std::fs::Permissions::from_mode(0o644))
                        .map_err(fail)?;
                }
                tmp.persist(&path).map_err(|e| fail(e.error))?;
                Ok(())
            }
        }
    }

    /// Whether the report goes to stdout (a table there may be coloured).
    pub fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout)
    }
}

/// Colour for a table on stdout: a terminal, and `NO_COLOR` unset or empty.
pub fn stdout_color() -> bool {
    use std::io::IsTerminal;
    iot_canary_core::report::use_color(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}
