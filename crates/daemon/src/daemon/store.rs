//! The results store shared by the round, the HTTP surface and the alert wiring: core's plain
//! [`Snapshot`] behind a lock. Readers take a copy, so rendering never holds the lock.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use iot_canary_core::credentials::CacheStatus;
use iot_canary_core::store::{CanaryReport, Snapshot};

use super::Shard;

#[derive(Debug, Default)]
pub struct Store {
    inner: RwLock<Snapshot>,
}

impl Store {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    fn write(&self) -> RwLockWriteGuard<'_, Snapshot> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Snapshot> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, reports: &[CanaryReport], completed: SystemTime) {
        self.write().record(reports, completed);
    }

    pub fn record_credentials(&self, status: CacheStatus) {
        self.write().record_credentials(status);
    }

    pub fn retain(&self, keep_canary: impl Fn(&str) -> bool, keep_identity: impl Fn(&str) -> bool) {
        self.write().retain(keep_canary, keep_identity);
    }

    pub fn snapshot(&self) -> Snapshot {
        self.read().clone()
    }

    pub fn ready(&self) -> bool {
        self.read().ready()
    }
}

impl Store {
    /// Changes the snapshot in place (restoring saved state).
    pub fn update<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        f(&mut self.write())
    }
}

/// The state file in `[state] dir` (format: `iot_canary_core::state_file`): read once at start,
/// replaced atomically after every round, so a crash at any moment leaves either the old file
/// or the new one, never half of one.
#[derive(Debug, Clone)]
pub struct StateFile {
    pub path: PathBuf,
}

impl StateFile {
    /// The file for this replica: shards keep separate files, so replicas sharing a volume
    /// never overwrite each other.
    pub fn in_dir(dir: &Path, shard: Shard) -> Self {
        let name = if shard == Shard::ALL {
            "iot-canary-state.json".to_string()
        } else {
            format!(
                "iot-canary-state.shard-{}-of-{}.json",
                shard.index, shard.count
            )
        };
        StateFile {
            path: dir.join(name),
        }
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Creates the directory (owner-only when it is new: the file names canaries and carries
    /// evidence) and proves it writable, so a bad `[state] dir` fails at start, not after the
    /// first round.
    pub fn prepare(&self) -> std::io::Result<()> {
        let dir = self.dir();
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
        }
        tempfile::NamedTempFile::new_in(dir).map(drop)
    }

    /// The file's text, or `None` when there is none yet.
    pub fn read(&self) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Atomic replace: a temp file in the same directory, written and fsynced, renamed over the
    /// old file, then the directory fsynced so the rename itself survives a power cut.
    pub fn write(&self, text: &str) -> std::io::Result<()> {
        use std::io::Write;
        let dir = self.dir();
        let mut tmp = tempfile::Builder::new()
            .prefix(".iot-canary-state.")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_atomically_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::in_dir(&dir.path().join("state/nested"), Shard::ALL);
        assert_eq!(f.read().unwrap(), None, "no file before the first write");
        f.prepare().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        f.write("{\"a\":1}\n").unwrap();
        f.write("{\"a\":2}\n").unwrap();
        assert_eq!(f.read().unwrap().as_deref(), Some("{\"a\":2}\n"));
        let names: Vec<String> = std::fs::read_dir(f.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["iot-canary-state.json"]);
    }

    #[test]
    fn shards_keep_separate_files() {
        let d = Path::new("/var/lib/iot-canary");
        let a = StateFile::in_dir(d, Shard { index: 0, count: 2 });
        let b = StateFile::in_dir(d, Shard { index: 1, count: 2 });
        assert_ne!(a.path, b.path);
        assert_eq!(
            b.path,
            Path::new("/var/lib/iot-canary/iot-canary-state.shard-1-of-2.json")
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_unwritable_dir_fails_prepare() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        // A path under a regular file cannot be a directory.
        assert!(
            StateFile::in_dir(&file.join("sub"), Shard::ALL)
                .prepare()
                .is_err()
        );
    }
}
