// Bundles a konnector with esbuild's JavaScript API: its own code into one
// ES module, and the npm packages that code imports into a second ES
// module, the dependency bundle.
//
// Usage: node bundle.mjs DIR ENTRY [OPTIONS]
//
// DIR is the konnector's folder (absolute) and ENTRY the entry file relative
// to it. OPTIONS is a JSON object:
//
//   {"libsDir": PATH or null, "modulesDir": PATH or null}
//
// libsDir is the engine's cozy-konnector-libs (toolchain/konnector-libs),
// which every import of "cozy-konnector-libs" gets; null leaves that name to
// the usual resolution. modulesDir is the folder whose node_modules the
// konnector's own bare imports, and the libs' "cheerio", resolve from: DIR
// itself (the default), the staging folder DIR/build/npm, or null when no
// dependency is installed. A bare import of the konnector that modulesDir
// does not resolve is an error, and so is the libs' "cheerio" with no
// modulesDir to look in, which gets a stand-in module instead (see
// toolchain/konnector-libs/lib/cheerio.js).
//
// The split. The konnector's own files are those outside node_modules and
// libsDir. Each of their bare imports of a package, "cozy-konnector-libs"
// included, becomes a call of the runtime's global `require(NAME)` at run
// time. NAME is the name as written, subpath included (such as
// "moment/locale/fr"). The dependency bundle defines each NAME:
//
//   import { define } from "konnector:dependencies";
//   define(NAME, () => require(RESOLVED_PATH));
//
// and esbuild wraps every package in it so that it is evaluated at its
// first require, not when the bundle is. The libs' own bare imports of
// packages ("cheerio") become NAMEs too, so that each can be evaluated on
// its own. An import of a package that is an ES module goes through a
// small ES module that re-exports it, so that its default export is the
// package's default export, as when the package was bundled with the
// importer.
//
// On success or on build errors, the script writes one JSON object to
// standard output and exits with status 0:
//
//   {"errors": [DIAGNOSTIC], "warnings": [DIAGNOSTIC], "inputs": [PATH],
//    "output": SOURCE,
//    "dependencies": null or {"names": [NAME], "inputs": [PATH],
//                             "output": SOURCE}}
//
// where DIAGNOSTIC is {"file": PATH or null, "line": N, "column": N,
// "text": MESSAGE} with 1-based lines and 1-based columns counted in Unicode
// code points, PATH is relative to DIR, and "output" is the konnector's own
// bundle, or null when there are errors. "dependencies" is null when the
// konnector's own files import no package. Its "names" are in the order
// their first imports come in the konnector's bundle (the order of the
// sources, depth first from the entry), then the names the libs import.
// The inputs of libsDir are named "konnector-libs:PATH", with PATH
// relative to libsDir, and the stand-in for a missing cheerio
// "konnector-libs-missing:cheerio". On any other failure, such as a wrong
// argument or a Node.js older than 18, it writes a message to standard
// error and exits with a non-zero status.
//
// The options match what the konnector runtime offers: ES modules for
// QuickJS-ng (ES2023), Node.js built-in modules left as imports that the
// runtime's `require` resolves, and the runtime's own `konnector:*` modules
// left external.

const MINIMUM_NODE_MAJOR = 18;

const nodeMajor = Number(process.versions.node.split(".")[0]);
if (nodeMajor < MINIMUM_NODE_MAJOR) {
  console.error(
    `Node.js ${process.versions.node} is too old to run esbuild; install Node.js ${MINIMUM_NODE_MAJOR} or later`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length !== 2 && args.length !== 3) {
  console.error("usage: node bundle.mjs DIR ENTRY [OPTIONS]");
  process.exit(2);
}
const [dir, entry, optionsText] = args;
const { libsDir = null, modulesDir = dir } = JSON.parse(optionsText ?? "{}");

// Imported only once the Node.js version is known to be supported.
const esbuild = await import("esbuild");
const path = await import("node:path");
const { builtinModules } = await import("node:module");

const LIBS_PACKAGE = "cozy-konnector-libs";
// The namespace of stand-ins for packages that the libs need and the
// konnector lacks.
const MISSING_NAMESPACE = "konnector-libs-missing";
// The own property of a stand-in's exports that the libs check; the same
// name as MISSING_MARKER in toolchain/konnector-libs/lib/cheerio.js.
const MISSING_MARKER = "konnectorLibsMissingModule";
// The namespace of the CommonJS modules that stand for a dependency in the
// konnector's bundle: `module.exports = globalThis.require(NAME)`.
const BRIDGE_NAMESPACE = "konnector-dependency";
// The namespace of the ES modules that re-export a bridge, for imports of
// a dependency that is an ES module.
const MODULE_BRIDGE_NAMESPACE = "konnector-dependency-module";
// The namespace and file name of the dependency bundle's entry, as stack
// traces and errors show it.
const ENTRY_NAMESPACE = "konnector-dependencies";
const ENTRY_NAME = "dependencies.js";
// Import kinds that become a run-time `require` of a dependency. Others
// (`require.resolve`) keep esbuild's own handling.
const BRIDGED_KINDS = new Set(["import-statement", "require-call", "dynamic-import"]);
const VIRTUAL_NAMESPACES = [BRIDGE_NAMESPACE, MODULE_BRIDGE_NAMESPACE, ENTRY_NAMESPACE];

function isInside(file, folder) {
  const relative = path.relative(folder, file);
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative);
}

function isBuiltin(name) {
  return name.startsWith("node:") || builtinModules.includes(name);
}

function isFromLibs(importer) {
  return libsDir !== null && isInside(importer, libsDir);
}

function error(text) {
  return { errors: [{ text }] };
}

function notInstalled(name) {
  return error(
    `Could not resolve "${name}": it is not among the konnector's installed dependencies; add it to "dependencies" in package.json`,
  );
}

// Resolves a bare import of a file that counts as the konnector's own, or
// of the dependency bundle's entry: "cozy-konnector-libs" to libsDir, and
// other names from modulesDir. Returns an onResolve result.
async function resolveAsKonnector(build, args) {
  if (libsDir !== null && (args.path === LIBS_PACKAGE || args.path.startsWith(`${LIBS_PACKAGE}/`))) {
    if (args.path === LIBS_PACKAGE) {
      return { path: path.join(libsDir, "index.js") };
    }
    return error(
      `"${args.path}" is not provided: the konnector engine has its own cozy-konnector-libs, so require "${LIBS_PACKAGE}" itself`,
    );
  }
  // A konnector installed in its own folder resolves as usual, from the
  // importing file's folder.
  const usual = modulesDir === dir;
  const resolveDir = usual ? args.resolveDir : modulesDir;
  if (resolveDir === null) {
    return notInstalled(args.path);
  }
  const result = await build.resolve(args.path, {
    kind: args.kind,
    importer: args.importer,
    resolveDir,
    pluginData: { fromKonnectorPlugin: true },
  });
  if (usual && result.errors.length > 0) {
    return { errors: result.errors };
  }
  if (result.errors.length === 0 && (usual || result.external || isInside(result.path, modulesDir))) {
    return {
      path: result.path,
      external: result.external,
      namespace: result.namespace,
      sideEffects: result.sideEffects,
    };
  }
  return notInstalled(args.path);
}

// The dependencies that a build found: for each name, the paths its
// imports resolved to, by import kind.
class Dependencies {
  constructor() {
    this.found = new Map();
  }

  add(name, kind, resolvedPath) {
    let entry = this.found.get(name);
    if (entry === undefined) {
      entry = { paths: new Set(), kinds: new Set() };
      this.found.set(name, entry);
    }
    // A `require` resolves with the "require" condition of a package's
    // exports, which the dependency bundle's own `require` should use.
    entry.paths.add(`${kind === "require-call" ? 0 : 1}\n${resolvedPath}`);
    entry.kinds.add(kind);
  }

  // Returns the path that the dependency bundle requires for `name`: the
  // path of a `require` when there is one, the smallest path first, so
  // that the choice does not depend on the order esbuild resolved them in.
  pathOf(name) {
    const [first] = [...this.found.get(name).paths].sort();
    return first.slice(first.indexOf("\n") + 1);
  }

  importedAsModule(name) {
    const kinds = this.found.get(name)?.kinds ?? new Set();
    return kinds.has("import-statement") || kinds.has("dynamic-import");
  }
}

// Makes the plugin of a build.
//
// The konnector's build (`dependencies` is null) turns the bare imports of
// its own files into bridges and records them in `found`. `moduleNames`
// are the dependencies that are ES modules. The dependency bundle's build
// (`dependencies` maps each name to its path) bundles them. It also turns
// the libs' imports of packages into bridges, recorded in `found`.
function konnectorPlugin({ dependencies = null, moduleNames = new Set(), found }) {
  const splitting = dependencies === null;
  return {
    name: "konnector",
    setup(build) {
      build.onResolve({ filter: /.*/, namespace: MODULE_BRIDGE_NAMESPACE }, (args) => ({
        path: args.path,
        namespace: BRIDGE_NAMESPACE,
      }));

      if (!splitting) {
        build.onResolve({ filter: new RegExp(`^${ENTRY_NAMESPACE}:`) }, () => ({
          path: ENTRY_NAME,
          namespace: ENTRY_NAMESPACE,
        }));
        build.onLoad({ filter: /.*/, namespace: ENTRY_NAMESPACE }, () => ({
          contents: dependencyEntry(dependencies),
          loader: "js",
          resolveDir: dir,
        }));
      }

      build.onResolve({ filter: /^[^./#]/ }, async (args) => {
        if (args.pluginData?.fromKonnectorPlugin) {
          return undefined;
        }
        if (isBuiltin(args.path) || args.path.startsWith("konnector:")) {
          return undefined;
        }
        if (args.namespace !== "file") {
          return undefined;
        }
        const fromLibs = isFromLibs(args.importer);
        const own = !fromLibs && !args.importer.split(path.sep).includes("node_modules");

        if (splitting && own && BRIDGED_KINDS.has(args.kind)) {
          const result = await resolveAsKonnector(build, args);
          if (result.errors || result.external) {
            return result;
          }
          found.add(args.path, args.kind, result.path);
          const module = args.kind !== "require-call" && moduleNames.has(args.path);
          return {
            path: args.path,
            namespace: module ? MODULE_BRIDGE_NAMESPACE : BRIDGE_NAMESPACE,
          };
        }

        if (args.path === LIBS_PACKAGE || args.path.startsWith(`${LIBS_PACKAGE}/`)) {
          return libsDir === null ? undefined : resolveAsKonnector(build, args);
        }
        // Imports from packages, and from a konnector installed in its own
        // folder, resolve as usual.
        if (!fromLibs && !(own && modulesDir !== dir)) {
          return undefined;
        }
        if (!fromLibs) {
          return resolveAsKonnector(build, args);
        }

        // The libs' imports of the konnector's packages.
        if (modulesDir !== null) {
          const result = await build.resolve(args.path, {
            kind: args.kind,
            importer: args.importer,
            resolveDir: modulesDir,
            pluginData: { fromKonnectorPlugin: true },
          });
          if (result.errors.length === 0 && (result.external || isInside(result.path, modulesDir))) {
            if (result.external || splitting || !BRIDGED_KINDS.has(args.kind)) {
              return {
                path: result.path,
                external: result.external,
                namespace: result.namespace,
                sideEffects: result.sideEffects,
              };
            }
            found.add(args.path, args.kind, result.path);
            return { path: args.path, namespace: BRIDGE_NAMESPACE };
          }
        }
        if (args.path === "cheerio") {
          return { path: "cheerio", namespace: MISSING_NAMESPACE };
        }
        return notInstalled(args.path);
      });

      build.onLoad({ filter: /.*/, namespace: BRIDGE_NAMESPACE }, (args) => ({
        contents: `module.exports = globalThis.require(${JSON.stringify(args.path)});\n`,
        loader: "js",
      }));
      build.onLoad({ filter: /.*/, namespace: MODULE_BRIDGE_NAMESPACE }, (args) => {
        const name = JSON.stringify(args.path);
        return {
          contents: `export * from ${name};\nexport { default } from ${name};\n`,
          loader: "js",
        };
      });
      build.onLoad({ filter: /.*/, namespace: MISSING_NAMESPACE }, (args) => ({
        contents: `module.exports = { ${MISSING_MARKER}: ${JSON.stringify(args.path)} };`,
        loader: "js",
      }));
    },
  };
}

// Returns the source of the dependency bundle's entry.
function dependencyEntry(dependencies) {
  const lines = [
    "// The konnector's npm dependencies, each evaluated at its first require.",
    'import { define } from "konnector:dependencies";',
  ];
  for (const [name, resolvedPath] of dependencies) {
    lines.push(`define(${JSON.stringify(name)}, () => require(${JSON.stringify(resolvedPath)}));`);
  }
  return `${lines.join("\n")}\n`;
}

// Names the inputs of the libs after their folder rather than with a long
// relative path.
function inputName(input) {
  if (libsDir === null || input.includes(":")) {
    return input;
  }
  const absolute = path.resolve(dir, input);
  if (!isInside(absolute, libsDir)) {
    return input;
  }
  return `konnector-libs:${path.relative(libsDir, absolute).split(path.sep).join("/")}`;
}

function isVirtual(input) {
  return VIRTUAL_NAMESPACES.some((namespace) => input.startsWith(`${namespace}:`));
}

// Converts an esbuild message: its lines are 1-based, and its columns are
// 0-based and counted in UTF-8 bytes of the line.
function diagnostic(message) {
  const location = message.location;
  if (!location) {
    return { file: null, line: 0, column: 0, text: message.text };
  }
  const prefix = Buffer.from(location.lineText, "utf8").subarray(0, location.column);
  return {
    file: location.file,
    line: location.line,
    column: [...prefix.toString("utf8")].length + 1,
    text: message.text,
  };
}

const options = {
  absWorkingDir: dir,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "es2023",
  external: ["konnector:*"],
  minify: false,
  charset: "utf8",
  define: { "process.env.NODE_ENV": '"production"' },
  // A native addon cannot run in the sandbox. It is loaded as an empty
  // module so that it shows up in the inputs, where the caller rejects it
  // with a message naming its package.
  loader: { ".node": "empty" },
  metafile: true,
  write: false,
  logLevel: "silent",
};

// Runs one esbuild build and returns {errors, warnings, metafile, output}.
async function run(entryPoint, plugin) {
  try {
    const result = await esbuild.build({ ...options, entryPoints: [entryPoint], plugins: [plugin] });
    return {
      errors: [],
      warnings: result.warnings.map(diagnostic),
      metafile: result.metafile,
      output: result.outputFiles[0].text,
    };
  } catch (failure) {
    if (!Array.isArray(failure.errors)) {
      throw failure;
    }
    return {
      errors: failure.errors.map(diagnostic),
      warnings: (failure.warnings ?? []).map(diagnostic),
      metafile: null,
      output: null,
    };
  }
}

function inputsOf(build) {
  return Object.keys(build.metafile.inputs)
    .filter((input) => !isVirtual(input))
    .map(inputName);
}

// Returns the names of the bridges in a build's output, in the order they
// come in it.
function bridgedNames(build) {
  const names = [];
  for (const output of Object.values(build.metafile.outputs)) {
    for (const input of Object.keys(output.inputs)) {
      const name = input.slice(input.indexOf(":") + 1);
      if (isVirtual(input) && !names.includes(name)) {
        names.push(name);
      }
    }
  }
  return names;
}

// Builds the dependency bundle of `names` (a Map from name to path). A
// name that the libs import and `names` lacks is added, and the bundle
// built again: the libs' imports are the only source of new names, so a
// second build adds none.
async function buildDependencies(names) {
  const MAX_BUILDS = 2;
  for (let builds = 1; ; builds += 1) {
    const found = new Dependencies();
    const build = await run(`${ENTRY_NAMESPACE}:${ENTRY_NAME}`, konnectorPlugin({ dependencies: names, found }));
    if (build.errors.length > 0) {
      return build;
    }
    const added = [...found.found.keys()].filter((name) => !names.has(name)).sort();
    if (added.length === 0) {
      return { ...build, names };
    }
    if (builds === MAX_BUILDS) {
      throw new Error(`the dependency bundle still lacks ${added.join(", ")} after ${MAX_BUILDS} builds`);
    }
    for (const name of added) {
      names.set(name, found.pathOf(name));
    }
  }
}

// Returns the names whose path is an ES module in the dependency bundle.
function moduleNamesOf(build) {
  const entryInput = build.metafile.inputs[`${ENTRY_NAMESPACE}:${ENTRY_NAME}`];
  const byPath = new Map([...build.names].map(([name, resolvedPath]) => [resolvedPath, name]));
  const modules = new Set();
  for (const imported of entryInput?.imports ?? []) {
    const name = byPath.get(imported.original);
    if (name !== undefined && build.metafile.inputs[imported.path]?.format === "esm") {
      modules.add(name);
    }
  }
  return modules;
}

async function bundle() {
  const found = new Dependencies();
  let own = await run(entry, konnectorPlugin({ found }));
  if (own.errors.length > 0 || found.found.size === 0) {
    return { ...own, dependencies: null };
  }

  const names = new Map(bridgedNames(own).map((name) => [name, found.pathOf(name)]));
  for (const name of [...found.found.keys()].sort()) {
    if (!names.has(name)) {
      names.set(name, found.pathOf(name));
    }
  }
  const dependencies = await buildDependencies(names);
  if (dependencies.errors.length > 0) {
    return { ...dependencies, warnings: [...own.warnings, ...dependencies.warnings], dependencies: null };
  }

  // An ES module package imported by the konnector's own code goes through
  // a re-exporting module, so the konnector's bundle is built again.
  const moduleNames = moduleNamesOf(dependencies);
  if ([...moduleNames].some((name) => found.importedAsModule(name))) {
    own = await run(entry, konnectorPlugin({ moduleNames, found: new Dependencies() }));
    if (own.errors.length > 0) {
      return { ...own, dependencies: null };
    }
  }
  return {
    ...own,
    warnings: [...own.warnings, ...dependencies.warnings],
    dependencies: {
      names: [...dependencies.names.keys()],
      inputs: inputsOf(dependencies),
      output: dependencies.output,
    },
  };
}

const result = await bundle();
const report = {
  errors: result.errors,
  warnings: result.warnings,
  inputs: result.metafile === null ? [] : inputsOf(result),
  output: result.output,
  dependencies: result.dependencies,
};
process.stdout.write(JSON.stringify(report));
