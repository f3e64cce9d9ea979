//! Config errors that name file, line, column and key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a config file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub line: usize,
    pub col: usize,
    /// Dotted key path, e.g. `canary[2].topic` (array indexes are 0-based, in file order).
    pub key: String,
    pub message: String,
}

/// Everything wrong with a config file (all cross-check failures are reported at once).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(path, issues))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

fn render(path: &Path, issues: &[Issue]) -> String {
    let mut out = String::new();
    for (i, is) in issues.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}:{}:{}: `{}`: {}",
            path.display(),
            is.line,
            is.col,
            is.key,
            is.message
        ));
    }
    out
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}",
            self.line, self.col, self.key, self.message
        )
    }
}

/// Maps byte offsets of one source text to lines, columns and TOML key paths.
pub struct Locator<'a> {
    src: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(src: &'a str) -> Self {
        Locator { src }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.src[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// The table path (`canary[2]`, `schedule`, or empty for the root) in effect at `offset`.
    pub fn table_at(&self, offset: usize) -> String {
        let mut current = String::new();
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        let mut pos = 0;
        for line in self.src.split_inclusive('\n') {
            if pos > offset {
                break;
            }
            let t = line.trim();
            if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = name.trim().to_string();
                let n = counts.entry(name.clone()).or_insert(0);
                current = format!("{name}[{n}]");
                *n += 1;
            } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
                current = name.trim().to_string();
            }
            pos += line.len();
        }
        current
    }

    /// The key written on the line at `offset` (`key = value`), if any.
    pub fn key_on_line(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.src.len());
        let start = self.src[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.src[offset..]
            .find('\n')
            .map_or(self.src.len(), |i| offset + i);
        let line = &self.src[start..end];
        let (k, _) = line.split_once('=')?;
        let k = k.trim().trim_matches('"');
        (!k.is_empty() && !k.starts_with('[')).then(|| k.to_string())
    }

    pub fn issue(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> Issue {
        let (line, col) = self.line_col(span.start);
        let table = self.table_at(span.start);
        let key = match (table.is_empty(), key.is_empty()) {
            (true, _) => key.to_string(),
            (false, true) => table,
            (false, false) => format!("{table}.{key}"),
        };
        Issue {
            line,
            col,
            key,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_tables_and_keys() {
        let src = "[target]\nregion = \"x\"\n[[canary]]\nname = \"a\"\n[[canary]]\nname = \"b\"\ntopic = 1\n";
        let l = Locator::new(src);
        let off = src.find("topic").unwrap();
        assert_eq!(l.line_col(off), (7, 1));
        assert_eq!(l.table_at(off), "canary[1]");
        assert_eq!(l.key_on_line(off + 3).as_deref(), Some("topic"));
        assert_eq!(l.table_at(src.find("region").unwrap()), "target");
        let is = l.issue(off..off + 5, "topic", "bad");
        assert_eq!(is.key, "canary[1].topic");
    }
}
