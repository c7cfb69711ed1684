#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the captured fixtures (run from fuzz/).
set -euo pipefail
F=../tests/fixtures
mkdir -p corpus/{jsonrpc_reply,legacy_reply,xmlrpc_reply,url,sip_headers,events}
n=0
for f in $(find $F -name '*.reply.json'); do cp "$f" corpus/jsonrpc_reply/$((n++)); done
for f in $(find $F -name '*.reply.http' -path '*http*'); do sed '1,/^\r\?$/d' "$f" > corpus/jsonrpc_reply/$((n++)); done
for f in $(find $F/2x -name '*.reply.txt'); do cp "$f" corpus/legacy_reply/$((n++)); done
for f in $(find $F -path '*xmlrpc*' -name '*.reply.*'); do sed '1,/^\r\?$/d' "$f" > corpus/xmlrpc_reply/$((n++)); done
for f in $(find $F -name '*.event.json'); do cp "$f" corpus/events/$((n++)); done
printf 'E_PIKE_BLOCKED\nip::192.168.2.11\n\n' > corpus/events/legacy
for u in 'fifo:///tmp/opensips_fifo?reply_dir=/tmp/&timeout=2s' 'udp://127.0.0.1:8809?buffer=65535' \
         'unix:///run/opensips/mi.sock?reply_socket_dir=/tmp' 'http://u:p@127.0.0.1:8888/mi?protocol=auto' \
         'xmlrpc://[::1]:8080/RPC2?timeout=500ms' 'udp://host:1?protocol=legacy'; do
  printf '%s' "$u" > corpus/url/$((n++))
done
printf 'NOTIFY\0sip:1001@10.0.0.21\0Event\0check-sync\0Contact\0<sip:!!>' > corpus/sip_headers/notify
printf 'OPTIONS\0sip:gw\0X-A\0b\r\nInjected: 1' > corpus/sip_headers/inject
echo "seeded $n files"
