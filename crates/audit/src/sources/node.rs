//! A YAML / JSON document tree that keeps what CloudFormation and SARIF need and serde drops:
//! the tag of every node (`!Ref`, `!Sub`, ...) and the line it starts on. JSON is read by the
//! same parser (YAML 1.2 is a superset of JSON), so JSON templates, Terraform plans and policy
//! files get lines too.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar; `plain` means unquoted (so `true`, `12`, `null` keep their YAML types).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(String, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    /// `!Ref` for a short-form intrinsic; `None` when untagged.
    pub tag: Option<String>,
    /// 1-based line where the node starts.
    pub line: usize,
}

/// A parse failure with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, plain } if !(*plain && is_null(text)) => Some(text),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Node)] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true } if is_null(text))
    }

    /// The node as JSON, with YAML 1.2 core-schema scalars (tags are ignored: callers that care
    /// about intrinsics resolve them first).
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Scalar { text, plain } => scalar_json(text, *plain),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// YAML 1.2 core schema for plain scalars; quoted scalars are always strings.
pub fn scalar_json(text: &str, plain: bool) -> Value {
    if !plain {
        return Value::String(text.to_owned());
    }
    if is_null(text) {
        return Value::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.');
    if looks_numeric {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_owned())
}

enum Frame {
    Seq(Vec<Node>, Option<String>, usize, usize),
    Map(
        Vec<(String, Node)>,
        Option<String>,
        usize,
        usize,
        Option<(String, usize)>,
    ),
}

/// Parses the first document of a YAML or JSON text.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| ParseError {
            line: e.marker().line(),
            message: e.info().to_owned(),
        })?;
        let line = span.start.line();
        let tag_of = |t: &Option<std::borrow::Cow<'_, saphyr_parser::Tag>>| {
            t.as_ref().map(|t| format!("{}{}", t.handle, t.suffix))
        };
        let done = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let node = Node {
                    kind: Kind::Scalar {
                        text: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    tag: tag_of(&tag),
                    line,
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => Some(n.clone()),
                None => {
                    return Err(ParseError {
                        line,
                        message: "alias to an unknown anchor".into(),
                    });
                }
            },
            Event::SequenceStart(anchor, tag) => {
                stack.push(Frame::Seq(Vec::new(), tag_of(&tag), line, anchor));
                None
            }
            Event::MappingStart(anchor, tag) => {
                stack.push(Frame::Map(Vec::new(), tag_of(&tag), line, anchor, None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Frame::Seq(items, tag, line, anchor)) => (
                        Node {
                            kind: Kind::Seq(items),
                            tag,
                            line,
                        },
                        anchor,
                    ),
                    Some(Frame::Map(entries, tag, line, anchor, _)) => (
                        Node {
                            kind: Kind::Map(entries),
                            tag,
                            line,
                        },
                        anchor,
                    ),
                    None => {
                        return Err(ParseError {
                            line,
                            message: "unbalanced collection end".into(),
                        });
                    }
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
            Event::DocumentEnd => break,
            _ => None,
        };
        let Some(node) = done else { continue };
        match stack.last_mut() {
            None => {
                root = Some(node);
            }
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, _, _, _, pending)) => match pending.take() {
                Some((key, key_line)) => {
                    // A collection under a key starts, for a reader, at its key.
                    let mut node = node;
                    if !matches!(node.kind, Kind::Scalar { .. }) {
                        node.line = node.line.min(key_line);
                    }
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(ParseError {
                            line: node.line,
                            message: format!("duplicate key `{key}`"),
                        });
                    }
                    entries.push((key, node));
                }
                None => match node.kind {
                    Kind::Scalar { text, .. } => *pending = Some((text, node.line)),
                    _ => {
                        return Err(ParseError {
                            line: node.line,
                            message: "only scalar mapping keys are supported".into(),
                        });
                    }
                },
            },
        }
    }
    root.ok_or(ParseError {
        line: 1,
        message: "empty document".into(),
    })
}

/// 1-based line of a byte offset (for messages about positions found by other means).
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keeps_tags_and_lines() {
        let n = parse("a: 1\nb:\n  - !Ref X\n  - !Sub 'x-${Y}'\nc: \"true\"\nd: true\n").unwrap();
        assert_eq!(n.get("a").unwrap().to_json(), Value::from(1));
        let b = n.get("b").unwrap();
        assert_eq!(b.line, 2);
        assert_eq!(b.items()[0].tag.as_deref(), Some("!Ref"));
        assert_eq!(b.items()[1].tag.as_deref(), Some("!Sub"));
        assert_eq!(b.items()[1].line, 4);
        assert_eq!(n.get("c").unwrap().to_json(), Value::from("true"));
        assert_eq!(n.get("d").unwrap().to_json(), Value::from(true));
    }

    #[test]
    fn json_is_read_with_lines() {
        let n = parse("{\n  \"Statement\": [\n    {\"Effect\": \"Allow\"},\n    {\"Effect\": \"Deny\"}\n  ]\n}").unwrap();
        let s = n.get("Statement").unwrap();
        assert_eq!(s.items()[1].line, 4);
        assert_eq!(s.items()[1].get("Effect").unwrap().as_str(), Some("Deny"));
        assert_eq!(
            n.to_json(),
            serde_json::json!({"Statement":[{"Effect":"Allow"},{"Effect":"Deny"}]})
        );
    }

    #[test]
    fn errors_carry_lines_and_duplicates_are_rejected() {
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "duplicate key `a`"));
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let n = parse("x: &v [1, 2]\ny: *v\n").unwrap();
        assert_eq!(n.get("y").unwrap().to_json(), serde_json::json!([1, 2]));
    }

    #[test]
    fn offsets_map_to_lines() {
        assert_eq!(line_of_offset("a\nb\nc", 0), 1);
        assert_eq!(line_of_offset("a\nb\nc", 4), 3);
    }
}
