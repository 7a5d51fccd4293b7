#!/usr/bin/env bash
# Prepares a folder laid out like a WASI SDK (bin/clang, bin/ar,
# share/wasi-sysroot) from Debian's clang, llvm-ar and wasi-libc packages,
# and prints its path. rquickjs-sys compiles QuickJS with the folder that the
# WASI_SDK variable names, and downloads a WASI SDK when WASI_SDK is unset,
# so building the QuickJS runtime goes:
#
#   export WASI_SDK="$(toolchain/js-runtime/wasi-sdk.sh target/wasi-sdk)"
#   cargo build --release --target wasm32-wasip1 \
#       --manifest-path toolchain/js-runtime/Cargo.toml
#
# Debian 12 packages: clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32.
# CLANG, LLVM_AR and WASI_LIBC_PREFIX override the tools and the prefix that
# holds include/wasm32-wasi and lib/wasm32-wasi. Safe to run again.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 FOLDER" >&2
    exit 2
fi
dir=$1
clang=${CLANG:-clang-19}
llvm_ar=${LLVM_AR:-llvm-ar-19}
prefix=${WASI_LIBC_PREFIX:-/usr}

clang_path=$(command -v "$clang" || true)
ar_path=$(command -v "$llvm_ar" || true)
if [ -z "$clang_path" ] || [ -z "$ar_path" ]; then
    echo "error: $clang or $llvm_ar not found; install the Debian packages" \
        "clang-19 lld-19 (or set CLANG and LLVM_AR)" >&2
    exit 1
fi
if [ ! -f "$prefix/include/wasm32-wasi/stdio.h" ] || [ ! -f "$prefix/lib/wasm32-wasi/libc.a" ]; then
    echo "error: wasi-libc not found under $prefix (include/wasm32-wasi," \
        "lib/wasm32-wasi); install the Debian package wasi-libc" \
        "(or set WASI_LIBC_PREFIX)" >&2
    exit 1
fi

mkdir -p "$dir/bin" "$dir/share/wasi-sysroot/include" "$dir/share/wasi-sysroot/lib"
dir=$(cd "$dir" && pwd)
ln -sfn "$clang_path" "$dir/bin/clang"
ln -sfn "$ar_path" "$dir/bin/ar"
# Debian's wasi-libc is laid out for the target triple wasm32-wasi. Clang 19
# looks for headers and libraries under the exact triple, and falls back to
# the sysroot's include/ for wasm32-wasip1, so the sysroot contains both
# triples and nothing else: the host's /usr/include never comes in.
for triple in wasm32-wasi wasm32-wasip1; do
    ln -sfn "$prefix/include/wasm32-wasi" "$dir/share/wasi-sysroot/include/$triple"
    ln -sfn "$prefix/lib/wasm32-wasi" "$dir/share/wasi-sysroot/lib/$triple"
done
echo "$dir"
