"""Headless Chromium driven over the Chrome DevTools Protocol, for the report tests; no test here.

Debian's `chromium` package (installed by `make install-browser`, which `make test` runs; CI runs as
root) is started with a fresh profile and `--remote-debugging-port=0`; the port it chose is read from
DevToolsActivePort in the profile, and one page target is driven with websocket-client. Console
errors, uncaught exceptions, log entries of level error and every network request are recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path

import websocket

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--disable-extensions", "--remote-allow-origins=*", "--hide-scrollbars", "--mute-audio",
)


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, ("Debian's chromium is needed by the report tests: `make install-browser` "
                  "(apt-get install chromium, as root)")
    return path


@dataclass
class PageRun:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser:
    """One headless Chromium and one page, over CDP."""

    def __init__(self, width: int = 1280, height: int = 1000):
        self.profile = tempfile.mkdtemp(prefix="report-chromium-")
        self.proc = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._port()
        page = self._page_target(port)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def _port(self, timeout: float = 30.0) -> int:
        marker = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.proc.returncode}")
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    @staticmethod
    def _page_target(port: int, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                assert pages, "chromium shows no page target"
                return pages[0]
            time.sleep(0.1)

    def call(self, method: str, **params):
        self._id += 1
        mine = self._id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mine:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        for i, event in enumerate(self.events):
            if event["method"] == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("method") == method:
                return msg
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(f"no {method} within {timeout} s")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path, settle: str = "true", timeout: float = 60.0) -> PageRun:
        """Load a file, wait for its load event and until the JavaScript expression `settle` is true."""
        self.events.clear()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired", timeout)
        deadline = time.monotonic() + timeout
        while not self.evaluate(settle):
            assert time.monotonic() < deadline, f"the page did not settle: {settle}"
            time.sleep(0.2)
        self.call("Runtime.evaluate", expression="1")  # collect the events sent so far
        run = PageRun()
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                run.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                run.console_errors.append(p["exceptionDetails"].get("text", "") + " "
                                          + str(p["exceptionDetails"].get("exception", {}).get("description")))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                run.console_errors.append(p["entry"]["text"])
            elif e["method"] == "Network.requestWillBeSent":
                run.requests.append(p["request"]["url"])
        return run

    def screenshot(self, out: Path) -> Path:
        """The whole page as a PNG."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        out.write_bytes(b64decode(shot["data"]))
        return out

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


# what the report's plots hold, read from plotly's graph divs: id, points per trace, annotation texts
PLOTS_JS = """JSON.stringify([...document.querySelectorAll('.plotly-graph-div')].map(gd => ({
  id: gd.id,
  points: (gd.data || []).map(t => Math.max((t.x || []).length, (t.y || []).length, (t.z || []).length)),
  annotations: ((gd.layout && gd.layout.annotations) || []).map(a => a.text),
})))"""
# every graph div drawn by plotly (it adds the class when the plot is made)
PLOTS_DRAWN_JS = """(() => {
  const divs = [...document.querySelectorAll('.plotly-graph-div')];
  return divs.length > 0 && divs.every(gd => gd.classList.contains('js-plotly-plot') && gd._fullLayout !== undefined);
})()"""
