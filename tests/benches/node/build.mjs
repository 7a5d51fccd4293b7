// Bundles a JavaScript konnector folder into one CommonJS file that Node.js
// runs, for benchmarks against the engine on the same code.
//
// Usage: node tests/benches/node/build.mjs DIR OUT_FILE [MODULES_DIR]
//
// The bundle is built the way toolchain/bundler/bundle.mjs builds it for
// the engine, with the esbuild that toolchain/bundler pins, except that:
// - it is CommonJS for Node.js rather than an ES module for QuickJS;
// - `konnector:host` is tests/benches/node/host.js, a Node.js stand-in for
//   the engine's module, loaded before the konnector so that its `fetch`
//   replaces Node.js's;
// - `cozy-konnector-libs` is toolchain/konnector-libs, as in the engine.
//
// The entry is package.json's `main`, else src/index.js, else index.js, as
// `konnector build` picks it. Bare imports (cheerio, for the konnector and
// for the libs) resolve from MODULES_DIR, by default DIR/build/npm/node_modules
// (where `konnector build` installs them), else DIR/node_modules.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, "../../..");
const shim = path.join(benchDir, "host.js");
const libs = path.join(root, "toolchain/konnector-libs/index.js");
const esbuild = createRequire(path.join(root, "toolchain/bundler/package.json"))("esbuild");

const args = process.argv.slice(2);
if (args.length !== 2 && args.length !== 3) {
  console.error("usage: node tests/benches/node/build.mjs DIR OUT_FILE [MODULES_DIR]");
  process.exit(2);
}
const dir = path.resolve(args[0]);
const outFile = path.resolve(args[1]);

function entryOf(folder) {
  const packageFile = path.join(folder, "package.json");
  if (fs.existsSync(packageFile)) {
    const main = JSON.parse(fs.readFileSync(packageFile, "utf8")).main;
    if (typeof main === "string" && main !== "") {
      return path.join(folder, main);
    }
  }
  const candidates = ["src/index.js", "index.js"].map((name) => path.join(folder, name));
  const found = candidates.find((file) => fs.existsSync(file));
  if (found === undefined) {
    throw new Error(
      `${folder} has no entry: expected package.json's main, src/index.js or index.js`,
    );
  }
  return found;
}

function modulesDirOf(folder) {
  if (args[2] !== undefined) {
    return path.resolve(args[2]);
  }
  const names = ["build/npm/node_modules", "node_modules"];
  const candidates = names.map((name) => path.join(folder, name));
  return candidates.find((candidate) => fs.existsSync(candidate)) ?? null;
}

const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.konnector"), "utf8"));
const entry = entryOf(dir);
const modulesDir = modulesDirOf(dir);

// Resolves the two names that the engine provides.
const enginePlugin = {
  name: "engine-modules",
  setup(build) {
    build.onResolve({ filter: /^cozy-konnector-libs$/ }, () => ({ path: libs }));
    build.onResolve({ filter: /^konnector:host$/ }, () => ({ path: shim }));
  },
};

if (modulesDir === null) {
  console.error(
    `note: ${dir} has no installed packages (build/npm/node_modules or node_modules); run \`konnector build\` on it first, or give MODULES_DIR`,
  );
}

const options = {
  // The shim comes first, so that its fetch is in place before any
  // konnector code runs.
  stdin: {
    contents: `require("konnector:host");\nrequire(${JSON.stringify(entry)});\n`,
    resolveDir: dir,
    sourcefile: "node-entry.js",
  },
  bundle: true,
  format: "cjs",
  platform: "node",
  target: `node${process.versions.node.split(".")[0]}`,
  nodePaths: modulesDir === null ? [] : [modulesDir],
  define: {
    "process.env.NODE_ENV": '"production"',
    "process.env.KONNECTOR_SLUG": JSON.stringify(manifest.slug),
  },
  outfile: outFile,
  metafile: true,
  logLevel: "warning",
  plugins: [enginePlugin],
};

let result;
try {
  result = await esbuild.build(options);
} catch (error) {
  // esbuild has printed the errors already.
  if (Array.isArray(error.errors)) {
    process.exit(1);
  }
  throw error;
}

const inputs = Object.keys(result.metafile.inputs).length;
const bytes = fs.statSync(outFile).size;
console.error(`built ${outFile}: ${bytes} bytes from ${inputs} files`);
