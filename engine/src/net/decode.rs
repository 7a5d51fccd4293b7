//! Response body decoding (`Content-Encoding`) under a size cap.
//!
//! The decoders are push-based (`std::io::Write`): each piece of the body
//! received from the server is written in, and the decoded bytes land in a
//! [`CappedBuffer`] that refuses to grow past the cap. A compression bomb
//! therefore stops after at most the cap plus one decoder buffer (32 KiB for
//! `gzip`/`deflate`, [`BROTLI_BUFFER_BYTES`] for `br`) of work.

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

/// Output buffer size of the brotli decoder, in bytes.
const BROTLI_BUFFER_BYTES: usize = 32 * 1024;

/// The reason decoding stopped.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The decoded body would exceed the cap.
    TooLarge,
    /// The body is not valid for its coding, or the coding is unsupported.
    Invalid(String),
}

/// A `Vec<u8>` that fails a write which would make it longer than `cap`.
#[derive(Debug)]
pub(crate) struct CappedBuffer {
    bytes: Vec<u8>,
    cap: usize,
    exceeded: bool,
}

impl CappedBuffer {
    fn new(cap: usize) -> CappedBuffer {
        CappedBuffer {
            bytes: Vec::new(),
            cap,
            exceeded: false,
        }
    }
}

impl Write for CappedBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + data.len() > self.cap {
            self.exceeded = true;
            return Err(io::Error::other("decoded body exceeds its cap"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A decoder for one `Content-Encoding`.
pub(crate) enum BodyDecoder {
    /// No coding: bytes are copied.
    Identity(CappedBuffer),
    /// `gzip` or `x-gzip`, with any number of members.
    Gzip(MultiGzDecoder<CappedBuffer>),
    /// `deflate` before its first two bytes arrived: they tell whether the
    /// server sent the zlib format (RFC 9110) or a raw deflate stream (what
    /// some servers send instead).
    DeflatePending(Vec<u8>, Option<CappedBuffer>),
    /// `deflate` in the zlib format.
    Zlib(ZlibDecoder<CappedBuffer>),
    /// `deflate` as a raw stream.
    RawDeflate(DeflateDecoder<CappedBuffer>),
    /// `br`.
    Brotli(Box<brotli_decompressor::DecompressorWriter<CappedBuffer>>),
}

impl BodyDecoder {
    /// Creates the decoder for a `Content-Encoding` header value (`None`
    /// when absent), or the reason it is unsupported. Only one coding is
    /// supported; `identity` entries are ignored.
    pub(crate) fn for_encoding(
        content_encoding: Option<&str>,
        cap: usize,
    ) -> Result<BodyDecoder, String> {
        let codings: Vec<String> = content_encoding
            .unwrap_or("")
            .split(',')
            .map(|coding| coding.trim().to_ascii_lowercase())
            .filter(|coding| !coding.is_empty() && coding != "identity")
            .collect();
        let output = CappedBuffer::new(cap);
        match codings.as_slice() {
            [] => Ok(BodyDecoder::Identity(output)),
            [coding] => match coding.as_str() {
                "gzip" | "x-gzip" => Ok(BodyDecoder::Gzip(MultiGzDecoder::new(output))),
                "deflate" => Ok(BodyDecoder::DeflatePending(Vec::new(), Some(output))),
                "br" => Ok(BodyDecoder::Brotli(Box::new(
                    brotli_decompressor::DecompressorWriter::new(output, BROTLI_BUFFER_BYTES),
                ))),
                other => Err(format!("unsupported Content-Encoding {other:?}")),
            },
            _ => Err(format!(
                "unsupported Content-Encoding {:?}: more than one coding",
                content_encoding.unwrap_or("")
            )),
        }
    }

    /// Returns whether the body is decoded (any coding but identity).
    pub(crate) fn is_decoding(&self) -> bool {
        !matches!(self, BodyDecoder::Identity(_))
    }

    /// Decodes one piece of the body.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        if let BodyDecoder::DeflatePending(pending, output) = self {
            pending.extend_from_slice(data);
            if pending.len() < 2 {
                return Ok(());
            }
            let pending = std::mem::take(pending);
            let output = output.take().unwrap_or_else(|| CappedBuffer::new(0));
            *self = if is_zlib_header(pending[0], pending[1]) {
                BodyDecoder::Zlib(ZlibDecoder::new(output))
            } else {
                BodyDecoder::RawDeflate(DeflateDecoder::new(output))
            };
            return self.write(&pending);
        }
        let result = match self {
            BodyDecoder::Identity(output) => output.write_all(data),
            BodyDecoder::Gzip(decoder) => decoder.write_all(data),
            BodyDecoder::Zlib(decoder) => decoder.write_all(data),
            BodyDecoder::RawDeflate(decoder) => decoder.write_all(data),
            BodyDecoder::Brotli(decoder) => decoder.write_all(data),
            BodyDecoder::DeflatePending(..) => Ok(()),
        };
        result.map_err(|error| self.error(error))
    }

    /// Ends decoding and returns the decoded body.
    pub(crate) fn finish(self) -> Result<Vec<u8>, DecodeError> {
        let invalid = |coding: &str, error: io::Error| {
            DecodeError::Invalid(format!("failed to decode the {coding} body: {error}"))
        };
        let output = match self {
            BodyDecoder::Identity(output) => output,
            BodyDecoder::Gzip(mut decoder) => {
                finish_flate(decoder.try_finish(), decoder.get_ref(), "gzip")?;
                decoder.finish().map_err(|error| invalid("gzip", error))?
            }
            BodyDecoder::Zlib(mut decoder) => {
                finish_flate(decoder.try_finish(), decoder.get_ref(), "deflate")?;
                decoder
                    .finish()
                    .map_err(|error| invalid("deflate", error))?
            }
            BodyDecoder::RawDeflate(mut decoder) => {
                finish_flate(decoder.try_finish(), decoder.get_ref(), "deflate")?;
                decoder
                    .finish()
                    .map_err(|error| invalid("deflate", error))?
            }
            BodyDecoder::Brotli(mut decoder) => {
                if let Err(error) = decoder.close() {
                    return Err(match decoder.get_ref().exceeded {
                        true => DecodeError::TooLarge,
                        false => invalid("br", error),
                    });
                }
                match decoder.into_inner() {
                    Ok(output) => output,
                    Err(_) => return Err(DecodeError::Invalid("truncated br body".to_owned())),
                }
            }
            BodyDecoder::DeflatePending(pending, output) => {
                if !pending.is_empty() {
                    return Err(DecodeError::Invalid("truncated deflate body".to_owned()));
                }
                output.unwrap_or_else(|| CappedBuffer::new(0))
            }
        };
        Ok(output.bytes)
    }

    fn error(&self, error: io::Error) -> DecodeError {
        let (exceeded, coding) = match self {
            BodyDecoder::Identity(output) => (output.exceeded, "identity"),
            BodyDecoder::Gzip(decoder) => (decoder.get_ref().exceeded, "gzip"),
            BodyDecoder::Zlib(decoder) => (decoder.get_ref().exceeded, "deflate"),
            BodyDecoder::RawDeflate(decoder) => (decoder.get_ref().exceeded, "deflate"),
            BodyDecoder::Brotli(decoder) => (decoder.get_ref().exceeded, "br"),
            BodyDecoder::DeflatePending(..) => (false, "deflate"),
        };
        if exceeded {
            DecodeError::TooLarge
        } else {
            DecodeError::Invalid(format!("failed to decode the {coding} body: {error}"))
        }
    }
}

fn finish_flate(
    result: io::Result<()>,
    output: &CappedBuffer,
    coding: &str,
) -> Result<(), DecodeError> {
    match result {
        Ok(()) => Ok(()),
        Err(_) if output.exceeded => Err(DecodeError::TooLarge),
        Err(error) => Err(DecodeError::Invalid(format!(
            "failed to decode the {coding} body: {error}"
        ))),
    }
}

/// Whether two bytes start a zlib stream (RFC 1950): compression method 8
/// and a header checksum that is a multiple of 31.
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;

    fn decode(encoding: Option<&str>, body: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
        let mut decoder = BodyDecoder::for_encoding(encoding, cap).expect("supported coding");
        // Pieces of 7 bytes exercise the deflate sniffing and partial input.
        for piece in body.chunks(7) {
            decoder.write(piece)?;
        }
        decoder.finish()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).expect("in memory");
        encoder.finish().expect("in memory")
    }

    #[test]
    fn codings_round_trip() {
        let text = b"bills and payslips ".repeat(100);
        assert_eq!(decode(None, &text, 1 << 20).expect("identity"), text);
        assert_eq!(
            decode(Some("gzip"), &gzip(&text), 1 << 20).expect("gzip"),
            text
        );
        assert_eq!(
            decode(Some("X-GZIP"), &gzip(&text), 1 << 20).expect("x-gzip"),
            text
        );

        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(&text).expect("in memory");
        let zlib = zlib.finish().expect("in memory");
        assert_eq!(decode(Some("deflate"), &zlib, 1 << 20).expect("zlib"), text);

        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&text).expect("in memory");
        let raw = raw.finish().expect("in memory");
        assert_eq!(
            decode(Some("deflate"), &raw, 1 << 20).expect("raw deflate"),
            text
        );

        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &text[..], &mut br, &Default::default()).expect("in memory");
        assert_eq!(decode(Some("br"), &br, 1 << 20).expect("br"), text);
        assert_eq!(
            decode(Some("identity, br"), &br, 1 << 20).expect("br"),
            text
        );
    }

    #[test]
    fn bomb_stops_at_cap() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 << 10, "bomb is {} bytes", bomb.len());
        assert!(matches!(
            decode(Some("gzip"), &bomb, 1 << 20),
            Err(DecodeError::TooLarge)
        ));

        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &zeros[..], &mut br, &Default::default()).expect("in memory");
        assert!(matches!(
            decode(Some("br"), &br, 1 << 20),
            Err(DecodeError::TooLarge)
        ));
    }

    #[test]
    fn identity_over_cap() {
        assert!(matches!(
            decode(None, &[1u8; 100], 99),
            Err(DecodeError::TooLarge)
        ));
        assert_eq!(decode(None, &[1u8; 99], 99).expect("at cap").len(), 99);
    }

    #[test]
    fn invalid_bodies_rejected() {
        let text = b"some text that is long enough to be cut".repeat(10);
        let truncated = &gzip(&text)[..20];
        assert!(matches!(
            decode(Some("gzip"), truncated, 1 << 20),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(Some("gzip"), b"not gzip at all", 1 << 20),
            Err(DecodeError::Invalid(_))
        ));
        assert!(BodyDecoder::for_encoding(Some("zstd"), 10).is_err());
        assert!(BodyDecoder::for_encoding(Some("gzip, br"), 10).is_err());
    }
}
