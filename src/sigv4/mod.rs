//! AWS Signature Version 4: the pieces both sides share. `verify` checks presigned URLs the
//! way AWS IoT's websocket gateway does; its canonicalisation and key-derivation helpers are
//! public so other verifiers (STS `Authorization` headers) and signers reuse them.

pub mod verify;
pub mod verify_header;
