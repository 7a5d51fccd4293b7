//! UTF-8 encoding and decoding for `TextEncoder` and `TextDecoder`.
//!
//! Strings reach these functions well-formed: `prelude/encoding.js`
//! replaces lone surrogates with U+FFFD first, as WebIDL's `USVString`
//! conversion does, because rquickjs cannot turn them into a Rust `String`.

use rquickjs::{Ctx, Function, Object, TypedArray};

use crate::error;

/// UTF-8 byte order mark, which decoding removes unless `ignoreBOM` is set.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Adds `utf8Encode`, `utf8EncodeInto` and `utf8Decode` to the native
/// functions.
pub fn register<'js>(ctx: &Ctx<'js>, native: &Object<'js>) -> rquickjs::Result<()> {
    native.set("utf8Encode", Function::new(ctx.clone(), encode)?)?;
    native.set("utf8EncodeInto", Function::new(ctx.clone(), encode_into)?)?;
    native.set("utf8Decode", Function::new(ctx.clone(), decode)?)?;
    Ok(())
}

/// Returns the UTF-8 bytes of `text` as a `Uint8Array`.
fn encode(ctx: Ctx<'_>, text: String) -> rquickjs::Result<TypedArray<'_, u8>> {
    TypedArray::new(ctx, text.into_bytes())
}

/// Writes the UTF-8 bytes of as many whole characters of `text` as fit into
/// `destination`, and returns `[read, written]`: the UTF-16 code units read
/// and the bytes written, as `TextEncoder.encodeInto` does.
fn encode_into(text: String, destination: TypedArray<'_, u8>) -> Vec<u32> {
    let Some(raw) = destination.as_raw() else {
        // A detached buffer has no room.
        return vec![0, 0];
    };
    // SAFETY: `raw` is the typed array's view of its buffer. No JavaScript
    // runs while `buffer` lives, so the buffer can be neither detached nor
    // resized, and nothing else reads or writes it meanwhile.
    let buffer = unsafe { &mut *raw.as_ptr() };
    let mut read = 0usize;
    let mut written = 0usize;
    for character in text.chars() {
        let size = character.len_utf8();
        let Some(slot) = buffer.get_mut(written..written + size) else {
            break;
        };
        character.encode_utf8(slot);
        written += size;
        read += character.len_utf16();
    }
    // Typed arrays are shorter than 4 GiB in a 32-bit memory.
    vec![read as u32, written as u32]
}

/// Decodes the UTF-8 bytes of `bytes`. Invalid sequences become U+FFFD, or
/// throw a `TypeError` when `fatal` is set. A leading byte order mark is
/// removed unless `ignore_bom` is set.
fn decode<'js>(
    ctx: Ctx<'js>,
    bytes: TypedArray<'js, u8>,
    fatal: bool,
    ignore_bom: bool,
) -> rquickjs::Result<rquickjs::String<'js>> {
    // SAFETY: no JavaScript runs while `slice` lives: the text is copied
    // into a new string before this function returns.
    let slice = unsafe { bytes.as_bytes() }.unwrap_or_default();
    let slice = match slice.strip_prefix(BOM) {
        Some(rest) if !ignore_bom => rest,
        _ => slice,
    };
    if fatal {
        match std::str::from_utf8(slice) {
            Ok(text) => rquickjs::String::from_str(ctx, text),
            Err(utf8_error) => {
                let message = format!(
                    "failed to decode UTF-8: invalid byte sequence at offset {}",
                    utf8_error.valid_up_to()
                );
                Err(error::throw(&ctx, "TypeError", &message, None))
            }
        }
    } else {
        rquickjs::String::from_str(ctx, &String::from_utf8_lossy(slice))
    }
}
