#!/usr/bin/env python3
"""bench/cluster_login.py: QVD clients logging in at a steady rate (bench/cluster_scale.sh).

Each login is what QVD's Perl client does (reference section 2.6): a new TLS connection to
an L7R, GET /qvd/list_of_vm? with Basic authentication, then GET /qvd/connect_to_vm?id=...
with the Upgrade headers on the same connection, reading the 102 progress answers until
the L7R says "Starting session" (the VM row says running and its VMA's coordinates are
known), or a final answer. With the `nothing` hypervisor no VMA answers, so the client
hangs up there. Login i starts at i * WINDOW / N seconds after the start, on L7R port
i % len(PORTS), as user PREFIX<i>.

  cluster_login.py N WINDOW PASSWORD PREFIX PORT[,PORT...]

Environment: QVD_BENCH_ADDR, the L7Rs' address (127.0.0.1); QVD_BENCH_UNTIL=101 waits for
the upgrade (101 Switching Protocols: the session is there) instead of "Starting session";
QVD_BENCH_USER, one login for all (PREFIX and the number otherwise).

Prints one line per login (times in ms from the run's start):
  i port result t_start t_tls t_list t_req t_run
result is "ok", or what went wrong (HTTP status and its text, or the exception).
"""
import asyncio
import base64
import json
import os
import ssl
import sys
import time

N, WINDOW, PASSWORD, PREFIX = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
PORTS = [int(p) for p in sys.argv[5].split(",")]
TIMEOUT = 300
ADDR = os.environ.get("QVD_BENCH_ADDR", "127.0.0.1")
UNTIL_101 = os.environ.get("QVD_BENCH_UNTIL") == "101"
USER = os.environ.get("QVD_BENCH_USER")
CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
T0 = 0.0


def now_ms():
    return (time.monotonic() - T0) * 1000


async def read_answer(r):
    """One HTTP answer: (status, headers, body)."""
    head = await r.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    body = b""
    if status >= 200 and "content-length" in hdrs:
        body = await r.readexactly(int(hdrs["content-length"]))
    return status, hdrs, body


async def login(i):
    port = PORTS[i % len(PORTS)]
    t = {"start": -1.0, "tls": -1.0, "list": -1.0, "req": -1.0, "run": -1.0}
    await asyncio.sleep(max(0.0, T0 + i * WINDOW / N - time.monotonic()))
    t["start"] = now_ms()
    who = USER if USER else "%s%d" % (PREFIX, i)
    auth = base64.b64encode(("%s:%s" % (who, PASSWORD)).encode()).decode()
    w = None
    try:
        r, w = await asyncio.open_connection(ADDR, port, ssl=CTX)
        t["tls"] = now_ms()
        w.write(("GET /qvd/list_of_vm? HTTP/1.1\r\nAuthorization: Basic %s\r\n"
                 "Accept: application/json\r\nUser-Agent: QVD::HTTPC/0.01 (linux)\r\n\r\n"
                 % auth).encode())
        status, _, body = await read_answer(r)
        t["list"] = now_ms()
        if status != 200:
            return port, "list_%d_%s" % (status, body[:40].decode("latin-1").replace(" ", "_")), t
        vms = json.loads(body)
        if not vms:
            return port, "no_vm", t
        w.write(("GET /qvd/connect_to_vm?qvd.client.os=linux&qvd.client.geometry=1024x768"
                 "&qvd.client.link=adsl&qvd.client.keyboard=pc105%%2Fes&id=%d HTTP/1.1\r\n"
                 "Authorization: Basic %s\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n"
                 "User-Agent: QVD::HTTPC/0.01 (linux)\r\n\r\n" % (vms[0]["id"], auth)).encode())
        t["req"] = now_ms()
        while True:
            status, hdrs, body = await read_answer(r)
            if status == 101 and UNTIL_101:
                t["run"] = now_ms()
                return port, "ok", t
            if status == 102:
                if hdrs.get("x-qvd-vm-info") == "Starting session" and not UNTIL_101:
                    t["run"] = now_ms()
                    return port, "ok", t
                continue
            return port, "connect_%d_%s" % (status, body[:60].decode("latin-1").replace(" ", "_")), t
    except Exception as e:  # a refused or cut connection is a figure too
        return port, "error_%s" % type(e).__name__, t
    finally:
        if w is not None:
            w.close()


async def one(i):
    try:
        port, res, t = await asyncio.wait_for(login(i), TIMEOUT + i * WINDOW / N)
    except asyncio.TimeoutError:
        port, res, t = PORTS[i % len(PORTS)], "timeout", {k: -1.0 for k in
                                                          ("start", "tls", "list", "req", "run")}
    print("%d %d %s %.1f %.1f %.1f %.1f %.1f" % (i, port, res, t["start"], t["tls"], t["list"],
                                                t["req"], t["run"]), flush=True)


async def main():
    global T0
    T0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(N)))


asyncio.run(main())
