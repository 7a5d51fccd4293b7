//! Base64 for `atob` and `btoa`.

use rquickjs::{Ctx, Function, Object};

/// Adds `decodeBase64` and `encodeBase64` to the native functions.
pub fn register<'js>(ctx: &Ctx<'js>, native: &Object<'js>) -> rquickjs::Result<()> {
    native.set(
        "decodeBase64",
        Function::new(ctx.clone(), |data: String| decode_base64(&data))?,
    )?;
    native.set(
        "encodeBase64",
        Function::new(ctx.clone(), |data: String| encode_base64(&data))?,
    )?;
    Ok(())
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes base64 the way the HTML standard's `atob` does ("forgiving-base64
/// decode"): ASCII whitespace is ignored, padding is optional, and each byte
/// becomes one character U+0000 to U+00FF. Returns `None` for invalid input.
fn decode_base64(data: &str) -> Option<String> {
    let mut symbols: Vec<u8> = data
        .bytes()
        .filter(|byte| !matches!(byte, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .collect();
    if symbols.len().is_multiple_of(4) {
        if symbols.ends_with(b"==") {
            symbols.truncate(symbols.len() - 2);
        } else if symbols.ends_with(b"=") {
            symbols.truncate(symbols.len() - 1);
        }
    }
    if symbols.len() % 4 == 1 {
        return None;
    }

    let mut decoded = String::with_capacity(symbols.len() / 4 * 3 + 2);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for symbol in symbols {
        let value = BASE64_ALPHABET.iter().position(|&c| c == symbol)?;
        bits = (bits << 6) | value as u32;
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            decoded.push(char::from((bits >> bit_count) as u8));
        }
    }
    // Leftover bits (fewer than 8) are discarded, as the standard says.
    Some(decoded)
}

/// Encodes a string of characters U+0000 to U+00FF as base64, as `btoa`
/// does. Returns `None` when a character is outside that range.
fn encode_base64(data: &str) -> Option<String> {
    let bytes: Vec<u8> = data
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<_>>()?;
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (i, &byte)| {
            group | u32::from(byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (group >> (18 - 6 * i)) & 0x3f;
                encoded.push(char::from(BASE64_ALPHABET[index as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    Some(encoded)
}
