// Bundles a konnector into one ES module with esbuild's JavaScript API.
//
// Usage: node bundle.mjs DIR ENTRY
//
// DIR is the konnector's folder (absolute) and ENTRY the entry file relative
// to it. On success or on build errors, the script writes one JSON object to
// standard output and exits with status 0:
//
//   {"errors": [DIAGNOSTIC], "warnings": [DIAGNOSTIC], "inputs": [PATH],
//    "output": SOURCE}
//
// where DIAGNOSTIC is {"file": PATH or null, "line": N, "column": N,
// "text": MESSAGE} with 1-based lines and 1-based columns counted in Unicode
// code points, PATH is relative to DIR, and "output" is the bundle, or null
// when there are errors. On any other failure, such as a wrong argument or a
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
if (args.length !== 2) {
  console.error("usage: node bundle.mjs DIR ENTRY");
  process.exit(2);
}
const [dir, entry] = args;

// Imported only once the Node.js version is known to be supported.
const esbuild = await import("esbuild");

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
};

let report;
try {
  const result = await esbuild.build(options);
  report = {
    errors: [],
    warnings: result.warnings.map(diagnostic),
    inputs: Object.keys(result.metafile.inputs),
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
