#!/usr/bin/env bash
# Sets up the stable-diffusion.cpp baseline of `sdlite bench --baseline sdcpp`, outside the project's
# dependencies: the npm package @lmagder/node-stable-diffusion-cpp (Node bindings of
# leejet/stable-diffusion.cpp, a prebuilt addon) unpacked under DIR/package, and stand-ins for the
# two CUDA libraries its Linux prebuild links (it is a CUDA build) under DIR/cuda-stub, so that it
# runs on its CPU backend on a machine without CUDA. See cudart-stub.c for why that is sound.
#
#   scripts/sdcpp-baseline/setup.sh [DIR] [TARBALL]
#
# DIR defaults to .bench/baselines/sdcpp (what the bench looks in by default). TARBALL: an already
# downloaded package tarball; otherwise `npm pack` fetches it from the npm registry (no
# dependencies, no install scripts: the bench loads the addon file directly).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-.bench/baselines/sdcpp}"
tarball="${2:-}"
version="0.1.7"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [[ -z "$tarball" ]]; then
  tarball="$(cd "$dir" && npm pack --silent "@lmagder/node-stable-diffusion-cpp@$version")"
  tarball="$dir/$tarball"
fi
rm -rf "$dir/package.tmp"
mkdir -p "$dir/package.tmp"
tar xzf "$tarball" -C "$dir/package.tmp"
rm -rf "$dir/package"
mv "$dir/package.tmp/package" "$dir/package"
rmdir "$dir/package.tmp"
addon="$dir/package/prebuilds/node-stable-diffusion-cpp-linux-x64/node-napi-v9.node"
[[ -f "$addon" ]] || { echo "no Linux x64 prebuild in $tarball" >&2; exit 1; }

mkdir -p "$dir/cuda-stub"
for lib in cudart cublas; do
  echo "lib$lib.so.12 { global: *; };" >"$dir/cuda-stub/$lib.map"
  cc -shared -fPIC -O2 -o "$dir/cuda-stub/lib$lib.so.12" -Wl,-soname,"lib$lib.so.12" \
    -Wl,--version-script="$dir/cuda-stub/$lib.map" "$here/$lib-stub.c"
done
echo "addon: $addon"
LD_LIBRARY_PATH="$dir/cuda-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$addon" | grep -E 'cuda|cublas|not found' || true
echo "stable-diffusion.cpp baseline ready under $dir"
