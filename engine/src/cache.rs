//! Content-addressed cache of modules the engine compiled, in memory and on
//! disk.
//!
//! A module is keyed by the SHA-256 of its WebAssembly bytes and by the
//! engine's compilation settings (`Engine::precompile_compatibility_hash`),
//! so a cache shared by engines with different settings never mixes their
//! code. Only files this cache wrote itself are ever deserialized: the bytes
//! a konnector ships are always compiled, never loaded as native code.
//!
//! NOTE: the cache folder must be writable only by the engine's user. A file
//! placed there by someone else would be loaded as native code; wasmtime checks
//! its header and version, not its origin.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// Modules compiled by one engine.
pub(crate) struct ModuleCache {
    dir: Option<PathBuf>,
    settings_hash: String,
    modules: Mutex<HashMap<[u8; 32], Module>>,
}

/// Origin of a compiled module, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSource {
    /// Already compiled in this process.
    Memory,
    /// Loaded from the on-disk cache.
    Disk,
    /// Compiled now.
    Compiled,
}

impl ModuleCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> ModuleCache {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ModuleCache {
            dir,
            settings_hash: format!("{:016x}", hasher.finish()),
            modules: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the compiled module for `wasm`, compiling it at most once per
    /// process and once per cache folder.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Module, [u8; 32], CacheSource)> {
        let digest: [u8; 32] = Sha256::digest(wasm).into();
        if let Some(module) = self.lock().get(&digest) {
            return Ok((module.clone(), digest, CacheSource::Memory));
        }

        let path = self.dir.as_ref().map(|dir| self.file_path(dir, &digest));
        let mut source = CacheSource::Compiled;
        let mut module = None;
        if let Some(path) = path.as_deref().filter(|path| path.exists()) {
            // SAFETY: the file was written by `store_on_disk` from
            // `Module::serialize` of a module this cache compiled with the
            // same engine settings (the settings hash is in its name); see
            // the module header for the assumption about the folder.
            match unsafe { Module::deserialize_file(engine, path) } {
                Ok(loaded) => {
                    module = Some(loaded);
                    source = CacheSource::Disk;
                }
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    %error,
                    "failed to load cached module; compiling again"
                ),
            }
        }
        let module = match module {
            Some(module) => module,
            None => {
                // Checked only before compiling: cached modules passed already.
                if let Some(reason) = crate::module_check::refusal(wasm) {
                    return Err(wasmtime::Error::msg(reason));
                }
                let module = Module::new(engine, wasm)?;
                if let Some(path) = &path
                    && let Err(error) = store_on_disk(&module, path)
                {
                    tracing::warn!(path = %path.display(), %error, "failed to cache compiled module");
                }
                module
            }
        };
        self.lock().insert(digest, module.clone());
        Ok((module, digest, source))
    }

    /// Returns the module compiled from the WebAssembly bytes whose SHA-256
    /// is `digest`, from memory or from the cache folder, without the bytes.
    /// Returns `None` when neither has it.
    pub(crate) fn get_compiled(
        &self,
        engine: &Engine,
        digest: &[u8; 32],
    ) -> Option<(Module, CacheSource)> {
        if let Some(module) = self.lock().get(digest) {
            return Some((module.clone(), CacheSource::Memory));
        }
        let path = self.file_path(self.dir.as_ref()?, digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: as in `get_or_compile`, the file was written by
        // `store_on_disk` for these engine settings.
        match unsafe { Module::deserialize_file(engine, &path) } {
            Ok(module) => {
                self.lock().insert(*digest, module.clone());
                Some((module, CacheSource::Disk))
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "failed to load cached module");
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Module>> {
        self.modules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn file_path(&self, dir: &Path, digest: &[u8; 32]) -> PathBuf {
        dir.join(format!(
            "{}-{}.cwasm",
            hex::encode(digest),
            self.settings_hash
        ))
    }
}

/// Writes the module next to its final name and renames it into place, so a
/// reader never sees half a file.
fn store_on_disk(module: &Module, path: &Path) -> std::io::Result<()> {
    let bytes = module.serialize().map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("module"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = r#"(module (func (export "_start")))"#;

    #[test]
    fn compiled_once_then_loaded_from_disk() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().expect("temporary folder");
        let wasm = wat::parse_str(MODULE).expect("valid WAT");

        let first = ModuleCache::new(&engine, Some(dir.path().to_owned()));
        let (_, digest, source) = first.get_or_compile(&engine, &wasm).expect("compiles");
        assert_eq!(source, CacheSource::Compiled);
        let (_, _, source) = first.get_or_compile(&engine, &wasm).expect("cached");
        assert_eq!(source, CacheSource::Memory);

        // A new cache on the same folder, as in a new process.
        let second = ModuleCache::new(&engine, Some(dir.path().to_owned()));
        let (_, same_digest, source) = second.get_or_compile(&engine, &wasm).expect("loads");
        assert_eq!(source, CacheSource::Disk);
        assert_eq!(digest, same_digest);
    }

    #[test]
    fn corrupt_cache_file_is_compiled_again() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().expect("temporary folder");
        let wasm = wat::parse_str(MODULE).expect("valid WAT");
        let cache = ModuleCache::new(&engine, Some(dir.path().to_owned()));
        cache.get_or_compile(&engine, &wasm).expect("compiles");
        for entry in std::fs::read_dir(dir.path()).expect("read cache") {
            std::fs::write(entry.expect("entry").path(), b"not a module").expect("corrupt");
        }

        let fresh = ModuleCache::new(&engine, Some(dir.path().to_owned()));
        let (_, _, source) = fresh
            .get_or_compile(&engine, &wasm)
            .expect("compiles again");
        assert_eq!(source, CacheSource::Compiled);
    }

    #[test]
    fn different_bytes_get_different_files() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().expect("temporary folder");
        let cache = ModuleCache::new(&engine, Some(dir.path().to_owned()));
        let one = wat::parse_str(MODULE).expect("valid WAT");
        let two = wat::parse_str(r#"(module (func (export "_start") nop))"#).expect("valid WAT");
        cache.get_or_compile(&engine, &one).expect("compiles");
        cache.get_or_compile(&engine, &two).expect("compiles");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("read cache").count(),
            2
        );
    }
}
