#!/usr/bin/env bash
# The crate's public API, as cargo-public-api lists it from rustdoc's JSON: the contract
# written down in api/public-api.txt, so that every change to it is a visible diff.
#
#   bash .ci/public-api.sh          rewrite api/public-api.txt from the code
#   bash .ci/public-api.sh --check  fail (showing the diff) if the code's API differs
#
# rustdoc's JSON output is unstable: the one stable toolchain emits it with
# RUSTC_BOOTSTRAP=1 (the same compiler that builds the crate; no nightly is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.52.0
if ! cargo public-api --version 2>/dev/null | grep -qF "$VERSION"; then
  cargo install cargo-public-api --version "$VERSION" --locked
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/public-api \
  cargo public-api --all-features -ss > "$out" 2> "$out.log" || { cat "$out.log" >&2; rm -f "$out.log"; exit 1; }
rm -f "$out.log"
if [ "${1:-}" = "--check" ]; then
  if ! diff -u api/public-api.txt "$out"; then
    echo "The public API changed: run 'bash .ci/public-api.sh', commit api/public-api.txt with" >&2
    echo "the change, and say it in CHANGELOG.md." >&2
    exit 1
  fi
  echo "public API unchanged ($(wc -l < "$out") lines)"
else
  mkdir -p api
  cp "$out" api/public-api.txt
  echo "wrote api/public-api.txt ($(wc -l < api/public-api.txt) lines)"
fi
