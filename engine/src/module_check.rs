//! Checks on a module's bytes before wasmtime compiles them.
//!
//! Compilation runs before a job's limits apply and is cached per module,
//! so a module built to be slow to compile would cost the engine, not the
//! job. Cranelift's time grows with the nesting of blocks in a function
//! (about 6 s for 50,000 nested blocks on a 2-core machine), so deep
//! nesting and very large modules are refused up front.
//!
//! NOTE: these caps bound each function, not their number: a module of
//! [`MAX_MODULE_BYTES`] made of many deeply nested functions still takes
//! minutes to compile. Compiling under a time limit, away from the
//! engine's threads, would close that gap.

use wasmparser::{Operator, Parser, Payload};

/// Largest module accepted, in bytes. Default 32 MiB; a QuickJS runtime is
/// about 1 MiB, a Rust konnector a few hundred KiB.
pub const MAX_MODULE_BYTES: usize = 32 << 20;

/// Deepest nesting of blocks, loops and ifs accepted in one function.
/// A C `switch` with a few hundred cases, as in QuickJS's interpreter,
/// nests a few hundred blocks.
pub const MAX_BLOCK_NESTING: usize = 5_000;

/// Returns why the module must not be compiled, or `None`.
pub(crate) fn refusal(wasm: &[u8]) -> Option<String> {
    if wasm.len() > MAX_MODULE_BYTES {
        return Some(format!(
            "the module is {} bytes, more than the maximum of {MAX_MODULE_BYTES} bytes",
            wasm.len()
        ));
    }
    for (index, payload) in Parser::new(0).parse_all(wasm).enumerate() {
        // Malformed bytes are left to wasmtime, which names the problem.
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut reader) = body.get_operators_reader() else {
            continue;
        };
        let mut depth = 0usize;
        while !reader.eof() {
            match reader.read() {
                Ok(
                    Operator::Block { .. }
                    | Operator::Loop { .. }
                    | Operator::If { .. }
                    | Operator::TryTable { .. },
                ) => {
                    depth += 1;
                    if depth > MAX_BLOCK_NESTING {
                        return Some(format!(
                            "a function (payload {index}) nests blocks more than {MAX_BLOCK_NESTING} deep"
                        ));
                    }
                }
                Ok(Operator::End) => depth = depth.saturating_sub(1),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        let body = format!("{}{}", "(block ".repeat(depth), ")".repeat(depth));
        wat::parse_str(format!("(module (func {body}))")).expect("valid WAT")
    }

    #[test]
    fn shallow_module_passes() {
        assert_eq!(refusal(&nested(100)), None);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let reason = refusal(&nested(MAX_BLOCK_NESTING + 1)).expect("refused");
        assert!(reason.contains("nests blocks"), "{reason}");
    }

    #[test]
    fn huge_module_is_refused() {
        let reason = refusal(&vec![0; MAX_MODULE_BYTES + 1]).expect("refused");
        assert!(reason.contains("maximum"), "{reason}");
    }
}
