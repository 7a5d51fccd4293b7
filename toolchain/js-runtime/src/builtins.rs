//! The built-in JavaScript environment: `prelude.js` and the native
//! functions it wraps (log lines, base64, `Math.random`).

use std::cell::Cell;

use konnector_host_api::LogLevel;
use konnector_host_api::guest;
use rquickjs::{Ctx, Function, Object};

use crate::host;

const PRELUDE: &str = include_str!("prelude.js");

/// State of `Math.random` before [`reseed_random`] runs. It is a constant so
/// that pre-initialisation stays deterministic, and every job replaces it.
const UNSEEDED_RANDOM_STATE: u64 = 0x853c_49e6_748f_ea9b;

thread_local! {
    static RANDOM_STATE: Cell<u64> = const { Cell::new(UNSEEDED_RANDOM_STATE) };
}

/// Evaluates `prelude.js` with its native functions: `console`, `atob`,
/// `btoa` and `Math.random`.
pub fn install(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let native = Object::new(ctx.clone())?;
    native.set("log", Function::new(ctx.clone(), log)?.with_name("log")?)?;
    native.set(
        "decodeBase64",
        Function::new(ctx.clone(), |data: String| decode_base64(&data))?,
    )?;
    native.set(
        "encodeBase64",
        Function::new(ctx.clone(), |data: String| encode_base64(&data))?,
    )?;
    native.set(
        "random",
        Function::new(ctx.clone(), next_random)?.with_name("random")?,
    )?;

    let prelude: Function = ctx.eval(PRELUDE)?;
    prelude.call::<_, ()>((native,))
}

/// Seeds `Math.random` from WASI's `random_get`, so that every job gets its
/// own sequence even though all of them start from the same snapshot.
pub fn reseed_random() -> Result<(), String> {
    let mut seed = [0; 8];
    host::random_bytes(&mut seed)?;
    // xorshift64* stays at zero forever from a zero state.
    let state = u64::from_le_bytes(seed).max(1);
    RANDOM_STATE.with(|cell| cell.set(state));
    Ok(())
}

fn log(level: i32, message: String) {
    let level = LogLevel::from_raw(level).unwrap_or(LogLevel::Info);
    guest::log(level, &message);
}

/// Returns the next `Math.random` number in [0, 1), from the same
/// xorshift64* generator as QuickJS's own `Math.random`.
fn next_random() -> f64 {
    RANDOM_STATE.with(|cell| {
        let mut x = cell.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cell.set(x);
        let value = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // 52 random bits as the mantissa of a number in [1, 2).
        f64::from_bits((value >> 12) | (0x3ff << 52)) - 1.0
    })
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
