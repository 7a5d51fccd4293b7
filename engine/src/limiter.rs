//! The store's `ResourceLimiter`: memory, table and instance caps, and the
//! peak memory counter.

use wasmtime::ResourceLimiter;

/// Enforces a job's memory, table and instance limits and records what it
/// reached.
pub(crate) struct JobLimiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    /// Largest memory size allowed so far, in bytes.
    pub(crate) peak_memory_bytes: usize,
    /// Whether a `memory.grow` (or the initial memory) was denied.
    pub(crate) memory_denied: bool,
    /// Whether a `table.grow` (or an initial table) was denied.
    pub(crate) table_denied: bool,
}

impl JobLimiter {
    pub(crate) fn new(memory_bytes: u64, table_elements: u64, instances: u64) -> JobLimiter {
        JobLimiter {
            memory_bytes: usize::try_from(memory_bytes).unwrap_or(usize::MAX),
            table_elements: usize::try_from(table_elements).unwrap_or(usize::MAX),
            instances: usize::try_from(instances).unwrap_or(usize::MAX),
            peak_memory_bytes: 0,
            memory_denied: false,
            table_denied: false,
        }
    }
}

impl ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Returning false makes `memory.grow` return -1 to the guest, which
        // a well-written guest can handle; the outcome shows whether it did.
        if desired > self.memory_bytes {
            self.memory_denied = true;
            return Ok(false);
        }
        self.peak_memory_bytes = self.peak_memory_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.table_denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        // One table per instance is what WASI commands produced by Rust,
        // C and QuickJS builds have.
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}
