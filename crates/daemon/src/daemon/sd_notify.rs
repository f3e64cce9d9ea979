//! The systemd notification protocol (sd_notify(3)), which is one datagram per state change to
//! the Unix socket named by `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
//! Without the variable every call is a no-op, so the daemon runs the same outside systemd.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

#[derive(Debug)]
pub struct SdNotify {
    socket: UnixDatagram,
    target: String,
}

impl SdNotify {
    /// From `NOTIFY_SOCKET`; `None` when unset or unusable (logged: systemd would then kill a
    /// `Type=notify` service on its start timeout, and the log says why).
    pub fn from_env() -> Option<Self> {
        let target = std::env::var("NOTIFY_SOCKET").ok()?;
        match Self::connect(&target) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(socket = %target, error = %e, "NOTIFY_SOCKET is not usable");
                None
            }
        }
    }

    pub fn connect(target: &str) -> io::Result<Self> {
        if target.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty socket name",
            ));
        }
        Ok(SdNotify {
            socket: UnixDatagram::unbound()?,
            target: target.to_string(),
        })
    }

    /// Sends `state` (e.g. `READY=1`, `WATCHDOG=1`). Failures are logged, never fatal.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.try_send(state) {
            tracing::warn!(socket = %self.target, state, error = %e, "sd_notify failed");
        }
    }

    fn try_send(&self, state: &str) -> io::Result<()> {
        if let Some(name) = self.target.strip_prefix('@') {
            #[cfg(target_os = "linux")]
            {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                self.socket.send_to_addr(state.as_bytes(), &addr)?;
                return Ok(());
            }
            #[cfg(not(target_os = "linux"))]
            {
                let _ = name;
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "abstract sockets need Linux",
                ));
            }
        }
        self.socket.send_to(state.as_bytes(), &self.target)?;
        Ok(())
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (systemd's advice), only if
/// `WATCHDOG_PID` is unset or names this process. Pure over the two values.
pub fn watchdog_period(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(p) = pid
        && p.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    let us: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(us / 2))
}

/// [`watchdog_period`] from the process environment.
pub fn watchdog_period_from_env() -> Option<Duration> {
    watchdog_period(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_period_table() {
        let rows = [
            (None, None, None),
            (Some("120000000"), None, Some(Duration::from_secs(60))),
            (Some("120000000"), Some("42"), Some(Duration::from_secs(60))),
            (Some("120000000"), Some("43"), None),
            (Some("0"), None, None),
            (Some("x"), None, None),
            (Some("1000"), Some(" 42 "), Some(Duration::from_micros(500))),
        ];
        for (usec, pid, want) in rows {
            assert_eq!(watchdog_period(usec, pid, 42), want, "{usec:?} {pid:?}");
        }
    }

    #[test]
    fn sends_datagrams_to_a_path_and_an_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = SdNotify::connect(path.to_str().unwrap()).unwrap();
        n.send("READY=1");
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("iot-canary-test-{}", std::process::id());
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
            let rx = UnixDatagram::bind_addr(&addr).unwrap();
            SdNotify::connect(&format!("@{name}"))
                .unwrap()
                .send("WATCHDOG=1");
            let len = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..len], b"WATCHDOG=1");
        }
        assert!(SdNotify::connect("").is_err());
    }
}
