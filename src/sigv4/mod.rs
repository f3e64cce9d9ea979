//! AWS Signature Version 4: the pieces both sides share. `verify` checks presigned URLs the
//! way AWS IoT's websocket gateway does; its canonicalisation and key-derivation helpers are
//! public so other verifiers (STS `Authorization` headers) and signers reuse them. `presign`
//! builds the client's presigned websocket URLs.

pub mod presign;
pub mod verify;
pub mod verify_header;
