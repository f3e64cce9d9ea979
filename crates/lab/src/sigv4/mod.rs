//! SigV4 verification as AWS does it server-side: presigned websocket URLs (`verify`, the IoT
//! gateway) and `Authorization` headers (`verify_header`, STS and the other JSON/query APIs).
//! The client side (presigning) lives in the daemon; the two meet only in tests.

pub mod verify;
pub mod verify_header;
