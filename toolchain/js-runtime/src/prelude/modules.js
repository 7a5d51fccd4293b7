// The registry of built-in modules, which both `require` (a global, for
// CommonJS code) and `import` (through the module loader of modules.rs)
// read. A later file adds a module with one call:
//
//   internal.defineModule("name", exports);
//
// The exports object is created at pre-initialisation, like everything
// here, so it must not read job data when it is built. Only built-in
// modules exist at run time: npm dependencies are bundled into the
// konnector by `konnector build`.
(function (native, internal) {
  "use strict";

  const modules = new Map();

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

  // Returns the registered name of the built-in module `name`: the name
  // itself, or without its "node:" prefix, as Node.js names its modules
  // both ways.
  function registeredName(name) {
    if (modules.has(name)) {
      return name;
    }
    if (name.startsWith("node:") && modules.has(name.slice(5))) {
      return name.slice(5);
    }
    throw moduleNotFound(name);
  }

  // Returns the exports of the built-in module `name`.
  function requireModule(name) {
    return modules.get(registeredName(name));
  }

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
