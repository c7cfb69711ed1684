#!/usr/bin/env bash
# ureq: the HTTP transport uses `ureq::unversioned` (the transport API ureq does not keep
# stable across minor releases), so Cargo.toml allows only the ureq versions we tested.
#
# 1. In a temporary copy of the sources (the committed Cargo.lock is never changed), ureq
#    is updated to the newest version the range allows and the HTTP tests run against it.
# 2. Informational: when crates.io has a newer 3.x than the range allows, the HTTP tests
#    run against it too and say whether the range can be widened, so we see a new ureq
#    before users ask for it (the range keeps their `cargo update` on tested versions).
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
if [ "$newest" = "$newest_allowed" ]; then
  echo "ureq $newest, the newest 3.x on crates.io, is in the range and passes the HTTP tests"
  exit 0
fi
# A newer 3.x than the range allows: users cannot get it (the range keeps them on tested
# versions), so this does not fail CI; it shows whether the new release works with us.
echo "NOTICE: ureq $newest is out; Cargo.toml allows \"$range\" (up to $newest_allowed). Trying it:"
sed -i "s/^ureq = { version = \"[^\"]*\"/ureq = { version = \"=$newest\"/" Cargo.toml
if cargo update -q -p ureq && CARGO_TARGET_DIR="$target" cargo test -q --all-features --test http --test tls; then
  echo "NOTICE: ureq $newest passes the HTTP tests: widen the range in Cargo.toml to include it"
else
  echo "NOTICE: ureq $newest does NOT work with opensips-mi: the range rightly excludes it;"
  echo "        adapt src/transport/http/mod.rs before widening it"
fi
