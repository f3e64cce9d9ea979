//! The container image ships shell completions and man pages: the Dockerfile's generating
//! `RUN` step is run as written (with `/out` moved into a temp dir) against the built binary,
//! the results are checked (bash parses the completion script, groff renders every page
//! without a warning, one page per command), and the runtime stage copies them into
//! /usr/share.

use std::path::Path;
use std::process::Command;

use crate::support::{BIN, repo};

/// The Dockerfile's instructions with continuation lines joined.
fn instructions(text: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') && cur.is_empty() {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                if !cur.trim().is_empty() {
                    all.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    all
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(files(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn the_image_ships_completions_and_man_pages() {
    let text = std::fs::read_to_string(repo("deploy/docker/Dockerfile")).unwrap();
    let steps = instructions(&text);
    let generate = steps
        .iter()
        .find(|s| s.starts_with("RUN ") && s.contains("iot-canary completions"))
        .expect("a RUN step generating completions");
    assert!(generate.contains("iot-canary man --out-dir"), "{generate}");
    assert!(
        steps
            .iter()
            .any(|s| s == "COPY --from=build /out/share /usr/share"),
        "the runtime stage copies /out/share into /usr/share:\n{steps:#?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(BIN, out.join("iot-canary")).unwrap();
    let script = generate
        .strip_prefix("RUN ")
        .unwrap()
        .replace("/out/", &format!("{}/", out.display()));
    let st = Command::new("sh").args(["-ec", &script]).status().unwrap();
    assert!(st.success(), "{script}");

    let share = out.join("share");
    let shipped = files(&share);
    for f in &shipped {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len > 100, "{} is nearly empty", f.display());
    }
    let bash = share.join("bash-completion/completions/iot-canary");
    let st = Command::new("bash").arg("-n").arg(&bash).status().unwrap();
    assert!(st.success(), "bash cannot parse {}", bash.display());
    assert!(share.join("zsh/vendor-completions/_iot-canary").exists());
    assert!(
        share
            .join("fish/vendor_completions.d/iot-canary.fish")
            .exists()
    );

    let man = share.join("man/man1");
    for page in [
        "iot-canary.1",
        "iot-canary-once.1",
        "iot-canary-check.1",
        "iot-canary-init.1",
    ] {
        let p = man.join(page);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: not roff"
        );
        let r = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            r.status.success() && r.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
}
