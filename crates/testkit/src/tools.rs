//! The programs `scripts/test-deps.sh` installs, found without PATH games: the Python venv and
//! npm tools under `target/test-tools/`, and Debian's binaries under /usr/bin. A missing one
//! fails the test with the command that installs it.

use std::path::PathBuf;

const HOW: &str = "run scripts/test-deps.sh";

/// `target/test-tools/` of the workspace.
pub fn test_tools_dir() -> PathBuf {
    crate::workspace_root().join("target/test-tools")
}

/// The venv's Python (awsiotsdk, boto3, cfn-lint, parliament).
pub fn python() -> PathBuf {
    venv_bin("python")
}

/// A program of the test venv (`cfn-lint`, `parliament`, ...).
pub fn venv_bin(name: &str) -> PathBuf {
    present(test_tools_dir().join("venv/bin").join(name))
}

/// `target/test-tools/npm/node_modules` (@cloud-copilot/iam-simulate).
pub fn node_modules() -> PathBuf {
    present(test_tools_dir().join("npm/node_modules"))
}

/// A Debian package's program under /usr/bin (`prometheus`, `promtool`, `chromium`, ...).
pub fn system_bin(name: &str) -> PathBuf {
    present(PathBuf::from("/usr/bin").join(name))
}

fn present(path: PathBuf) -> PathBuf {
    assert!(path.exists(), "{} is missing: {HOW}", path.display());
    path
}

/// The source directory of `package`, a crate in the workspace's dependency graph (where
/// `cargo metadata` says its manifest is): for data that ships inside a crate.
pub fn package_dir(package: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(crate::workspace_root());
    let stdout = crate::process::output_ok(&mut cmd, "cargo metadata");
    let meta: serde_json::Value =
        serde_json::from_str(&stdout).expect("cargo metadata prints JSON");
    let manifest = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == package)
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("{package} is not in the dependency graph"));
    PathBuf::from(manifest)
        .parent()
        .expect("a manifest has a directory")
        .to_path_buf()
}

/// Runs `script` with the test venv's Python as an independent AWS client: a clean
/// environment (PATH only, no instance metadata, no config or credentials files) plus `env`,
/// `stdin` written to it, at most `limit`; returns its stdout parsed as JSON. The script runs
/// on a blocking-pool thread, so labs on the caller's runtime keep answering it.
pub async fn python_json<T: serde::de::DeserializeOwned + Send + 'static>(
    script: &std::path::Path,
    env: &[(&str, &str)],
    stdin: Option<String>,
    limit: std::time::Duration,
) -> T {
    use std::io::Write as _;
    use std::process::Stdio;
    let name = script.display().to_string();
    let mut cmd = std::process::Command::new(python());
    cmd.arg(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn()?;
            if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
                pipe.write_all(text.as_bytes())?;
            }
            child.wait_with_output()
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} finishes within {limit:?}"))
    .expect("join")
    .unwrap_or_else(|e| panic!("run {name}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}: {stderr}"))
}
