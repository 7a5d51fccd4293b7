// The registry of modules, which both `require` (a global, for CommonJS
// code) and `import` (through the module loader of modules.rs) read.
//
// Built-in modules: a later file adds one with a single call,
//
//   internal.defineModule("name", exports);
//
// and the exports object is created at pre-initialisation, like everything
// here, so it must not read job data when it is built.
//
// Dependencies: the npm packages that `konnector build` bundles apart from
// the konnector's own code. Their bundle (dependencies.rs evaluates it)
// imports "konnector:dependencies" and calls `define(name, factory)` for
// each package name the konnector's code requires. A factory evaluates
// its package once, at the first `require` of that name. The runtime
// requires some ahead of time, before the snapshot of a konnector is taken.
(function (native, internal) {
  "use strict";

  const modules = new Map();
  // Bundled dependencies by name: {factory, loaded, exports}.
  const dependencies = new Map();
  // Whether the dependency bundle is being evaluated, the only time
  // `define` works.
  let defining = false;

  internal.defineModule = function defineModule(name, exports) {
    if (modules.has(name)) {
      throw new Error(`the built-in module "${name}" is already defined`);
    }
    modules.set(name, exports);
  };

  // Node.js modules that give access to the machine, which the sandbox
  // does not offer: no shim can stand in for them.
  const MACHINE_MODULES = new Set([
    "fs", "fs/promises", "child_process", "net", "tls", "dgram", "dns",
    "http", "https", "http2", "os", "cluster", "worker_threads", "vm",
  ]);

  function moduleNotFound(name) {
    const names = [...modules.keys()].join(", ");
    const bare = name.startsWith("node:") ? name.slice(5) : name;
    const reason = MACHINE_MODULES.has(bare)
      ? `it is a Node.js module that reaches the machine (files, sockets, processes), which the sandbox does not offer; use fetch and konnector:host instead. The built-in modules are ${names}`
      : `only the built-in modules (${names}) are available at run time, so npm dependencies must be bundled by "konnector build"`;
    const error = new Error(`cannot find module "${name}": ${reason}`);
    error.code = "MODULE_NOT_FOUND";
    return error;
  }

  // Returns the registered name of the module `name`: the name itself, or
  // a built-in's without its "node:" prefix, as Node.js names its modules
  // both ways.
  function registeredName(name) {
    if (modules.has(name) || dependencies.has(name)) {
      return name;
    }
    if (name.startsWith("node:") && modules.has(name.slice(5))) {
      return name.slice(5);
    }
    throw moduleNotFound(name);
  }

  // Returns the exports of the module `name`, evaluating a dependency at
  // its first require.
  function requireModule(name) {
    const registered = registeredName(name);
    const dependency = dependencies.get(registered);
    if (dependency === undefined) {
      return modules.get(registered);
    }
    if (!dependency.loaded) {
      dependency.exports = dependency.factory();
      dependency.loaded = true;
    }
    return dependency.exports;
  }

  internal.openDependencies = () => {
    defining = true;
  };
  internal.closeDependencies = () => {
    defining = false;
  };

  internal.defineModule(
    "konnector:dependencies",
    Object.freeze({
      define(name, factory) {
        if (!defining) {
          throw new Error(
            "konnector:dependencies: define works only in the dependency bundle that konnector build writes",
          );
        }
        if (typeof name !== "string" || typeof factory !== "function") {
          throw new TypeError("konnector:dependencies: define takes a name and a function");
        }
        // "node:" and "konnector:" names belong to the runtime: a package
        // defining "node:path" would take it over for `import` and
        // `require` of that name.
        if (name.startsWith("node:") || name.startsWith("konnector:")) {
          throw new Error(
            `konnector:dependencies: the name "${name}" is reserved for the runtime's built-in modules`,
          );
        }
        if (modules.has(name) || dependencies.has(name)) {
          throw new Error(`konnector:dependencies: the module "${name}" is already defined`);
        }
        dependencies.set(name, { factory, loaded: false, exports: undefined });
      },
    }),
  );

  // For the module loader: the name `import` resolves to, which is the
  // module's registered name.
  internal.resolveModule = registeredName;
  internal.requireModule = requireModule;

  internal.defineGlobal("require", function require(name) {
    if (typeof name !== "string") {
      throw new TypeError(
        `require: the module name must be a string, not ${typeof name}`,
      );
    }
    return requireModule(name);
  });
});
