//! A policy document in a file of its own (JSON, or YAML): an IoT policy unless `--kind` says
//! it is a role's policy. Its name is the file stem.

use super::node::Node;
use super::{LoadOptions, Location, PolicyKind, PolicySource, SourceSet, statement_lines};
use crate::InputError;

pub fn load(file: &str, root: &Node, options: &LoadOptions) -> Result<SourceSet, InputError> {
    let name = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(file)
        .to_owned();
    Ok(SourceSet {
        policies: vec![PolicySource {
            kind: options.document_kind.unwrap_or(PolicyKind::IotPolicy),
            principal: name.clone(),
            name,
            document: root.to_json(),
            location: Location {
                file: file.into(),
                line: root.line,
            },
            statement_lines: statement_lines(root),
            session: None,
        }],
        findings: Vec::new(),
    })
}
