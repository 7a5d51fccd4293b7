// The Node.js module "path" (also "path/posix"), POSIX
// flavour only: join, resolve, normalize, relative, dirname, basename,
// extname, isAbsolute, parse, format, sep and delimiter. There is no
// working folder in the sandbox, so resolve() starts from "/".
(function (native, internal) {
  "use strict";

  function checkPath(value, context) {
    if (typeof value !== "string") {
      const error = new TypeError(
        `path.${context}: the path must be a string, not ${value === null ? "null" : typeof value}`,
      );
      error.code = "ERR_INVALID_ARG_TYPE";
      throw error;
    }
  }

  // Resolves "." and ".." in the segments of a path. Leading ".." stay in
  // a relative path and are dropped from an absolute one.
  function normalizeSegments(path, absolute) {
    const segments = [];
    for (const segment of path.split("/")) {
      if (segment === "" || segment === ".") {
        continue;
      }
      if (segment === "..") {
        if (segments.length > 0 && segments[segments.length - 1] !== "..") {
          segments.pop();
        } else if (!absolute) {
          segments.push("..");
        }
        continue;
      }
      segments.push(segment);
    }
    return segments.join("/");
  }

  function normalize(path) {
    checkPath(path, "normalize");
    if (path === "") {
      return ".";
    }
    const absolute = path.startsWith("/");
    const trailing = path.endsWith("/");
    let result = normalizeSegments(path, absolute);
    if (result === "" && !absolute) {
      result = ".";
    }
    if (result !== "" && trailing) {
      result += "/";
    }
    return absolute ? `/${result}` : result;
  }

  function join(...paths) {
    for (const path of paths) {
      checkPath(path, "join");
    }
    const joined = paths.filter((path) => path !== "").join("/");
    return joined === "" ? "." : normalize(joined);
  }

  function resolve(...paths) {
    let resolved = "";
    for (let i = paths.length - 1; i >= 0 && !resolved.startsWith("/"); i -= 1) {
      checkPath(paths[i], "resolve");
      if (paths[i] !== "") {
        resolved = resolved === "" ? paths[i] : `${paths[i]}/${resolved}`;
      }
    }
    return `/${normalizeSegments(resolved, true)}`;
  }

  function isAbsolute(path) {
    checkPath(path, "isAbsolute");
    return path.startsWith("/");
  }

  function relative(from, to) {
    checkPath(from, "relative");
    checkPath(to, "relative");
    const fromParts = resolve(from).split("/").filter(Boolean);
    const toParts = resolve(to).split("/").filter(Boolean);
    let common = 0;
    while (
      common < fromParts.length &&
      common < toParts.length &&
      fromParts[common] === toParts[common]
    ) {
      common += 1;
    }
    const up = fromParts.slice(common).map(() => "..");
    return [...up, ...toParts.slice(common)].join("/");
  }

  // Removes the slashes at the end of a path, but keeps a lone "/".
  function trimTrailingSlashes(path) {
    const trimmed = path.replace(/\/+$/, "");
    return trimmed === "" && path.startsWith("/") ? "/" : trimmed;
  }

  function dirname(path) {
    checkPath(path, "dirname");
    const trimmed = trimTrailingSlashes(path);
    if (trimmed === "/") {
      return "/";
    }
    const slash = trimmed.lastIndexOf("/");
    if (slash === -1) {
      return ".";
    }
    const parent = trimmed.slice(0, slash).replace(/\/+$/, "");
    return parent === "" ? "/" : parent;
  }

  function basename(path, suffix = undefined) {
    checkPath(path, "basename");
    const trimmed = trimTrailingSlashes(path);
    const base = trimmed === "/" ? "" : trimmed.slice(trimmed.lastIndexOf("/") + 1);
    if (typeof suffix === "string" && suffix !== base && base.endsWith(suffix)) {
      return base.slice(0, base.length - suffix.length);
    }
    return base;
  }

  function extname(path) {
    checkPath(path, "extname");
    const base = basename(path);
    const dot = base.lastIndexOf(".");
    // A name that starts with its only dot, such as ".profile", has none.
    if (dot <= 0 || base.slice(0, dot).replace(/\./g, "") === "") {
      return "";
    }
    return base.slice(dot);
  }

  function parse(path) {
    checkPath(path, "parse");
    const root = path.startsWith("/") ? "/" : "";
    const base = basename(path);
    const ext = extname(path);
    let dir = dirname(path);
    if (dir === "." && !path.includes("/")) {
      dir = "";
    }
    return { root, dir, base, ext, name: base.slice(0, base.length - ext.length) };
  }

  function format(parts) {
    if (typeof parts !== "object" || parts === null) {
      throw new TypeError("path.format: the argument must be an object");
    }
    const dir = parts.dir || parts.root || "";
    const base = parts.base || `${parts.name ?? ""}${parts.ext ?? ""}`;
    if (dir === "") {
      return base;
    }
    return dir === parts.root ? `${dir}${base}` : `${dir}/${base}`;
  }

  function toNamespacedPath(path) {
    return path;
  }

  const path = {
    sep: "/",
    delimiter: ":",
    normalize,
    join,
    resolve,
    isAbsolute,
    relative,
    dirname,
    basename,
    extname,
    parse,
    format,
    toNamespacedPath,
  };
  path.posix = path;

  internal.defineModule("path", path);
  internal.defineModule("path/posix", path);
});
