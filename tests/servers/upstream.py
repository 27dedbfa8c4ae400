#!/usr/bin/python3
"""upstream.py: a loopback HTTP server that stands in for ppr's upstream hosts in
tests (the machines have no internet). Python standard library only.

    /usr/bin/python3 tests/servers/upstream.py --root DIR [--port 0]
        [--timeout 300] [--max-requests N]

Prints "PORT <n>" as its first line on stdout, then serves until killed, until
--timeout seconds have passed, or after --max-requests requests, so it always
stops by itself. With PPR_UPSTREAM=http://127.0.0.1:<n>, ppr asks it for
"https://HOST/PATH" as GET /HOST/PATH.

  GET /HOST/PATH         DIR/HOST/PATH, with Range support (206, 416).
  GET /HOST/rows?dataset=D&config=C&split=S&offset=O&length=L
                         the Hugging Face dataset viewer's rows API over
                         DIR/HOST/rows/D/C/S.jsonl (one row object a line).
  GET /_stats            JSON: {"requests": {key: n}, "ranges": {key: [Range
                         header, ...]}, "offsets": {key: [O, ...]}}.

A request's key is its path (without the query) for files, and
"/HOST/rows/D/C/S" for rows pages. Faults come from DIR/faults.json, read on
every request so a test can change it between requests: {key: fault}, where
fault holds any of
  "status": code         always answer with that status;
  "fail": [c1, c2, ...]  answer the key's first requests with these statuses;
  "cut_after": bytes     on the first request past "fail", send the headers of
                         the whole response, then close after that many bytes;
  "ignore_range": true   answer a Range request with 200 and the whole file;
  "redirect": "/H/P"     answer 302 to that path;
  "truncate_row": k      rows: mark row k's first cell truncated;
  "missing_offset": o    rows: 404 for the page at offset o.
"""
import argparse
import json
import os
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE_MAX = 100  # the rows API's largest page


class Stats:
    """Requests seen per key, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests, self.ranges, self.offsets = {}, {}, {}
        self.total = 0

    def count(self, key, range_header, offset):
        with self.lock:
            self.total += 1
            self.requests[key] = self.requests.get(key, 0) + 1
            if range_header is not None:
                self.ranges.setdefault(key, []).append(range_header)
            if offset is not None:
                self.offsets.setdefault(key, []).append(offset)
            return self.requests[key], self.total

    def as_json(self):
        with self.lock:
            return json.dumps({"requests": self.requests, "ranges": self.ranges,
                               "offsets": self.offsets})


def safe_parts(path):
    """The components of a URL path, or None if one could leave the root."""
    parts = path.lstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return parts


def dtype_of(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    return "string"


class Handler(BaseHTTPRequestHandler):
    server_version = "ppr-upstream/1"

    def log_message(self, format, *args):  # quiet: tests read /_stats instead
        pass

    def send(self, status, body, ctype, headers=(), cut=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = True

    def send_json(self, status, obj, cut=None):
        self.send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                  "application/json", cut=cut)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path == "/_stats":
            self.send(200, self.server.stats.as_json().encode(), "application/json")
            return
        parts = safe_parts(path)
        if parts is None:
            self.send_json(400, {"error": "bad path"})
            return
        query = urllib.parse.parse_qs(url.query)
        rows = len(parts) == 2 and parts[1] == "rows"
        offset = None
        if rows:
            q = {k: query.get(k, [""])[0] for k in
                 ("dataset", "config", "split", "offset", "length")}
            key = "/%s/rows/%s/%s/%s" % (parts[0], q["dataset"], q["config"], q["split"])
            offset = int(q["offset"]) if q["offset"].isdigit() else -1
        else:
            key = path
        n, total = self.server.stats.count(key, self.headers.get("Range"), offset)
        try:
            self.answer(key, n, parts, q if rows else None)
        finally:
            limit = self.server.max_requests
            if limit and total >= limit:
                threading.Thread(target=self.server.shutdown, daemon=True).start()

    def answer(self, key, n, parts, q):
        fault = self.server.faults().get(key, {})
        fail = fault.get("fail", [])
        if "status" in fault:
            self.send_json(fault["status"], {"error": "injected status"})
        elif n <= len(fail):
            self.send_json(fail[n - 1], {"error": "injected failure %d" % n})
        elif "redirect" in fault:
            self.send(302, b"", "text/plain", [("Location", fault["redirect"])])
        else:
            cut = fault.get("cut_after") if n == len(fail) + 1 else None
            if q:
                self.serve_rows(parts[0], q, fault, cut)
            else:
                self.serve_file(parts, fault, cut)

    def serve_file(self, parts, fault, cut):
        file = os.path.join(self.server.root, *parts)
        if not os.path.isfile(file):
            self.send_json(404, {"error": "no such file"})
            return
        with open(file, "rb") as f:
            data = f.read()
        size = len(data)
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m is None or fault.get("ignore_range"):
            self.send(200, data, "application/octet-stream", cut=cut)
            return
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if start >= size or end < start:
            self.send(416, b"", "text/plain", [("Content-Range", "bytes */%d" % size)])
            return
        self.send(206, data[start:end + 1], "application/octet-stream",
                  [("Content-Range", "bytes %d-%d/%d" % (start, end, size))], cut=cut)

    def serve_rows(self, host, q, fault, cut):
        parts = safe_parts("/".join([host, "rows", q["dataset"], q["config"], q["split"]]))
        if parts is None:
            self.send_json(400, {"error": "bad dataset, config or split"})
            return
        file = os.path.join(self.server.root, *parts) + ".jsonl"
        if not (q["offset"].isdigit() and q["length"].isdigit()
                and 1 <= int(q["length"]) <= PAGE_MAX):
            self.send_json(422, {"error": "offset must be >= 0, length in 1..100"})
            return
        if not os.path.isfile(file):
            self.send_json(404, {"error": "the dataset does not exist"})
            return
        offset, length = int(q["offset"]), int(q["length"])
        if fault.get("missing_offset") == offset:
            self.send_json(404, {"error": "injected missing page"})
            return
        with open(file, encoding="utf-8") as f:
            all_rows = [json.loads(line) for line in f if line.strip()]
        first = all_rows[0] if all_rows else {}
        features = [{"feature_idx": i, "name": k,
                     "type": {"dtype": dtype_of(v), "_type": "Value"}}
                    for i, (k, v) in enumerate(first.items())]
        page = []
        for i in range(offset, min(offset + length, len(all_rows))):
            row, cells = dict(all_rows[i]), []
            if fault.get("truncate_row") == i and row:
                name = next(iter(row))
                cells = [name]
                if isinstance(row[name], str):
                    row[name] = row[name][:3]
            page.append({"row_idx": i, "row": row, "truncated_cells": cells})
        self.send_json(200, {"features": features, "rows": page,
                             "num_rows_total": len(all_rows),
                             "num_rows_per_page": PAGE_MAX, "partial": False}, cut=cut)


class Server(ThreadingHTTPServer):
    def __init__(self, port, root, max_requests):
        super().__init__(("127.0.0.1", port), Handler)
        self.root = root
        self.max_requests = max_requests
        self.stats = Stats()

    def faults(self):
        try:
            with open(os.path.join(self.root, "faults.json"), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}


def main():
    ap = argparse.ArgumentParser(description="loopback upstream for ppr's tests")
    ap.add_argument("--root", required=True, help="directory of DIR/HOST/PATH fixtures")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--timeout", type=float, default=300, help="stop after this many s")
    ap.add_argument("--max-requests", type=int, default=0, help="stop after n; 0: no bound")
    args = ap.parse_args()
    server = Server(args.port, os.path.abspath(args.root), args.max_requests)
    print("PORT %d" % server.server_address[1], flush=True)
    timer = threading.Timer(args.timeout, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever()
    finally:
        timer.cancel()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
