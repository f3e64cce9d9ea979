//! `lab`: a local AWS IoT Core emulator. Data plane: SigV4 websocket gateway, MQTT 3.1.1/5
//! broker with AWS IoT authorization, device shadow service, admin API. Identity plane: STS,
//! Cognito user pool + identity pool, credential-vending API. Enforces with `crate::policy`.

pub mod identity;
pub mod scenario;
pub mod state;
