//! Reading request bodies with a size limit.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// The outcome of reading a request body.
pub(crate) enum RequestBody {
    /// The whole body, within the limit.
    Complete(Bytes),
    /// The body exceeded the limit. Reading stopped after `read_len` bytes.
    TooLarge { read_len: usize },
    /// The connection failed while the body was read, after `read_len`
    /// bytes.
    Failed {
        read_len: usize,
        error: hyper::Error,
    },
}

impl RequestBody {
    /// Returns the number of body bytes received.
    pub(crate) fn len(&self) -> usize {
        match self {
            RequestBody::Complete(bytes) => bytes.len(),
            RequestBody::TooLarge { read_len } | RequestBody::Failed { read_len, .. } => *read_len,
        }
    }
}

/// Reads a request body, stopping as soon as it exceeds `max_bytes`.
pub(crate) async fn read_request_body(mut body: Incoming, max_bytes: usize) -> RequestBody {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                let read_len = buffer.len();
                return RequestBody::Failed { read_len, error };
            }
        };
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
            if buffer.len() > max_bytes {
                let read_len = buffer.len();
                return RequestBody::TooLarge { read_len };
            }
        }
    }
    RequestBody::Complete(buffer.freeze())
}
