#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the captured fixtures, one file per capture
# (run from fuzz/; CORPUS=dir to seed elsewhere). Prints how many seeds each corpus got.
#
# An HTTP capture goes to the corpus its body belongs to: JSON bodies to jsonrpc_reply,
# XML bodies to xmlrpc_reply, whatever directory it sits in.
set -euo pipefail
cd "$(dirname "$0")"
F=../tests/fixtures
C=${CORPUS:-corpus}
mkdir -p "$C"/{jsonrpc_reply,legacy_reply,xmlrpc_reply,url,sip_headers,events}

n=0
# seed TARGET FILE: copies FILE (already a body) as a new, uniquely named seed
seed() {
  n=$((n + 1))
  cp "$2" "$C/$1/$n"
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r -d '' f; do
  seed jsonrpc_reply "$f"
done < <(find "$F" -name '*.reply.json' -print0)
while IFS= read -r -d '' f; do
  # the body: everything after the head's empty line
  sed '1,/^\r\?$/d' "$f" > "$tmp"
  case "$(tr -d ' \t\r\n' < "$tmp" | head -c 1)" in
    '{') seed jsonrpc_reply "$tmp" ;;
    '<') seed xmlrpc_reply "$tmp" ;;
  esac
done < <(find "$F" -name '*.reply.http' -print0)
while IFS= read -r -d '' f; do
  seed legacy_reply "$f"
done < <(find "$F/1x" "$F/2x" -name '*.reply.txt' -print0)
while IFS= read -r -d '' f; do
  seed events "$f"
done < <(find "$F" -name '*.event.json' -print0)
printf 'E_PIKE_BLOCKED\nip::192.168.2.11\n\n' > "$C/events/legacy"
for u in 'fifo:///tmp/opensips_fifo?reply_dir=/tmp/&timeout=2s' 'udp://127.0.0.1:8809?buffer=65535' \
         'unix:///run/opensips/mi.sock?reply_socket_dir=/tmp' 'http://u:p@127.0.0.1:8888/mi?protocol=auto' \
         'xmlrpc://[::1]:8080/RPC2?timeout=500ms' 'udp://host:1?protocol=legacy' \
         'http://127.0.0.1:8888/mi?keepalive=false'; do
  n=$((n + 1))
  printf '%s' "$u" > "$C/url/$n"
done
printf 'NOTIFY\0sip:1001@10.0.0.21\0Event\0check-sync\0Contact\0<sip:!!>' > "$C/sip_headers/notify"
printf 'OPTIONS\0sip:gw\0X-A\0b\r\nInjected: 1' > "$C/sip_headers/inject"

for d in "$C"/*/; do
  printf '%s %s\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
