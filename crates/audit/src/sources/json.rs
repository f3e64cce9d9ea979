//! A policy document in a file of its own (JSON, or YAML): an IoT policy unless `--kind` says
//! it is a role's policy. Its name is the file stem.

use super::node::Node;
use super::{LoadOptions, PolicyKind, PolicySource, SourceSet};
use crate::InputError;

pub fn load(file: &str, root: &Node, options: &LoadOptions) -> Result<SourceSet, InputError> {
    Ok(SourceSet {
        policies: vec![PolicySource::whole_file(
            file,
            root,
            options.document_kind.unwrap_or(PolicyKind::IotPolicy),
            root.to_json(),
            None,
        )],
        findings: Vec::new(),
    })
}
