//! Random numbers: `Math.random`, reseeded at the start of every job, and
//! the bytes of `crypto.getRandomValues`, read from WASI's `random_get` at
//! each call.

use std::cell::Cell;

use rquickjs::{Ctx, Function, Object, TypedArray};

use crate::{dependencies, error, host};

/// Largest number of bytes one `randomBytes` call returns: the limit of
/// `crypto.getRandomValues`, 64 KiB.
const MAX_RANDOM_BYTES: usize = 65_536;

/// State of `Math.random` before [`reseed_random`] runs. It is a constant so
/// that pre-initialisation stays deterministic, and every job replaces it.
const UNSEEDED_RANDOM_STATE: u64 = 0x853c_49e6_748f_ea9b;

thread_local! {
    static RANDOM_STATE: Cell<u64> = const { Cell::new(UNSEEDED_RANDOM_STATE) };
}

/// Adds `random` (`Math.random`) and `randomBytes` to the native functions.
pub fn register<'js>(ctx: &Ctx<'js>, native: &Object<'js>) -> rquickjs::Result<()> {
    native.set(
        "random",
        Function::new(ctx.clone(), next_random)?.with_name("random")?,
    )?;
    native.set("randomBytes", Function::new(ctx.clone(), random_bytes)?)?;
    Ok(())
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

/// Returns the next `Math.random` number in [0, 1), from the same
/// xorshift64* generator as QuickJS's own `Math.random`.
fn next_random() -> f64 {
    // A value drawn now would be the same in every job of the snapshot.
    if dependencies::preloading() {
        dependencies::refuse("Math.random");
    }
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

/// Returns a `Uint8Array` of `count` bytes from WASI's `random_get`.
fn random_bytes(ctx: Ctx<'_>, count: usize) -> rquickjs::Result<TypedArray<'_, u8>> {
    if count > MAX_RANDOM_BYTES {
        let message =
            format!("{count} random bytes requested, more than the maximum of {MAX_RANDOM_BYTES}");
        return Err(error::throw(&ctx, "RangeError", &message, None));
    }
    let mut bytes = vec![0; count];
    if let Err(message) = host::random_bytes(&mut bytes) {
        return Err(error::throw(&ctx, "Error", &message, None));
    }
    TypedArray::new(ctx, bytes)
}
