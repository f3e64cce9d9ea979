//! SigV4: presigned websocket URLs (client) and server-side verification for the lab.

pub mod verify_header;
