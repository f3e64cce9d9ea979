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
