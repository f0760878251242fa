"""A fresh Colab runtime, simulated on this machine: the pieces ``benchmarks/simulated_colab.py`` runs the labs with.

What a learner's first Colab session has, and how each part is stood in for here (no code path of the kit exists only
for this; the kit is driven through its documented settings):

- **No kit installed.** Each lab gets a new virtual environment (no pip of its own) that sees the packages of the
  environment running this tool (torch, timm, ...: what Colab preinstalls) through one ``.pth`` line pointing at a
  folder of symlinks to them, *without* course_lib (neither its modules nor its metadata). The lab's first cell then
  ``pip install``\\ s the kit, as on Colab, into that throw-away environment only.
- **The kit's repository.** A copy of the checkout's installable part (``pyproject.toml``, ``README.md``,
  ``LICENSE``, ``course_lib/``) whose ``COURSE_REPO`` names that folder: ``colab.install_spec`` installs a local
  folder as it is (a classroom mirror). Each lab's first cell gets ``KIT = "<that folder>"`` in a copy of the lab.
  pip runs with ``PIP_NO_INDEX`` (no index: every dependency must already be there, nothing is upgraded) and without
  build isolation (setuptools comes from the environment); pip never uninstalls outside the environment it runs in.
- **Google's kernel module.** ``google.colab`` (with ``output.enable_custom_widget_manager``) is a stub on
  ``PYTHONPATH``, imported at kernel start by an IPython startup file, as Colab's kernel does; ``COLAB_RELEASE_TAG``
  is set.
- **Empty disks.** ``COURSE_DATA_DIR``, ``COURSE_CACHE_DIR``, ``TORCH_HOME``, ``HF_HOME`` are new empty folders;
  nothing beside the checkout (``../shared``) is visible: the kit is installed from a copy outside the checkout and
  the labs run from a folder of their own.
- **The origin.** The course archives are served from 127.0.0.1 (:func:`serve_origin`) and the kit reaches them
  through its mirror setting ``COURSE_DATA_URL``. Every request is logged with its status and bytes. The kernel's
  HTTP(S) proxy is that same server, so a request to any other host lands there too, is refused (403) and logged
  as foreign: :func:`foreign_requests`. ``COURSE_OFFLINE=1`` as in CI (a server on 127.0.0.1 stays reachable).

The environment running this tool is only read: its packages are reached through symlinks, bytecode is not written
(``PYTHONDONTWRITEBYTECODE``), and pip installs into the runtime's own environment.
"""
from __future__ import annotations

import ast
import functools
import json
import os
import re
import shutil
import sysconfig
import threading
import time
import venv
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from course_lib import datapacks

KIT_FILES = ("pyproject.toml", "README.md", "LICENSE", "course_lib")
KIT_NAMES = ("course_lib", "course_lib-", "__editable__.course_lib", "__editable___course_lib")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_KIT_LINE = re.compile(r'^KIT = "[^"\n]*"', re.M)
_REPO_LINE = re.compile(r'^COURSE_REPO = "[^"\n]*"', re.M)
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")


class SimulationError(RuntimeError):
    """The simulated runtime could not be set up as described (a lab without its Colab cell, a setting not found)."""


# --------------------------------------------------------------------------- the origin server and its log
@dataclass
class Origin:
    """The running origin: its address (``url``), its ``host:port``, and the request log (one dict per request:
    method, host, path, status, bytes sent)."""

    url: str
    host: str
    log: list[dict] = field(default_factory=list)

    def wait_for(self, n: int, timeout: float = 30.0) -> list[dict]:
        """The log once it holds `n` requests: the server thread appends an entry after it has sent the response,
        so a client can finish reading before its request is logged."""
        deadline = time.monotonic() + timeout
        while len(self.log) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.log


def _foreign_host(handler: SimpleHTTPRequestHandler, origin_host: str) -> str | None:
    """The other host a request was meant for (a proxied ``GET http://...``, a ``CONNECT``, another Host header),
    or None for a request to the origin itself."""
    if handler.command == "CONNECT":
        return handler.path
    target = urlsplit(handler.path)
    if target.scheme:
        return target.netloc or target.scheme
    headers = getattr(handler, "headers", None)
    asked = (headers.get("Host") if headers is not None else None) or origin_host
    return None if asked.split(":")[0] in LOCAL_HOSTS else asked


def _handler(folder: Path, origin: Origin):
    class Handler(SimpleHTTPRequestHandler):
        def handle_one_request(self):
            self.entry, self.sent = None, 0
            super().handle_one_request()
            if self.entry is not None:
                self.entry["bytes"] = self.sent
                origin.log.append(self.entry)

        def send_head(self):
            if _foreign_host(self, origin.host):
                self.send_error(403, "this origin serves only itself")
                return None
            return super().send_head()

        def do_CONNECT(self):
            self.send_error(403, "no tunnels from the simulated runtime")

        def log_request(self, code="-", size="-"):
            try:
                status = int(getattr(code, "value", code))
            except (TypeError, ValueError):
                status = 0
            connect = self.command == "CONNECT"
            self.entry = {"method": self.command, "host": _foreign_host(self, origin.host) or origin.host,
                          "path": "" if connect else urlsplit(self.path).path, "status": status}

        def copyfile(self, source, outputfile):
            while chunk := source.read(1 << 16):
                outputfile.write(chunk)
                self.sent += len(chunk)

        def log_message(self, format, *args):   # quiet: the log is the record
            pass

    return functools.partial(Handler, directory=str(folder))


@contextmanager
def serve_origin(folder: str | Path) -> Iterator[Origin]:
    """Serve `folder` on 127.0.0.1 (a free port) from a thread, logging every request; also a proxy that refuses."""
    origin = Origin(url="", host="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Path(folder), origin))
    origin.host = f"127.0.0.1:{httpd.server_address[1]}"
    origin.url = f"http://{origin.host}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def foreign_requests(log: list[dict], origin_host: str) -> list[dict]:
    """The logged requests that were not for the origin (`origin_host`, ``127.0.0.1:<port>``): each one a download
    the simulated runtime tried from somewhere else."""
    return [e for e in log if e.get("host") != origin_host]


def failed_requests(log: list[dict]) -> list[dict]:
    """The logged requests the origin did not answer with 200 (a missing archive, a refused host)."""
    return [e for e in log if e.get("status") != 200]


# --------------------------------------------------------------------------- the kit's repository
def mirror_kit(checkout: str | Path, out: str | Path) -> Path:
    """Copy the installable part of `checkout` to `out` and point its ``COURSE_REPO`` at `out` (a local folder is
    a repository ``colab.install_spec`` installs as it is). Returns `out`, resolved."""
    checkout, out = Path(checkout), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in KIT_FILES:
        src = checkout / name
        if src.is_dir():
            shutil.copytree(src, out / name, ignore=_SKIP)
        elif src.is_file():
            shutil.copy2(src, out / name)
    setting = out / "course_lib" / "colab.py"
    text = setting.read_text(encoding="utf-8")
    if not _REPO_LINE.search(text):
        raise SimulationError(f"no `COURSE_REPO = \"...\"` line in {setting}: the one setting moved?")
    setting.write_text(_REPO_LINE.sub(lambda m: f'COURSE_REPO = "{out}"', text, count=1), encoding="utf-8")
    return out


def preinstalled_site(out: str | Path) -> Path:
    """A folder of symlinks to every package of the running environment except course_lib (modules, metadata and
    its editable-install hook) and ``.pth`` files: the libraries a fresh Colab runtime already has."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = dict.fromkeys(Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib"))
    for site in sources:
        for entry in sorted(site.iterdir()):
            if entry.name.startswith(KIT_NAMES) or entry.suffix == ".pth" or entry.name == "__pycache__":
                continue
            link = out / entry.name
            if not link.exists():
                link.symlink_to(entry)
    return out


# --------------------------------------------------------------------------- one fresh runtime
@dataclass
class Runtime:
    """One simulated Colab runtime: its folders, its Python, and the environment its kernel starts with."""

    root: Path
    python: Path
    content: Path          # where the lab's copy runs (Colab's /content)
    data: Path             # COURSE_DATA_DIR, empty at the start
    env: dict[str, str]
    site: Path             # the environment's own site-packages, where pip installs the kit

    def installed_kit(self) -> str | None:
        """Where pip installed the kit in this runtime from (its ``direct_url.json`` address), or None."""
        for info in sorted(self.site.glob("course_lib-*.dist-info")):
            direct = info / "direct_url.json"
            return json.loads(direct.read_text()).get("url") if direct.is_file() else "index"
        return None


def _stub_colab(folder: Path) -> None:
    pkg = folder / "google" / "colab"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('"""Stand-in for Colab\'s kernel module (simulated runtime)."""\n'
                                     "from . import output\n")
    (pkg / "output.py").write_text('"""Stand-in for google.colab.output: records that widgets were turned on."""\n'
                                   "calls = []\n\n\ndef enable_custom_widget_manager():\n"
                                   "    calls.append('enable_custom_widget_manager')\n")


def _environment(base: dict[str, str], rt: Path, python: Path, origin_url: str) -> dict[str, str]:
    """The kernel's environment: `base` (this process's) without anything that points at the checkout or its
    data, plus the simulated runtime's settings."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH", "IPYTHONDIR", "COURSE_", "PIP_", "HF_",
            "TORCH_HOME", "XDG_CACHE_HOME", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
            "all_proxy", "no_proxy", "NO_PROXY", "PYTEST_", "PAPERMILL_")
    env = {k: v for k, v in base.items() if not k.startswith(drop)}
    folders = {"COURSE_DATA_DIR": "data", "COURSE_CACHE_DIR": "cache", "TORCH_HOME": "torch", "HF_HOME": "hf",
               "XDG_CACHE_HOME": "xdg-cache", "PIP_CACHE_DIR": "pip-cache", "IPYTHONDIR": "ipython",
               "JUPYTER_PATH": "jupyter", "PYTHONPATH": "colab-stub"}
    env.update({k: str(rt / v) for k, v in folders.items()})
    env.update({
        "PATH": f"{python.parent}:{base.get('PATH', '/usr/bin:/bin')}", "COLAB_RELEASE_TAG": "simulated",
        "PYTHONDONTWRITEBYTECODE": "1",    # the shared environment's files are only ever read
        "COURSE_DATA_URL": f"{origin_url}/{datapacks.RELEASE_TAG}", "COURSE_OFFLINE": "1",
        # pip: no index, no machine-wide pip.conf; PIP_NO_BUILD_ISOLATION=0 *turns isolation off* (pip's reading
        # of "no-" options), so setuptools comes from the environment instead of a download
        "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_WARN_SCRIPT_LOCATION": "1", "PIP_ROOT_USER_ACTION": "ignore",
        "NO_PROXY": ",".join(LOCAL_HOSTS), "no_proxy": ",".join(LOCAL_HOSTS)})
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[name] = origin_url
    return env


def fresh_runtime(root: str | Path, site: Path, origin_url: str, base_env: dict[str, str]) -> Runtime:
    """Make a fresh runtime under `root`: a virtual environment that sees `site` (:func:`preinstalled_site`) but
    not the kit, the ``google.colab`` stub imported at kernel start, the kernel spec ``python3`` running that
    environment's Python, and empty data, cache and hub folders."""
    rt = Path(root).resolve()
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(rt / "venv")
    python = rt / "venv" / "bin" / "python"
    purelib = sysconfig.get_path("purelib", vars={"base": str(rt / "venv"), "platbase": str(rt / "venv")})
    Path(purelib, "colab-preinstalled.pth").write_text(f"{site}\n")
    _stub_colab(rt / "colab-stub")
    startup = rt / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-colab.py").write_text("import google.colab  # Colab's kernel has its module loaded\n")
    spec = rt / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (simulated Colab)", "language": "python"}, indent=1))
    for sub in ("data", "cache", "torch", "hf", "xdg-cache", "pip-cache", "content"):
        (rt / sub).mkdir(parents=True, exist_ok=True)
    return Runtime(rt, python, rt / "content", rt / "data", _environment(base_env, rt, python, origin_url),
                   Path(purelib))


# --------------------------------------------------------------------------- a lab as Colab opens it
def colab_copy(lab: str | Path, content: str | Path, kit: str) -> tuple[Path, list[str]]:
    """Copy `lab` into `content` with its first code cell's ``KIT = "..."`` set to `kit`; returns the copy and the
    data sets that cell asks ``colab_setup`` for."""
    import nbformat

    nb = nbformat.read(lab, as_version=4)
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first is None or not _KIT_LINE.search(first.source) or "colab_setup(" not in first.source:
        raise SimulationError(f"{Path(lab).name}: its first code cell has no `KIT = \"...\"` line and colab_setup call")
    first.source = _KIT_LINE.sub(lambda m: f'KIT = "{kit}"', first.source, count=1)
    out = Path(content) / Path(lab).name
    nbformat.write(nb, out)
    return out, setup_datasets(first.source)


def setup_datasets(source: str) -> list[str]:
    """The data sets a first cell's ``colab_setup(datasets=[...])`` call names (its default when it names none)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "colab_setup":
            for kw in node.keywords:
                if kw.arg == "datasets":
                    return list(ast.literal_eval(kw.value))
            return list(ast.literal_eval(node.args[0])) if node.args else ["hymenoptera"]
    raise SimulationError("no colab_setup(...) call in the cell")


def verify_unpacked(name: str, data_dir: str | Path, scratch: str | Path) -> bool:
    """Whether the folder the runtime unpacked for `name` packs, byte for byte, into its recorded archive."""
    folder = Path(data_dir)
    from course_lib import data

    if not (folder / data.get_dataset_spec(name).folder).is_dir():
        return False
    return datapacks.pack(name, scratch, root=folder) == datapacks.PACKS[name]
