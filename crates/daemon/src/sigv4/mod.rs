//! AWS Signature Version 4, client side: `presign` builds the presigned websocket URLs. The
//! verifiers are the lab's (`iot_canary_lab::sigv4`).

pub mod presign;
