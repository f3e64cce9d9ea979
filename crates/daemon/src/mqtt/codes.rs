//! rumqttc's reason enums → the wire reason codes the verdict table speaks.

use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode as C5, PubAckReason, SubscribeReasonCode as S5,
};

pub fn connack_v5(c: C5) -> u8 {
    match c {
        C5::Success => 0x00,
        C5::RefusedProtocolVersion | C5::UnsupportedProtocolVersion => 0x84,
        C5::BadClientId | C5::ClientIdentifierNotValid => 0x85,
        C5::ServiceUnavailable | C5::ServerUnavailable => 0x88,
        C5::UnspecifiedError => 0x80,
        C5::MalformedPacket => 0x81,
        C5::ProtocolError => 0x82,
        C5::ImplementationSpecificError => 0x83,
        C5::BadUserNamePassword => 0x86,
        C5::NotAuthorized => 0x87,
        C5::ServerBusy => 0x89,
        C5::Banned => 0x8A,
        C5::BadAuthenticationMethod => 0x8C,
        C5::TopicNameInvalid => 0x90,
        C5::PacketTooLarge => 0x95,
        C5::QuotaExceeded => 0x97,
        C5::PayloadFormatInvalid => 0x99,
        C5::RetainNotSupported => 0x9A,
        C5::QoSNotSupported => 0x9B,
        C5::UseAnotherServer => 0x9C,
        C5::ServerMoved => 0x9D,
        C5::ConnectionRateExceeded => 0x9F,
    }
}

pub fn connack_v4(c: rumqttc::ConnectReturnCode) -> u8 {
    use rumqttc::ConnectReturnCode as C;
    match c {
        C::Success => 0,
        C::RefusedProtocolVersion => 1,
        C::BadClientId => 2,
        C::ServiceUnavailable => 3,
        C::BadUserNamePassword => 4,
        C::NotAuthorized => 5,
    }
}

pub fn suback_v5(c: &S5) -> u8 {
    match c {
        S5::Success(q) => *q as u8,
        S5::Failure | S5::Unspecified => 0x80,
        S5::ImplementationSpecific => 0x83,
        S5::NotAuthorized => 0x87,
        S5::TopicFilterInvalid => 0x8F,
        S5::PkidInUse => 0x91,
        S5::QuotaExceeded => 0x97,
        S5::SharedSubscriptionsNotSupported => 0x9E,
        S5::SubscriptionIdNotSupported => 0xA1,
        S5::WildcardSubscriptionsNotSupported => 0xA2,
    }
}

pub fn suback_v4(c: &rumqttc::SubscribeReasonCode) -> u8 {
    match c {
        rumqttc::SubscribeReasonCode::Success(q) => *q as u8,
        rumqttc::SubscribeReasonCode::Failure => 0x80,
    }
}

pub fn puback_v5(r: &PubAckReason) -> u8 {
    match r {
        PubAckReason::Success => 0x00,
        PubAckReason::NoMatchingSubscribers => 0x10,
        PubAckReason::UnspecifiedError => 0x80,
        PubAckReason::ImplementationSpecificError => 0x83,
        PubAckReason::NotAuthorized => 0x87,
        PubAckReason::TopicNameInvalid => 0x90,
        PubAckReason::PacketIdentifierInUse => 0x91,
        PubAckReason::QuotaExceeded => 0x97,
        PubAckReason::PayloadFormatInvalid => 0x99,
    }
}
