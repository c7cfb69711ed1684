#!/usr/bin/env bash
# ureq: the HTTP transport uses `ureq::unversioned` (the transport API ureq does not keep
# stable across minor releases), so Cargo.toml allows only the ureq versions we tested.
#
# 1. In a temporary copy of the sources (the committed Cargo.lock is never changed), ureq
#    is updated to the newest version the range allows and the HTTP tests run against it.
# 2. Informational, but failing: the newest ureq 3.x on crates.io must be that version.
#    If a newer 3.x is out, test it (cargo update -p ureq --precise X in a copy; the
#    HTTP tests below) and widen the range in Cargo.toml, so we see a new ureq before a
#    user's `cargo update` does.
#
# Builds in target/newest-deps (HTTP tests only: a minute or two once built).
set -euo pipefail
cd "$(dirname "$0")/.."

range=$(sed -n 's/^ureq = { version = "\([^"]*\)".*/\1/p' Cargo.toml)
echo "ureq range in Cargo.toml: $range"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$src"
cp Cargo.lock "$src/Cargo.lock"
target="$PWD/target/newest-deps"
locked() { sed -n '/^name = "ureq"$/{n;s/^version = "\(.*\)"$/\1/p}' "$1"; }

cd "$src"
cargo update -q -p ureq
newest_allowed=$(locked Cargo.lock)
echo "newest ureq the range allows: $newest_allowed (Cargo.lock has $(locked "$OLDPWD/Cargo.lock"))"
CARGO_TARGET_DIR="$target" cargo test -q --all-features --test http --test tls

# outside any workspace, `cargo info` answers with the registry's newest 3.x
newest=$(cd "$(mktemp -d)" && cargo info -q ureq@3 2>/dev/null | sed -n 's/^version: \([0-9.]*\).*/\1/p')
if [ -z "$newest" ]; then
  echo "newest-deps: could not ask crates.io for the newest ureq 3.x" >&2
  exit 1
fi
if [ "$newest" != "$newest_allowed" ]; then
  echo "newest-deps: ureq $newest is out but Cargo.toml allows only \"$range\" (up to" >&2
  echo "$newest_allowed). Test it (cargo update -p ureq --precise $newest in a copy, then the" >&2
  echo "HTTP tests: cargo test --all-features --test http --test tls) and widen the range." >&2
  exit 1
fi
echo "ureq $newest, the newest 3.x on crates.io, is in the range and passes the HTTP tests"
