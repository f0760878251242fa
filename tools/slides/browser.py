"""Checking built decks in a real browser: a local HTTP server that records every request, and headless Chromium
with no route to any host but 127.0.0.1 (so a file that would come from a CDN fails, and is reported)."""
from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from .config import MATHJAX_JS, SlidesError
from .deck import Deck

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "run .ci/install-browser (Debian: apt-get install chromium) or set COURSE_BROWSER to a Chromium binary"


def find_browser() -> str | None:
    """A headless-capable Chromium: ``$COURSE_BROWSER``, else the first of chromium/chrome on PATH."""
    explicit = os.environ.get("COURSE_BROWSER")
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@dataclass
class Server:
    url: str
    requests: list[tuple[str, int]]   # (path, HTTP status), in order

    def failed(self) -> list[tuple[str, int]]:
        return [(p, c) for p, c in self.requests if c >= 400]


@contextlib.contextmanager
def serve(folder: str | Path) -> Iterator[Server]:
    """Serve `folder` on 127.0.0.1 (a free port) from a thread; records every request and its status."""
    record: list[tuple[str, int]] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            try:
                record.append((self.path, int(getattr(code, "value", code))))
            except (TypeError, ValueError):
                record.append((self.path, 0))

        def log_message(self, format, *args):  # quiet: the record above is the log
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Server(url=f"http://127.0.0.1:{httpd.server_address[1]}", requests=record)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@dataclass
class BrowserRun:
    returncode: int
    dom: str
    console: list[str]     # the page's console messages (chromium --enable-logging)


def run_browser(url: str, screenshot: str | Path | None = None, size: tuple[int, int] = (1280, 720),
                budget_ms: int = 8000, timeout: float = 90) -> BrowserRun:
    """Open `url` in headless Chromium with a fresh profile and no route to any host but 127.0.0.1; either save a
    screenshot or return the DOM after `budget_ms` of page time. Raises SlidesError if there is no browser."""
    browser = find_browser()
    if browser is None:
        raise SlidesError(f"no Chromium found: {INSTALL_HINT}.")
    with tempfile.TemporaryDirectory(prefix="course-chromium-") as profile:
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
                "--disable-extensions", "--no-default-browser-check", "--mute-audio", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}"]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        try:
            proc = subprocess.run(args + [url], capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise SlidesError(f"Chromium did not finish {url} within {timeout:.0f} s.") from e
    console = [m.group(1) for m in re.finditer(r":(?:INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[^\]]*\] (.*)", proc.stderr)]
    return BrowserRun(returncode=proc.returncode, dom="" if screenshot else proc.stdout, console=console)


@dataclass
class DeckCheck:
    deck: str
    ready: bool                  # reveal.js initialised (.reveal.ready)
    math_ok: bool | None         # MathJax SVG present and no error (None: the deck has no math)
    failed_requests: list[tuple[str, int]]
    failed_resources: list[str]  # reported by the page itself (any host, e.g. a CDN)

    @property
    def ok(self) -> bool:
        return self.ready and self.math_ok is not False and not self.failed_requests and not self.failed_resources


def math_rendered(dom: str) -> bool:
    """MathJax produced SVG output and reported no TeX error."""
    return bool(re.search(r'<mjx-container[^>]*jax="SVG"', dom)) and "<svg" in dom \
        and not re.search(r'<g[^>]*data-mml-node="merror"', dom) and "data-mjx-error" not in dom


def reveal_ready(dom: str) -> bool:
    m = re.search(r'<div class="([^"]*\breveal\b[^"]*)"', dom)
    return bool(m and "ready" in m.group(1).split())


def site_root(path: str | Path) -> Path:
    """The folder to serve for a built deck: the nearest one above it holding ``vendor/`` (``build/slides`` for
    ``build/slides/lectures/x.html``), else the deck's own folder."""
    path = Path(path).resolve()
    for folder in (path.parent, path.parent.parent):
        if (folder / "vendor").is_dir():
            return folder
    return path.parent


def deck_url(server: Server, path: str | Path) -> str:
    """The address of a built deck on a server of :func:`site_root`."""
    path = Path(path).resolve()
    return f"{server.url}/{path.relative_to(site_root(path)).as_posix()}"


def check_deck(path: str | Path, deck: Deck | None = None, budget_ms: int = 8000) -> DeckCheck:
    """Open a built deck from a local server in headless Chromium (its :func:`site_root` served) and report."""
    path = Path(path)
    with serve(site_root(path)) as server:
        run = run_browser(f"{deck_url(server, path)}#/0", budget_ms=budget_ms)
        failed = server.failed()
    has_math = deck.has_math if deck is not None else MATHJAX_JS in path.read_text(encoding="utf-8")
    resources = [c for c in run.console if "resource failed" in c]
    return DeckCheck(deck=path.name, ready=reveal_ready(run.dom), math_ok=math_rendered(run.dom) if has_math else None,
                     failed_requests=failed, failed_resources=resources)

