"""A real headless Chromium for tests, driven over the DevTools protocol on a pipe.

The binary comes from DSARCTL_TEST_CHROMIUM (e.g. /usr/bin/chromium from Debian's chromium). Without it
the browser tests skip, saying why; with DSARCTL_TEST_REQUIRE_SERVERS=1 (set by .ci/run) they fail.

Why the protocol on a pipe (`--remote-debugging-pipe`: JSON messages separated by NUL bytes, the browser
reads them on fd 3 and answers on fd 4) rather than `--dump-dom` or selenium: the page under test forbids
scripts (its Content-Security-Policy), so a script cannot be injected into the page itself without
changing what is tested, while `Runtime.evaluate` measures the real page; the protocol also sets an
exact phone-sized viewport (`Emulation.setDeviceMetricsOverride`, which `--window-size` cannot go down
to) and takes screenshots. A pipe needs no port, no websocket client and no extra package;
selenium would add a dependency and chromedriver only to reach the same protocol.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ENV = "DSARCTL_TEST_CHROMIUM"
TIMEOUT = 60.0


def chromium_binary() -> str:
    """The Chromium binary to test with; skips (or, when servers are required, fails) without one."""
    from helpers import required_binary

    return required_binary(ENV, "/usr/bin/chromium, from Debian's chromium", "browser")


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page; `with Browser(binary) as b: b.open(url, width=390)`."""

    def __init__(self, binary: str):
        self.profile = Path(tempfile.mkdtemp(prefix="dsarctl-chromium-"))
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def onto_fds_3_and_4():  # in the child, before exec
            # move both ends above 4 first, so that placing one cannot close the other
            r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [binary, "--headless", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--hide-scrollbars", "--font-render-hinting=none", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.log = self.profile / "stderr.log"
        with open(self.log, "wb") as err:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                            preexec_fn=onto_fds_3_and_4, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Page.enable", session=True)
        except BaseException:
            self.close()
            raise

    # protocol
    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError(f"no answer from Chromium within {TIMEOUT:.0f} s:\n{self.stderr()}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited ({self.process.poll()}):\n{self.stderr()}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def _wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._receive())

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    # page
    def open(self, url: str, width: int, height: int = 800, mobile: bool | None = None) -> None:
        """Load `url` in a viewport `width` CSS pixels wide (a phone's, with its viewport meta tag
        honoured, below 800)."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 800 if mobile is None else mobile)
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self._wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, clip_height: int | None = None) -> bytes:
        """A PNG of the whole page (not only the viewport), or of its top `clip_height` pixels,
        written to `path`."""
        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": clip_height or size["height"], "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", session=True, format="png",
                                          captureBeyondViewport=True, clip=clip)["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
