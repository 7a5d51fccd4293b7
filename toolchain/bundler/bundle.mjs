// Bundles a konnector into one ES module with esbuild's JavaScript API.
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
// On success or on build errors, the script writes one JSON object to
// standard output and exits with status 0:
//
//   {"errors": [DIAGNOSTIC], "warnings": [DIAGNOSTIC], "inputs": [PATH],
//    "output": SOURCE}
//
// where DIAGNOSTIC is {"file": PATH or null, "line": N, "column": N,
// "text": MESSAGE} with 1-based lines and 1-based columns counted in Unicode
// code points, PATH is relative to DIR, and "output" is the bundle, or null
// when there are errors. The inputs of libsDir are named
// "konnector-libs:PATH", with PATH relative to libsDir, and the stand-in for
// a missing cheerio "konnector-libs-missing:cheerio". On any other failure, such as a wrong argument or a
// Node.js older than 18, it writes a message to standard error and exits
// with a non-zero status.
//
// The options match what the konnector runtime offers: an ES module for
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

function isInside(file, folder) {
  const relative = path.relative(folder, file);
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative);
}

function isBuiltin(name) {
  return name.startsWith("node:") || builtinModules.includes(name);
}

// Resolves "cozy-konnector-libs" to libsDir, and the bare imports of the
// konnector's own files and of the libs from modulesDir.
const konnectorLibsPlugin = {
  name: "konnector-libs",
  setup(build) {
    if (libsDir !== null) {
      build.onResolve({ filter: /^cozy-konnector-libs(\/.*)?$/ }, (args) => {
        if (args.path === LIBS_PACKAGE) {
          return { path: path.join(libsDir, "index.js") };
        }
        return {
          errors: [
            {
              text: `"${args.path}" is not provided: the konnector engine has its own cozy-konnector-libs, so require "${LIBS_PACKAGE}" itself`,
            },
          ],
        };
      });
    }

    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData?.fromKonnectorLibsPlugin || args.namespace !== "file") {
        return undefined;
      }
      if (isBuiltin(args.path) || args.path.startsWith("konnector:")) {
        return undefined;
      }
      const fromLibs = libsDir !== null && isInside(args.importer, libsDir);
      const own = !fromLibs && !args.importer.split(path.sep).includes("node_modules");
      // Imports from packages, and from a konnector installed in its own
      // folder, resolve as usual.
      if (!fromLibs && !(own && modulesDir !== dir)) {
        return undefined;
      }
      if (modulesDir !== null) {
        const result = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: modulesDir,
          pluginData: { fromKonnectorLibsPlugin: true },
        });
        if (result.errors.length === 0 && (result.external || isInside(result.path, modulesDir))) {
          return {
            path: result.path,
            external: result.external,
            namespace: result.namespace,
            sideEffects: result.sideEffects,
          };
        }
      }
      if (fromLibs && args.path === "cheerio") {
        return { path: "cheerio", namespace: MISSING_NAMESPACE };
      }
      return {
        errors: [
          {
            text: `Could not resolve "${args.path}": it is not among the konnector's installed dependencies; add it to "dependencies" in package.json`,
          },
        ],
      };
    });

    build.onLoad({ filter: /.*/, namespace: MISSING_NAMESPACE }, (args) => ({
      contents: `module.exports = { ${MISSING_MARKER}: ${JSON.stringify(args.path)} };`,
      loader: "js",
    }));
  },
};

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
  entryPoints: [entry],
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
  plugins: [konnectorLibsPlugin],
};

let report;
try {
  const result = await esbuild.build(options);
  report = {
    errors: [],
    warnings: result.warnings.map(diagnostic),
    inputs: Object.keys(result.metafile.inputs).map(inputName),
    output: result.outputFiles[0].text,
  };
} catch (error) {
  if (!Array.isArray(error.errors)) {
    throw error;
  }
  report = {
    errors: error.errors.map(diagnostic),
    warnings: (error.warnings ?? []).map(diagnostic),
    inputs: [],
    output: null,
  };
}
process.stdout.write(JSON.stringify(report));
