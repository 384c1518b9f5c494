//! The protobuf codec of rul.v1: prost's encoding, but a request body that is not valid protobuf is the client's
//! mistake — INVALID_ARGUMENT naming the expected message, logged at debug and counted — not INTERNAL.

use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

/// Counter of gRPC messages that failed to decode, labelled by the expected message type.
pub const INVALID_MESSAGES_TOTAL: &str = "rul_grpc_invalid_messages_total";

/// [`tonic_prost::ProstCodec`] with decode failures mapped to INVALID_ARGUMENT (generated code names it).
#[derive(Debug, Clone)]
pub struct ProtoCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for ProtoCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for ProtoCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + prost::Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProtoDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProtoDecoder(PhantomData)
    }
}

/// Decodes `U`; see [`ProtoCodec`].
#[derive(Debug, Clone)]
pub struct ProtoDecoder<U>(PhantomData<U>);

impl<U: prost::Message + prost::Name + Default> Decoder for ProtoDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| invalid::<U>(&e))
    }
}

fn invalid<U: prost::Name>(error: &prost::DecodeError) -> Status {
    let name = U::full_name();
    tracing::debug!(expected = name.as_str(), error = %error, "gRPC message is not valid protobuf");
    metrics::counter!(INVALID_MESSAGES_TOTAL, "message" => name.clone()).increment(1);
    Status::invalid_argument(format!("request body is not a valid {name} message"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::pb;
    use prost::Message;

    #[test]
    fn decode_errors_name_the_message_and_nothing_internal() {
        let error = pb::RulRequest::decode(&[0x0a_u8, 0x05, 0x01][..]).expect_err("truncated");
        let status = invalid::<pb::RulRequest>(&error);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "request body is not a valid rul.v1.RULRequest message"
        );
    }
}
