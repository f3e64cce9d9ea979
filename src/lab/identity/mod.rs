//! The lab's identity plane: STS (awsQuery), Cognito user pool and identity pool
//! (awsJson1.1) and the credential-vending API, on one HTTP router.

pub mod errors;
pub mod jwt;
pub mod sts;
