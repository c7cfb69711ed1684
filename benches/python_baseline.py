#!/usr/bin/env python3
"""Round trips of this crate vs the official Python client (`pip install opensips`),
against the same mock OpenSIPS (`opensips-mi mock`), in one run. Not run in CI.

    pip install opensips
    python3 benches/python_baseline.py [N]

Prints commands per second for each transport and the ratio (ours / Python).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from opensips.mi import OpenSIPSMI

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

subprocess.run(["cargo", "build", "--release", "--quiet", "--features", "cli",
                "--bin", "opensips-mi", "--example", "mi_bench"], cwd=ROOT, check=True)
BIN = os.path.join(ROOT, "target", "release", "opensips-mi")
BENCH = os.path.join(ROOT, "target", "release", "examples", "mi_bench")

tmp = tempfile.mkdtemp(prefix="mi-baseline")
os.chmod(tmp, 0o1777)
mock = subprocess.Popen([BIN, "mock", "--fifo", f"{tmp}/fifo", "--udp", "127.0.0.1:0",
                         "--unix", f"{tmp}/mi.sock", "--http", "127.0.0.1:0"],
                        stdout=subprocess.PIPE, text=True)
try:
    mock.stdout.readline()
    urls = [mock.stdout.readline().strip() for _ in range(5)]
    by_scheme = {u.split(":", 1)[0]: u for u in urls}
    udp_host, udp_port = re.match(r"udp://([^:]+):(\d+)", by_scheme["udp"]).groups()

    python_clients = {
        "fifo": OpenSIPSMI("fifo", fifo_file=f"{tmp}/fifo", fifo_file_fallback=f"{tmp}/fifo",
                           fifo_reply_dir=tmp),
        "udp": OpenSIPSMI("datagram", datagram_ip=udp_host, datagram_port=udp_port,
                          datagram_timeout=2),
        "unix": OpenSIPSMI("datagram", datagram_unix_socket=f"{tmp}/mi.sock",
                           datagram_timeout=2),
    }
    # python-opensips posts through urllib, which writes the HTTP head and the body in two
    # writes: OpenSIPS 3.x/4.0 httpd (and the mock, which imitates it) can lose such a body
    # and the request hangs (PROTOCOL.md §6.3), so there is no HTTP figure.
    print(f"{N} `uptime` round trips per client, same mock, same run")
    print(f"{'transport':<10} {'opensips-mi':>14} {'python':>12} {'ratio':>7}")
    for name, client in python_clients.items():
        client.execute("uptime")  # warm up
        t = time.perf_counter()
        for _ in range(N):
            client.execute("uptime")
        py = N / (time.perf_counter() - t)
        out = subprocess.run([BENCH, by_scheme[name], str(N)], capture_output=True,
                             text=True, check=True).stdout
        ours = float(out.split()[0])
        print(f"{name:<10} {ours:>10.0f} /s {py:>8.0f} /s {ours / py:>6.1f}x   ({out.strip()})")
    print("http       (none: python-opensips writes head and body separately, which "
          "3.x/4.0 httpd can lose)")
finally:
    mock.terminate()
    mock.wait()
    shutil.rmtree(tmp, ignore_errors=True)
