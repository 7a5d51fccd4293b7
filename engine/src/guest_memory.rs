//! Bounds-checked access to a guest's linear memory from host functions.
//!
//! Every `(ptr, len)` pair a guest passes is checked against the memory's
//! current size and copied out once; host code never keeps a reference into
//! guest memory across an `.await`, so a guest cannot change bytes after the
//! host has checked them.

use wasmtime::{Caller, Extern, Memory};

/// Error reading or writing a guest range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// The module exports no memory named `memory`.
    #[error("the module exports no memory named \"memory\"")]
    NoMemory,
    /// A pointer or length is negative when read as a signed value, or the
    /// range passes the end of memory.
    #[error("range at offset {ptr} of {len} bytes is outside guest memory of {size} bytes")]
    OutOfBounds {
        /// Offset given by the guest.
        ptr: u32,
        /// Length given by the guest.
        len: u32,
        /// Memory size at the time of the call.
        size: usize,
    },
    /// The range is longer than the host function accepts.
    #[error("{what} of {len} bytes is over the maximum of {max} bytes")]
    TooLong {
        /// Name of the range's contents, such as `request`.
        what: &'static str,
        /// Length given by the guest.
        len: u32,
        /// Maximum accepted.
        max: usize,
    },
}

fn memory<T>(caller: &mut Caller<'_, T>) -> Result<Memory, MemoryError> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(MemoryError::NoMemory),
    }
}

/// Checks `ptr..ptr+len` against a memory of `size` bytes. Guest `i32`s are
/// reinterpreted as `u32`, as WebAssembly addresses are unsigned.
fn checked_range(ptr: i32, len: i32, size: usize) -> Result<std::ops::Range<usize>, MemoryError> {
    let (ptr, len) = (ptr as u32, len as u32);
    let start = ptr as usize;
    let end = start.checked_add(len as usize);
    match end {
        Some(end) if end <= size => Ok(start..end),
        _ => Err(MemoryError::OutOfBounds { ptr, len, size }),
    }
}

/// Copies `len` bytes at `ptr` out of guest memory; fails if the range is
/// outside memory or longer than `max` bytes.
pub(crate) fn read<T>(
    caller: &mut Caller<'_, T>,
    ptr: i32,
    len: i32,
    max: usize,
    what: &'static str,
) -> Result<Vec<u8>, MemoryError> {
    let memory = memory(caller)?;
    let data = memory.data(&*caller);
    let range = checked_range(ptr, len, data.len())?;
    if range.len() > max {
        return Err(MemoryError::TooLong {
            what,
            len: len as u32,
            max,
        });
    }
    Ok(data[range].to_vec())
}

/// Copies at most the first `keep` bytes of the range at `ptr`, after
/// checking the whole range; returns them and how many bytes were left out.
pub(crate) fn read_prefix<T>(
    caller: &mut Caller<'_, T>,
    ptr: i32,
    len: i32,
    keep: usize,
) -> Result<(Vec<u8>, u64), MemoryError> {
    let memory = memory(caller)?;
    let data = memory.data(&*caller);
    let range = checked_range(ptr, len, data.len())?;
    let kept = range.len().min(keep);
    let left_out = (range.len() - kept) as u64;
    Ok((data[range.start..range.start + kept].to_vec(), left_out))
}

/// Copies `bytes` into guest memory at `ptr`.
pub(crate) fn write<T>(
    caller: &mut Caller<'_, T>,
    ptr: i32,
    bytes: &[u8],
) -> Result<(), MemoryError> {
    let memory = memory(caller)?;
    let data = memory.data_mut(&mut *caller);
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    let range = checked_range(ptr, len, data.len())?;
    data[range].copy_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_inside_memory() {
        assert_eq!(checked_range(0, 0, 0), Ok(0..0));
        assert_eq!(checked_range(10, 6, 16), Ok(10..16));
        assert_eq!(checked_range(16, 0, 16), Ok(16..16));
    }

    #[test]
    fn ranges_outside_memory() {
        assert!(checked_range(10, 7, 16).is_err());
        assert!(checked_range(17, 0, 16).is_err());
        // Negative i32 values are huge u32 offsets, never negative indices.
        assert!(checked_range(-1, 1, 65536).is_err());
        assert!(checked_range(1, -1, 65536).is_err());
        assert!(checked_range(i32::MAX, i32::MAX, usize::MAX >> 1).is_ok());
    }
}
