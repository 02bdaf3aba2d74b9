"""An HTTP proxy in front of the simulated exchange that rewrites chosen answers, as a faulty network
or a broken exchange release would: the ingester sees real HTTP and real JSON, only changed where a
test says so. `rewrite(method, params, body) -> body` gets the parsed JSON envelope of each answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import orjson
import requests

Rewrite = Callable[[str, dict, dict], dict]


class RewritingProxy:
    def __init__(self, upstream: str, rewrite: Rewrite):
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.calls: list[tuple[str, dict]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def do_GET(self):  # noqa: N802 (http.server's name)
                url = urlsplit(self.path)
                upstream = requests.get(proxy.upstream + self.path, timeout=30)
                body = upstream.content
                method = url.path.rsplit("/", 1)[-1]
                params = dict(parse_qsl(url.query))
                proxy.calls.append((method, params))
                try:
                    envelope = orjson.loads(body)
                except orjson.JSONDecodeError:
                    envelope = None
                if isinstance(envelope, dict) and "result" in envelope:
                    body = orjson.dumps(proxy.rewrite(method, params, envelope))
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "RewritingProxy":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)
