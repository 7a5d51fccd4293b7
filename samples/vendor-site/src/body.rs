//! Request body reading and the response bodies: whole buffers, plus the
//! stalled, endless and gzip-bomb streams used by the fault routes.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// The body type of every response.
pub(crate) type SiteBody = BoxBody<Bytes, io::Error>;

/// The maximum request body the site reads, in bytes (1 MiB). The site responds
/// to a larger body with 413 Payload Too Large.
pub(crate) const MAX_REQUEST_BODY_BYTES: usize = 1 << 20;

/// Wraps a whole buffer as a response body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> SiteBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The outcome of reading a request body.
pub(crate) enum RequestBody {
    /// The whole body, within [`MAX_REQUEST_BODY_BYTES`].
    Complete(Bytes),
    /// The body exceeded [`MAX_REQUEST_BODY_BYTES`]. Reading stopped after
    /// `read_len` bytes.
    TooLarge { read_len: usize },
    /// The connection failed while the body was read. `read_len` bytes
    /// arrived before.
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

/// Reads a request body, stopping past [`MAX_REQUEST_BODY_BYTES`].
pub(crate) async fn read_request_body(mut body: Incoming) -> RequestBody {
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
            if buffer.len() > MAX_REQUEST_BODY_BYTES {
                let read_len = buffer.len();
                return RequestBody::TooLarge { read_len };
            }
        }
    }
    RequestBody::Complete(buffer.freeze())
}

/// A body that never yields a frame. Its response ends only when the
/// connection is closed, by the client or at shutdown.
pub(crate) struct StalledBody;

impl Body for StalledBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        // No waker is stored because no event ever makes a frame ready.
        Poll::Pending
    }
}

/// A body that repeats the same chunk forever, sent with chunked transfer
/// encoding. Hyper writes it only as fast as the client reads, and stops
/// when a write fails because the client has gone away.
pub(crate) struct EndlessBody {
    chunk: Bytes,
}

impl EndlessBody {
    /// The size of each chunk, in bytes (64 KiB).
    const CHUNK_BYTES: usize = 64 * 1024;

    pub(crate) fn new() -> EndlessBody {
        EndlessBody {
            chunk: Bytes::from(vec![b'x'; Self::CHUNK_BYTES]),
        }
    }
}

impl Body for EndlessBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A gzip stream of zeros, compressed while it is sent so that neither the
/// inflated nor the whole compressed data is ever held in memory.
///
/// Deflate compresses zeros about 1000 to 1, so 1 GiB of zeros takes about
/// 1 MiB on the wire.
pub(crate) struct GzipZerosBody {
    /// `None` once the gzip trailer has been sent.
    encoder: Option<GzEncoder<Vec<u8>>>,
    remaining_bytes: u64,
}

impl GzipZerosBody {
    /// The inflated bytes compressed per frame (1 MiB).
    const STEP_BYTES: u64 = 1 << 20;

    pub(crate) fn new(inflated_bytes: u64) -> GzipZerosBody {
        GzipZerosBody {
            encoder: Some(GzEncoder::new(Vec::new(), Compression::default())),
            remaining_bytes: inflated_bytes,
        }
    }

    /// Compresses the next step, or finishes the stream, and returns the
    /// compressed bytes produced, or `None` at the end.
    fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

        loop {
            let encoder = self.encoder.as_mut()?;
            if self.remaining_bytes == 0 {
                let finished = self.encoder.take()?.finish();
                return Some(finished.map(Bytes::from));
            }

            let mut step = self.remaining_bytes.min(Self::STEP_BYTES);
            self.remaining_bytes -= step;
            while step > 0 {
                let len = step.min(ZEROS.len() as u64) as usize;
                if let Err(error) = encoder.write_all(&ZEROS[..len]) {
                    self.encoder = None;
                    return Some(Err(error));
                }
                step -= len as u64;
            }

            // The encoder buffers input, so a step may produce no output yet.
            let output = std::mem::take(encoder.get_mut());
            if !output.is_empty() {
                return Some(Ok(Bytes::from(output)));
            }
        }
    }
}

impl Body for GzipZerosBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        // NOTE: compression runs on the runtime's worker thread and blocks it
        // for about 2 ms per MiB (measured on a 2-core AMD EPYC with flate2's
        // default backend). A poll may compress a few MiB before the encoder
        // emits output, which is acceptable for a test fixture.
        let chunk = self.get_mut().next_chunk();
        Poll::Ready(chunk.map(|result| result.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn collect(mut body: GzipZerosBody) -> Vec<u8> {
        let mut compressed = Vec::new();
        while let Some(chunk) = body.next_chunk() {
            match chunk {
                Ok(bytes) => compressed.extend_from_slice(&bytes),
                Err(error) => panic!("compression failed: {error}"),
            }
        }
        compressed
    }

    #[test]
    fn gzip_zeros_inflate_to_requested_size() {
        let inflated_bytes = 3 * (1 << 20) + 17;
        let compressed = collect(GzipZerosBody::new(inflated_bytes));
        assert!(compressed.len() < 16 * 1024, "{} bytes", compressed.len());

        let mut inflated = Vec::new();
        let read = flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut inflated);
        assert!(read.is_ok(), "{read:?}");
        assert_eq!(inflated.len() as u64, inflated_bytes);
        assert!(inflated.iter().all(|&byte| byte == 0));
    }

    #[test]
    fn gzip_zeros_empty_is_valid_gzip() {
        let compressed = collect(GzipZerosBody::new(0));
        let mut inflated = Vec::new();
        let read = flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut inflated);
        assert!(read.is_ok(), "{read:?}");
        assert!(inflated.is_empty());
    }
}
