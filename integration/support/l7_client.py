#!/usr/bin/env python3
"""Raw HTTP/1.1 client of the L7 tests: many connections at once, each sending exact bytes.

Reads cases as JSON lines on stdin, prints one JSON line per case on stdout (in completion order):

  case   {"id": 7, "target": "10.96.7.1:80", "requests": ["<base64>", ...], "pipeline": false,
          "shutWrite": false, "timeoutMs": 5000, "responses": 1, "gapMs": 0}
  result {"id": 7, "connect": "ok" | "<errno name>", "responses": [response...],
          "end": "eof" | "reset" | "timeout" | "open", "ms": 12.3}
  response {"status": 200, "headers": {"x-backend": ..., "x-kmesh-reason": ..., ...},
            "bodyBytes": 123, "bodySha256": "...", "body": "<first 2000 bytes, utf-8 with replacement>"}

Not pipelined: each request is sent after the previous response was read in full. Pipelined: all
requests are sent at once (or one write each, gapMs apart). shutWrite half-closes (FIN) after the last send. `responses` is how many
responses to wait for (default: one per request); after them the client reads on until EOF when
shutWrite or untilClose is set, else it closes ("open"). A response without content-length is read until EOF.
Usage: python3 l7_client.py [--concurrency N] < cases.jsonl > results.jsonl
"""
import argparse
import asyncio
import base64
import errno
import hashlib
import json
import socket
import sys
import time

HEAD_LIMIT = 65536
KEPT_HEADERS = ("x-backend", "x-kmesh-reason", "x-request-index", "x-peer", "x-sha256", "connection",
                "content-type", "content-length", "location")


def split_target(target):
    if target.startswith("["):
        host, port = target[1:].split("]:")
    else:
        host, port = target.rsplit(":", 1)
    return host, int(port)


class Ended(Exception):
    def __init__(self, how):
        super().__init__(how)
        self.how = how


async def read_exactly(reader, n, deadline):
    chunks = []
    left = n
    while left > 0:
        data = await read_some(reader, min(left, 1 << 20), deadline)
        if not data:
            raise Ended("eof")
        chunks.append(data)
        left -= len(data)
    return b"".join(chunks)


async def read_some(reader, n, deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Ended("timeout")
    try:
        return await asyncio.wait_for(reader.read(n), remaining)
    except asyncio.TimeoutError:
        raise Ended("timeout")
    except (ConnectionResetError, BrokenPipeError):
        raise Ended("reset")


async def read_response(reader, buf, deadline):
    """Returns (response, leftover bytes); raises Ended when the connection ends first."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_LIMIT:
            raise Ended("bad-response")
        data = await read_some(reader, 65536, deadline)
        if not data:
            raise Ended("eof" if not buf else "eof-in-head")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower().decode("latin-1")
        if key in KEPT_HEADERS and key not in headers:
            headers[key] = value.strip().decode("latin-1")
    h = hashlib.sha256()
    if "content-length" in headers:
        n = int(headers["content-length"])
        body_head = rest[:n]
        rest = rest[n:]
        h.update(body_head)
        total = len(body_head)
        first = body_head[:2000]
        while total < n:
            data = await read_some(reader, min(n - total, 1 << 20), deadline)
            if not data:
                raise Ended("eof-in-body")
            h.update(data)
            if len(first) < 2000:
                first += data[:2000 - len(first)]
            total += len(data)
    else:
        first = rest[:2000]
        h.update(rest)
        total = len(rest)
        rest = b""
        while True:
            data = await read_some(reader, 1 << 20, deadline)
            if not data:
                break
            h.update(data)
            if len(first) < 2000:
                first += data[:2000 - len(first)]
            total += len(data)
    response = {"status": status, "headers": headers, "bodyBytes": total, "bodySha256": h.hexdigest(),
                "body": first.decode("utf-8", "replace")}
    return response, rest


async def run_case(case, default_target):
    started = time.monotonic()
    deadline = started + case.get("timeoutMs", 5000) / 1000
    result = {"id": case["id"], "connect": "ok", "responses": [], "end": "open"}
    requests = [base64.b64decode(r) for r in case.get("requests", [])]
    want = case.get("responses", len(requests))
    host, port = split_target(case.get("target", default_target))
    writer = None
    try:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=1 << 22),
                                                    max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            result["connect"] = "ETIMEDOUT"
            return result
        except OSError as e:
            result["connect"] = errno.errorcode.get(e.errno or 0, str(e))
            return result
        buf = b""
        try:
            if case.get("pipeline"):
                gap = case.get("gapMs", 0) / 1000
                if gap > 0:  # the bytes in several writes, apart in time (a head split over segments)
                    for request in requests:
                        writer.write(request)
                        await writer.drain()
                        await asyncio.sleep(gap)
                else:
                    writer.write(b"".join(requests))
                    await writer.drain()
                if case.get("shutWrite"):
                    writer.write_eof()
                for _ in range(want):
                    response, buf = await read_response(reader, buf, deadline)
                    result["responses"].append(response)
            else:
                for i, request in enumerate(requests):
                    writer.write(request)
                    await writer.drain()
                    if i == len(requests) - 1 and case.get("shutWrite"):
                        writer.write_eof()
                    if len(result["responses"]) < want:
                        response, buf = await read_response(reader, buf, deadline)
                        result["responses"].append(response)
            if case.get("shutWrite") or case.get("untilClose"):
                # Read on: the other side must close (after answering a half-closed client, or after an
                # answer that says connection: close).
                while True:
                    data = await read_some(reader, 65536, deadline)
                    if not data:
                        raise Ended("eof")
        except Ended as e:
            result["end"] = e.how
        except (ConnectionResetError, BrokenPipeError):
            result["end"] = "reset"
    finally:
        result["ms"] = round((time.monotonic() - started) * 1000, 1)
        if writer is not None:
            try:
                # A client that gave up waiting resets (RST); any other ending is an orderly close (FIN).
                writer.transport.abort() if result["end"] == "timeout" else writer.close()
            except Exception:
                pass
    return result


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--target", default="")
    args = parser.parse_args()
    cases = [json.loads(line) for line in sys.stdin if line.strip()]
    queue = asyncio.Queue()
    for c in cases:
        queue.put_nowait(c)
    out = sys.stdout

    async def worker():
        while True:
            try:
                c = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                r = await run_case(c, args.target)
            except Exception as e:  # a client bug must not look like a mesh failure
                r = {"id": c["id"], "connect": "client-error", "error": repr(e), "responses": [], "end": "error"}
            out.write(json.dumps(r) + "\n")

    await asyncio.gather(*(worker() for _ in range(max(1, args.concurrency))))
    out.flush()


if __name__ == "__main__":
    asyncio.run(main())
