//! The policy engine's integration tests, one binary: property tests of the evaluator and the
//! differential test against an independent IAM evaluator (@cloud-copilot/iam-simulate).

mod differential;
mod props;
