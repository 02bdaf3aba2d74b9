"""HTTP transport of the simulated exchange: hosts, rate limiting, fault injection, admin endpoints.

URLs (one server plays both Deribit hosts)::

    http://HOST:PORT/api/v2/public/<method>?<query>           www.deribit.com
    http://HOST:PORT/history/api/v2/public/<method>?<query>   history.deribit.com
    POST http://HOST:PORT/api/v2  {"jsonrpc":"2.0","id":1,"method":"public/<m>","params":{...}}

Admin endpoints (never rate limited, never faulted, not counted)::

    GET  /_sim/stats          counters (see Stats.snapshot)
    POST /_sim/stats/reset    zero the counters
    GET  /_sim/faults         current fault spec
    POST /_sim/faults         body: a fault spec (text) or {"spec": "..."}
    GET  /_sim/config         seed, clock, rate limiting, API options
    POST /_sim/config         JSON with any of: now, rate_limit, rate_limit_status, archive_after_days,
                              expired_window_days, lower_bound_exclusive, funding_lower_bound_exclusive,
                              summary_mark_iv_missing, instruments_state_missing, json_variety,
                              fault_delay, faults

Answers vary like real ones (``json_variety``, on by default): envelope and error key order, whole
numbers as ints or floats, small numbers in exponent form; see :func:`vary_numbers`.

Fault SPEC
----------
Comma-separated ``key:value`` items, e.g.
``"11094:0.05,500:0.02,502:0.01,timeout:0.01,reset:0.01,truncate:0.01,malformed:0.01,badtypes:0.01,nan:0.01"``.

* probabilities (fraction of API requests), drawn deterministically from ``(seed, request number)``:
  ``11094`` (and any other retryable code: ``10040 13028 13888 10066 11051``) JSON-RPC error with
  HTTP 400; ``500``/``502``/``503``/``504`` an HTML error page with that status; ``timeout`` the
  answer is delayed by ``delay`` seconds; ``reset`` the TCP connection is reset without an answer;
  ``truncate`` the JSON body is cut in half (with a matching Content-Length); ``malformed`` a
  syntax error in the JSON; ``badtypes`` numbers become strings and one array becomes null;
  ``nan`` a number is replaced by the literal ``NaN``.
* ``delay:SECONDS`` (default 15) for ``timeout``.
* ``settlement:SECONDS|on|off``: answer 10041 settlement_in_progress within SECONDS (default 5,
  ``on``) of 08:00:00 UTC on the simulator clock. On by default, also when a spec is given without it.
* ``seed:N`` overrides the fault seed (default: the market seed).
* ``none`` or an empty spec: no probabilistic faults.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import socket
import struct
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import orjson

from ingest.sim.api import ApiConfig, Exchange, RawJson, RpcError
from ingest.sim.market import DAY_MS, HOUR_MS, Market

RETRYABLE_CODES = {11094: "internal_server_error", 10040: "retry", 13028: "temporarily_unavailable",
                   13888: "timed_out", 10066: "too_many_concurrent_requests", 11051: "system_maintenance"}
HTTP_FAULTS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
OTHER_FAULTS = ("timeout", "reset", "truncate", "malformed", "badtypes", "nan")
REQUEST_COST = 500
CREDIT_POOL = 50_000
CREDIT_REFILL = 10_000
_JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY


# ----------------------------------------------------------------------------- process tuning

def tune_malloc() -> bool:
    """For a process that serves the simulator: keep freed memory in the heap (glibc) instead of
    returning it to the system and faulting it back in for every request's numpy arrays (a cold
    chart-data request otherwise spends ~1 ms of system time in page faults).  No-op elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
        ok &= libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        ok &= libc.mallopt(-8, 2)  # M_ARENA_MAX: one request computes at a time anyway
        return bool(ok)
    except (OSError, AttributeError):
        return False


# ----------------------------------------------------------------------------- clock

def parse_now(spec: str | int | None) -> int | None:
    """``wall``/None → None (follow the wall clock); an ISO instant or epoch ms → frozen ms."""
    if spec is None or spec == "wall":
        return None
    if isinstance(spec, int):
        return spec
    text = str(spec).strip()
    if text.isdigit():
        return int(text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


class Clock:
    def __init__(self, spec="wall"):
        self.set(spec)

    def set(self, spec):
        self.frozen = parse_now(spec)

    def now_ms(self) -> int:
        return self.frozen if self.frozen is not None else int(time.time() * 1000)

    def describe(self) -> str:
        return "wall" if self.frozen is None else datetime.fromtimestamp(
            self.frozen / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------------------- faults

class FaultSpec:
    def __init__(self, spec: str | None = None, seed: int = 0):
        self.text = spec or ""
        self.probs: list[tuple[str, float]] = []
        self.delay = 15.0
        self.settlement_s = 5.0
        self.seed = seed
        self.counter = 0
        self.lock = threading.Lock()
        if not spec or spec.strip() in ("", "none", "off"):
            return
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            if ":" not in item:
                raise ValueError(f"fault spec item needs key:value: {item!r}")
            key, val = (x.strip() for x in item.split(":", 1))
            if key == "delay":
                self.delay = float(val)
            elif key == "settlement":
                self.settlement_s = 5.0 if val == "on" else 0.0 if val == "off" else float(val)
            elif key == "seed":
                self.seed = int(val)
            elif key.isdigit() and (int(key) in RETRYABLE_CODES or int(key) in HTTP_FAULTS):
                self.probs.append((key, float(val)))
            elif key in OTHER_FAULTS:
                self.probs.append((key, float(val)))
            else:
                raise ValueError(f"unknown fault kind {key!r}")
        if sum(p for _, p in self.probs) > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")

    def draw(self) -> str | None:
        if not self.probs:
            return None
        with self.lock:
            n = self.counter
            self.counter += 1
        h = hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=8).digest()
        u = int.from_bytes(h, "little") / 2 ** 64
        acc = 0.0
        for kind, p in self.probs:
            acc += p
            if u < acc:
                return kind
        return None

    def in_settlement(self, now_ms: int) -> bool:
        if self.settlement_s <= 0:
            return False
        off = (now_ms - 8 * HOUR_MS) % DAY_MS
        w = self.settlement_s * 1000
        return off <= w or off >= DAY_MS - w


# ----------------------------------------------------------------------------- rate limits

class RateLimiter:
    """Per-client token buckets: credits (500/request, 50,000 pool, 10,000/s) and get_instruments."""

    def __init__(self, cost=REQUEST_COST, pool=CREDIT_POOL, refill=CREDIT_REFILL, instruments_rate=1.0,
                 instruments_burst=5.0):
        self.cost, self.pool, self.refill = cost, pool, refill
        self.irate, self.iburst = instruments_rate, instruments_burst
        self.buckets: dict = {}
        self.lock = threading.Lock()

    def _take(self, key, cap, rate, cost, t):
        tokens, last = self.buckets.get(key, (cap, t))
        tokens = min(cap, tokens + (t - last) * rate)
        if tokens < cost:
            self.buckets[key] = (tokens, t)
            return False
        self.buckets[key] = (tokens - cost, t)
        return True

    def allow(self, client: str, method: str) -> bool:
        t = time.monotonic()
        with self.lock:
            if method == "get_instruments":
                tokens, last = self.buckets.get((client, "gi"), (self.iburst, t))
                tokens = min(self.iburst, tokens + (t - last) * self.irate)
                if tokens < 1:
                    self.buckets[(client, "gi")] = (tokens, t)
                    return False
                if not self._take((client, "c"), self.pool, self.refill, self.cost, t):
                    self.buckets[(client, "gi")] = (tokens, t)
                    return False
                self.buckets[(client, "gi")] = (tokens - 1, t)
                return True
            return self._take((client, "c"), self.pool, self.refill, self.cost, t)


# ----------------------------------------------------------------------------- stats

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.total = 0
            self.credits = 0
            self.by_method = defaultdict(int)
            self.by_host = defaultdict(int)
            self.by_outcome = defaultdict(int)
            self.by_method_outcome = defaultdict(lambda: defaultdict(int))
            self.by_host_method = defaultdict(lambda: defaultdict(int))
            self.by_client = defaultdict(int)
            self.started = time.time()

    def record(self, host, method, outcome, client, credits):
        with self.lock:
            self.total += 1
            self.credits += credits
            self.by_method[method] += 1
            self.by_host[host] += 1
            self.by_outcome[outcome] += 1
            self.by_method_outcome[method][outcome] += 1
            self.by_host_method[host][method] += 1
            self.by_client[client] += 1

    def snapshot(self) -> dict:
        with self.lock:
            return {"requests_total": self.total, "credits": self.credits, "by_method": dict(self.by_method),
                    "by_host": dict(self.by_host), "by_outcome": dict(self.by_outcome),
                    "by_method_outcome": {k: dict(v) for k, v in self.by_method_outcome.items()},
                    "by_host_method": {k: dict(v) for k, v in self.by_host_method.items()},
                    "by_client": dict(self.by_client), "since": self.started}


# ----------------------------------------------------------------------------- corruption helpers

def _json_default(x):
    if isinstance(x, RawJson):
        return orjson.Fragment(x.raw)
    raise TypeError(type(x).__name__)


def _has_raw(result) -> bool:
    return isinstance(result, dict) and any(isinstance(v, RawJson) for v in result.values())


def _to_plain(x):
    if isinstance(x, RawJson):
        return x.value()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, dict):
        return {k: _to_plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_to_plain(v) for v in x]
    return x


def _bad_types(result):
    """Numbers become strings and the first array becomes null (deterministic)."""
    result = _to_plain(result)

    def conv(v):
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    if isinstance(result, dict):
        out = {}
        nulled = False
        for k, v in result.items():
            if isinstance(v, list) and not nulled:
                out[k] = None
                nulled = True
            else:
                out[k] = conv(v)
        return out
    return conv(result)


_NUM_RE = re.compile(rb'(?<=[:\[,])-?\d+\.\d+(?:[eE][-+]?\d+)?')


# ----------------------------------------------------------------------------- JSON variety
# Real answers mix number forms (a whole number as 7834 or 7834.0 in the same object, 2.0e-5 or 0.00002)
# and vary the envelope's key order.  With ``json_variety`` on, each answer is varied deterministically
# from (seed, request number), so a client that infers a type or an order from one sample fails here.

# the digits after ":0.000" of a small decimal (0.00002 -> "02"): more zeros, then the significant digits
_SMALL_TAIL = re.compile(rb'(0*)([1-9]\d*)(?=[,}\]])')

# envelope orders seen: docs/ccxt (jsonrpc, id, result, usIn, usOut, usDiff, testnet), a 2026 capture
# (usOut, usIn, usDiff, testnet, result, jsonrpc), errors (jsonrpc, error, testnet, usIn, usOut, usDiff)
_ENVELOPE_ORDERS = (
    ("jsonrpc", "id", "body", "usIn", "usOut", "usDiff", "testnet"),
    ("usOut", "usIn", "usDiff", "testnet", "body", "jsonrpc", "id"),
    ("jsonrpc", "body", "testnet", "usIn", "usOut", "usDiff", "id"),
    ("jsonrpc", "id", "usIn", "usOut", "usDiff", "testnet", "body"),
)
_ERROR_ORDERS = (("code", "message", "data"), ("code", "data", "message"), ("message", "data", "code"))


def _variety_bits(seed: int, n: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"json:{seed}:{n}".encode(), digest_size=8).digest(), "little")


def vary_numbers(body: bytes, bits: int) -> bytes:
    """Write some whole floats as ints (``7834.0`` -> ``7834``) and some small decimals of object values
    in exponent notation (``0.00002`` -> ``2.0e-5``, ``0.00016433`` -> ``1.6433e-4``), chosen from ``bits``
    by the number's position in the body.  The values are unchanged.

    orjson writes a whole float as ``7834.0`` and nothing else in our answers contains ``.0,``, ``.0}`` or
    ``.0]`` (names, ids and dates have no decimal point), so splitting on those is exact and much
    cheaper than a regular expression over a 300 KB answer."""
    k = 0
    for end in (b",", b"}", b"]"):
        token = b".0" + end
        if token not in body:
            continue
        parts = body.split(token)
        out = [parts[0]]
        for part in parts[1:]:
            k += 1
            out.append(end if (bits >> (k * 7 % 61)) & 1 else token)
            out.append(part)
        body = b"".join(out)
    if b":0.000" in body:
        parts = body.split(b":0.000")
        out = [parts[0]]
        for part in parts[1:]:
            k += 1
            m = _SMALL_TAIL.match(part)
            if m is None or not (bits >> (k * 7 % 61)) & 1:
                out += (b":0.000", part)
                continue
            zeros, digits = m.group(1), m.group(2)
            mant = digits[:1] + b"." + (digits[1:] or b"0")
            out += (b":" + mant + b"e-" + str(len(zeros) + 4).encode(), part[m.end():])
        body = b"".join(out)
    return body


def _envelope(parts: dict, bits: int) -> dict:
    order = _ENVELOPE_ORDERS[bits % len(_ENVELOPE_ORDERS)]
    return {k if k != "body" else parts["body_key"]: parts[k] for k in order if k in parts}


# ----------------------------------------------------------------------------- server

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "deribit-sim"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet unless verbose
        if getattr(self.server, "verbose", False):
            super().log_message(fmt, *args)

    # ---------------------------------------------------------------- plumbing
    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover
            pass

    def _send(self, status: int, body: bytes, ctype="application/json", length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        # headers and body in one write: no small-packet / delayed-ACK stalls on keep-alive connections
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body)
        self.flush_headers()

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, verb):
        sim: SimServer = self.server.sim
        url = urlsplit(self.path)
        path = url.path
        if path.startswith("/_sim/"):
            return self._admin(verb, path, sim)
        host = "www"
        if path.startswith("/history/"):
            host, path = "history", path[len("/history"):]
        if not path.startswith("/api/v2"):
            return self._send(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        delay = sim.latency_s(host)
        if delay:
            time.sleep(delay)  # the distance to the exchange: each request thread waits on its own
        req_id = None
        if verb == "POST":
            raw = self._read_body()
            try:
                msg = orjson.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError
            except Exception:
                return self._rpc_error(sim, host, "?", RpcError(-32700, "Parse error"), None)
            req_id = msg.get("id")
            full = msg.get("method") or ""
            params = msg.get("params") or {}
            method = full[len("public/"):] if full.startswith("public/") else "?" + full
            if not isinstance(params, dict):
                return self._rpc_error(sim, host, method, RpcError(-32602, "Invalid params"), req_id)
        else:
            rest = path[len("/api/v2"):]
            method = rest[len("/public/"):] if rest.startswith("/public/") else "?" + rest.strip("/")
            params = dict(parse_qsl(url.query, keep_blank_values=True))
        self._api(sim, host, method, params, req_id)

    def _rpc_error(self, sim, host, method, err: RpcError, req_id, outcome="error", status=400, credits=0):
        now_us = sim.clock.now_ms() * 1000
        error = err.body()
        parts = {"jsonrpc": "2.0", "body_key": "error", "body": error, "usIn": now_us, "usOut": now_us + 7,
                 "usDiff": 7, "testnet": False}
        if req_id is not None:
            parts["id"] = req_id
        if sim.api_config.json_variety:
            bits = _variety_bits(sim.seed, sim.next_request_number())
            error = {k: error[k] for k in _ERROR_ORDERS[(bits >> 3) % 3] if k in error}
            parts["body"] = error
            body = _envelope(parts, bits)
        else:
            body = _envelope(parts, 0)
        sim.stats_obj.record(host, method, outcome, self.client_address[0], credits)
        self._send(status, orjson.dumps(body))

    def _api(self, sim: "SimServer", host, method, params, req_id):
        t0 = time.perf_counter()
        now = sim.clock.now_ms()
        client = self.client_address[0]
        if sim.rate_limit and not sim.limiter.allow(client, method):
            return self._rpc_error(sim, host, method, RpcError(10028, "too_many_requests"), req_id,
                                   "rate_limited", sim.rate_limit_status)
        credits = REQUEST_COST
        faults = sim.faults
        if faults.in_settlement(now) and not method.startswith("?"):
            return self._rpc_error(sim, host, method, RpcError(10041, "settlement_in_progress"), req_id,
                                   "fault_10041", 400, credits)
        fault = faults.draw()
        if fault is not None and fault.isdigit():
            code = int(fault)
            if code in HTTP_FAULTS:
                sim.stats_obj.record(host, method, "fault_" + fault, client, credits)
                title = f"{code} {HTTP_FAULTS[code]}"
                html = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>"
                        f"\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n").encode()
                return self._send(code, html, "text/html")
            return self._rpc_error(sim, host, method, RpcError(code, RETRYABLE_CODES[code]), req_id,
                                   "fault_" + fault, 400, credits)
        if fault == "reset":
            sim.stats_obj.record(host, method, "fault_reset", client, credits)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if fault == "timeout":
            time.sleep(faults.delay)
        try:
            # one request at a time computes (the GIL allows no more anyway): no interleaving of
            # numpy-heavy requests, which costs CPU in cache misses and GIL hand-overs
            with sim.work_lock:
                result = sim.exchange.call(method, params, host, now)
        except RpcError as e:
            return self._rpc_error(sim, host, method, e, req_id, "error", 400, credits)
        except Exception as e:  # a bug in the simulator: answer like Deribit would, but loudly
            import traceback
            traceback.print_exc()
            return self._rpc_error(sim, host, method, RpcError(11094, "internal_server_error",
                                                               {"reason": type(e).__name__}), req_id,
                                   "sim_bug", 400, credits)
        if fault == "badtypes":
            result = _bad_types(result)
        now_us = now * 1000
        dt = max(1, int((time.perf_counter() - t0) * 1e6))
        parts = {"jsonrpc": "2.0", "body_key": "result", "body": result, "usIn": now_us, "usOut": now_us + dt,
                 "usDiff": dt, "testnet": False}
        if req_id is not None:
            parts["id"] = req_id
        bits = _variety_bits(sim.seed, sim.next_request_number()) if sim.api_config.json_variety else 0
        body = orjson.dumps(_envelope(parts, bits), default=_json_default, option=_JSON_OPTS)
        if bits and not _has_raw(result):  # chart data already writes whole numbers as ints
            body = vary_numbers(body, bits)
        outcome = "ok" if fault in (None, "timeout") else "fault_" + fault
        sim.stats_obj.record(host, method, outcome, client, credits)
        if fault == "truncate":
            body = body[: max(1, len(body) // 2)]
        elif fault == "malformed":
            body = body.replace(b'"result":', b'"result":,', 1)
        elif fault == "nan":
            body = _NUM_RE.sub(b"NaN", body, count=1)
        self._send(200, body)

    # ---------------------------------------------------------------- admin
    def _admin(self, verb, path, sim: "SimServer"):
        try:
            if path == "/_sim/stats" and verb == "GET":
                return self._send(200, orjson.dumps(sim.stats_obj.snapshot()))
            if path == "/_sim/stats/reset" and verb == "POST":
                sim.stats_obj.reset()
                return self._send(200, b'{"ok":true}')
            if path == "/_sim/faults":
                if verb == "POST":
                    raw = self._read_body().decode().strip()
                    if raw.startswith("{"):
                        raw = orjson.loads(raw).get("spec") or ""
                    sim.set_faults(raw)
                return self._send(200, orjson.dumps({"spec": sim.faults.text,
                                                     "settlement_seconds": sim.faults.settlement_s,
                                                     "delay": sim.faults.delay}))
            if path == "/_sim/config":
                if verb == "POST":
                    sim.configure(**orjson.loads(self._read_body() or b"{}"))
                return self._send(200, orjson.dumps(sim.config()))
        except (ValueError, TypeError) as e:
            return self._send(400, orjson.dumps({"error": str(e)}))
        self._send(404, b'{"error":"unknown admin endpoint"}')


def _share(v) -> float:
    x = float(v)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"a share must be within 0..1, got {v!r}")
    return x


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class SimServer:
    """The simulated exchange over HTTP, usable in-process.

    >>> with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=False, port=0) as sim:
    ...     requests.get(sim.api_url + "/public/get_time").json()["result"]
    """

    def __init__(self, seed: int = 0, now: str | int | None = "wall", rate_limit: bool = True,
                 faults: str | None = None, port: int = 0, host: str = "127.0.0.1",
                 rate_limit_status: int = 400, fault_delay: float | None = None,
                 archive_after_days: float = 7.0, expired_window_days: float = 30.0,
                 lower_bound_exclusive: bool = True, instruments_burst: float = 5.0, verbose: bool = False,
                 market: Market | None = None, funding_lower_bound_exclusive: bool = True,
                 summary_mark_iv_missing: float = 0.25, instruments_state_missing: float = 0.2,
                 json_variety: bool = True, latency_ms: float = 0.0, history_latency_ms: float | None = None):
        self.seed = int(seed)
        # a fixed delay before every answer (ms), per host: the round trip to a distant exchange
        self.latency_ms = {"www": float(latency_ms),
                           "history": float(latency_ms if history_latency_ms is None else history_latency_ms)}
        if min(self.latency_ms.values()) < 0:
            raise ValueError("latency must be >= 0 ms")
        self.market = market or Market(self.seed)
        self.api_config = ApiConfig(expired_window_days=expired_window_days, archive_after_days=archive_after_days,
                                    lower_bound_exclusive=lower_bound_exclusive,
                                    funding_lower_bound_exclusive=funding_lower_bound_exclusive,
                                    summary_mark_iv_missing=_share(summary_mark_iv_missing),
                                    instruments_state_missing=_share(instruments_state_missing),
                                    json_variety=bool(json_variety))
        self._requests = itertools.count()
        self.exchange = Exchange(self.market, self.api_config, raw_json=True)
        self.work_lock = threading.Lock()
        self.clock = Clock(now)
        self.rate_limit = bool(rate_limit)
        if rate_limit_status not in (400, 429):
            raise ValueError("rate_limit_status must be 400 or 429")
        self.rate_limit_status = rate_limit_status
        self.limiter = RateLimiter(instruments_burst=instruments_burst)
        self._fault_delay = fault_delay
        self.set_faults(faults)
        self.stats_obj = Stats()
        self._host, self._port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.verbose = verbose

    def latency_s(self, host: str) -> float:
        return self.latency_ms.get(host, 0.0) / 1000.0

    def next_request_number(self) -> int:
        return next(self._requests)  # atomic under the GIL

    def stats(self) -> dict:
        """The counters served at /_sim/stats, as a dict."""
        return self.stats_obj.snapshot()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "SimServer":
        self._httpd = _HTTPServer((self._host, self._port), _Handler)
        self._httpd.sim = self
        self._httpd.verbose = self.verbose
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"deribit-sim:{self._port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self):
        self._httpd = _HTTPServer((self._host, self._port), _Handler)
        self._httpd.sim = self
        self._httpd.verbose = self.verbose
        self._port = self._httpd.server_address[1]
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- URLs
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v2"

    @property
    def history_url(self) -> str:
        return self.base_url + "/history/api/v2"

    # ---------------------------------------------------------------- control
    def set_faults(self, spec: str | None):
        f = FaultSpec(spec, self.seed)
        if self._fault_delay is not None and "delay:" not in (spec or ""):
            f.delay = self._fault_delay
        self.faults = f

    def set_now(self, now):
        self.clock.set(now)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def reset_stats(self):
        self.stats_obj.reset()

    def get_stats(self) -> dict:
        return self.stats_obj.snapshot()

    def configure(self, **kw):
        for k, v in kw.items():
            if k == "now":
                self.set_now(v)
            elif k == "rate_limit":
                self.rate_limit = bool(v)
            elif k == "rate_limit_status":
                if int(v) not in (400, 429):
                    raise ValueError("rate_limit_status must be 400 or 429")
                self.rate_limit_status = int(v)
            elif k == "fault_delay":
                self._fault_delay = float(v)
                self.faults.delay = float(v)
            elif k in ("archive_after_days", "expired_window_days"):
                setattr(self.api_config, k, float(v))
            elif k in ("lower_bound_exclusive", "funding_lower_bound_exclusive", "json_variety"):
                setattr(self.api_config, k, bool(v))
            elif k in ("summary_mark_iv_missing", "instruments_state_missing"):
                setattr(self.api_config, k, _share(v))
            elif k == "faults":
                self.set_faults(v)
            elif k in ("latency_ms", "history_latency_ms"):
                if float(v) < 0:
                    raise ValueError("latency must be >= 0 ms")
                if k == "latency_ms":
                    self.latency_ms = {"www": float(v), "history": float(v)}
                else:
                    self.latency_ms["history"] = float(v)
            else:
                raise ValueError(f"unknown setting {k!r}")

    def config(self) -> dict:
        return {"seed": self.seed, "now": self.clock.describe(), "now_ms": self.clock.now_ms(),
                "rate_limit": self.rate_limit, "rate_limit_status": self.rate_limit_status,
                "faults": self.faults.text, "fault_delay": self.faults.delay,
                "settlement_seconds": self.faults.settlement_s,
                "archive_after_days": self.api_config.archive_after_days,
                "expired_window_days": self.api_config.expired_window_days,
                "lower_bound_exclusive": self.api_config.lower_bound_exclusive,
                "funding_lower_bound_exclusive": self.api_config.funding_lower_bound_exclusive,
                "summary_mark_iv_missing": self.api_config.summary_mark_iv_missing,
                "instruments_state_missing": self.api_config.instruments_state_missing,
                "json_variety": self.api_config.json_variety,
                "latency_ms": self.latency_ms["www"], "history_latency_ms": self.latency_ms["history"],
                "api_url": self.api_url, "history_url": self.history_url}
