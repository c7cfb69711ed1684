#!/usr/bin/env bash
# The declared MSRV (`rust-version` in Cargo.toml), checked rather than only declared:
#
# 1. Every package in Cargo.lock declares a `rust-version` no newer than ours (those that
#    declare none are not checked: cargo cannot know either).
# 2. The library and the CLI build with that very compiler: Debian bookworm's `rustc-web` /
#    `cargo-web` packages are Rust 1.85.0 (installed with apt-get when missing and possible).
#    A compiler of another version is not used: the check is of the declared version only.
# 3. (in .ci/run) clippy's `incompatible_msrv` lint (clippy::suspicious, on by default, and
#    clippy runs with -D warnings) reads `rust-version` and refuses std APIs newer than it.
#
# Step 2 builds in target/msrv from a copy of the sources (the first run: a few minutes).
# MSRV_SKIP_BUILD=1 skips it (then only 1 runs, and the script says so).
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "msrv: no rust-version in Cargo.toml" >&2; exit 1; }
echo "declared MSRV: $msrv"

# 1. dependencies
newer=$(cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
msrv = sys.argv[1]
def v(s):
    return (list(map(int, s.split("."))) + [0, 0, 0])[:3]
for p in json.load(sys.stdin)["packages"]:
    rv = p.get("rust_version")
    if rv and v(rv) > v(msrv):
        print(p["name"], p["version"], "needs Rust", rv)
' "$msrv")
if [ -n "$newer" ]; then
  echo "msrv: packages in Cargo.lock need a newer Rust than $msrv:" >&2
  echo "$newer" >&2
  exit 1
fi
echo "every locked package declaring a rust-version accepts $msrv"

# 2. a real build with that compiler
if [ "${MSRV_SKIP_BUILD:-}" = 1 ]; then
  echo "msrv: build with Rust $msrv SKIPPED (MSRV_SKIP_BUILD=1)"
  exit 0
fi
want="$msrv"
[ "$(echo "$want" | tr -cd . | wc -c)" -ge 2 ] || want="$want.0"
have() { [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && /usr/bin/rustc --version | grep -q "^rustc $want "; }
if ! have && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  if ! apt-cache policy rustc-web 2>/dev/null | grep -q "Candidate: ${want}+"; then
    apt-get update -q >/dev/null 2>&1 || true
  fi
  if apt-cache policy rustc-web 2>/dev/null | grep -q "Candidate: ${want}+"; then
    apt-get install -y -q rustc-web cargo-web >/dev/null
  fi
fi
if ! have; then
  echo "msrv: no rustc $want to build with (Debian's rustc-web $want was not installable here)" >&2
  exit 1
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$src"
target="$PWD/target/msrv"
(
  cd "$src"
  # only the distribution's toolchain: no rustup proxy in PATH
  export PATH=/usr/bin:/bin CARGO_TARGET_DIR="$target"
  unset RUSTUP_TOOLCHAIN RUSTC RUSTDOC
  echo "building with $(/usr/bin/rustc --version)"
  /usr/bin/cargo check --locked --lib --bins --all-features
  /usr/bin/cargo check --locked --lib --no-default-features
)
echo "the library and the CLI build with Rust $want"
