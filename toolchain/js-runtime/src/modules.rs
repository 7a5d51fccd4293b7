//! ES module imports of the built-in modules.
//!
//! `prelude/modules.js` keeps the registry of built-in modules, which
//! `require` reads. The module loader here serves `import` from the same
//! registry, and a name the registry lacks fails with the registry's error.
//! A registered name becomes a native module. Its default export is the
//! module's exports object, and its named exports are that object's own
//! enumerable properties, as when Node.js imports a CommonJS module into an
//! ES module.
//!
//! QuickJS resolves a module's imports when it compiles it, so an unknown
//! module fails `konnector build` already.

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::{Declarations, Declared, Exports, ModuleDef};
use rquickjs::{Ctx, Module, Object, Runtime, Value};

use crate::builtins;

/// Installs the module loader on `runtime`.
pub fn install(runtime: &Runtime) {
    runtime.set_loader(BuiltinResolver, BuiltinLoader);
}

/// Accepts the names of the registry, and throws the registry's error for
/// any other (relative paths and npm packages included).
struct BuiltinResolver;

impl Resolver for BuiltinResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        _base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        builtins::internal_function(ctx, "resolveModule")?.call((name,))
    }
}

/// Declares a resolved name as a [`BuiltinModule`].
struct BuiltinLoader;

impl Loader for BuiltinLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        Module::declare_def::<BuiltinModule, _>(ctx.clone(), name)
    }
}

/// A built-in module seen from `import`. QuickJS gives its declaration and
/// evaluation the module's name, from which both read the exports object.
struct BuiltinModule;

impl ModuleDef for BuiltinModule {
    fn declare<'js>(declarations: &Declarations<'js>) -> rquickjs::Result<()> {
        let module = declarations.module();
        let exports = exports_of(module.ctx(), &module.name::<String>()?)?;
        declarations.declare("default")?;
        for name in exports.keys::<String>() {
            let name = name?;
            if name != "default" {
                declarations.declare(name)?;
            }
        }
        Ok(())
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> rquickjs::Result<()> {
        let object = exports_of(ctx, &exports.module().name::<String>()?)?;
        exports.export("default", object.clone())?;
        for name in object.keys::<String>() {
            let name = name?;
            if name != "default" {
                let value: Value = object.get(&name)?;
                exports.export(name, value)?;
            }
        }
        Ok(())
    }
}

/// Returns the exports object of the built-in module `name`.
fn exports_of<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Object<'js>> {
    builtins::internal_function(ctx, "requireModule")?.call((name,))
}
