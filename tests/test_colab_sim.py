"""The simulated fresh Colab (tools/colab_sim.py, run by benchmarks/simulated_colab.py): its origin's request log
catches any other host, a lab's copy installs the kit from the mirror, and the runtime cannot see the kit or the
course data before its first cell runs. The labs themselves run only in the benchmark (not in `make test`)."""
from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request

import nbformat
import pytest

from course_lib import colab, datapacks, env
from tools import colab_sim

ROOT = env.PROJECT_ROOT


@pytest.fixture()
def origin(tmp_path):
    (tmp_path / "course-data-v1").mkdir()
    (tmp_path / "course-data-v1" / "tiny.tar").write_bytes(b"x" * 1000)
    with colab_sim.serve_origin(tmp_path) as served:
        yield served


def test_the_origin_logs_what_it_served_and_refuses_and_flags_other_hosts(origin):
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))    # whatever proxy this machine has
    with direct.open(f"{origin.url}/course-data-v1/tiny.tar") as resp:
        assert len(resp.read()) == 1000
    origin.wait_for(1)
    with pytest.raises(urllib.error.HTTPError):
        direct.open(f"{origin.url}/course-data-v1/missing.tar")
    origin.wait_for(2)
    assert colab_sim.foreign_requests(origin.log, origin.host) == []
    assert origin.log[0] == {"method": "GET", "host": origin.host, "path": "/course-data-v1/tiny.tar",
                             "status": 200, "bytes": 1000}
    assert [e["status"] for e in colab_sim.failed_requests(origin.log)] == [404]

    # the runtime's proxy is the origin: a download from elsewhere reaches it, is refused and logged as foreign
    proxied = urllib.request.build_opener(urllib.request.ProxyHandler({"http": origin.url}))
    with pytest.raises(urllib.error.HTTPError, match="403"):
        proxied.open("http://download.example.org/weights.pth")
    host, port = origin.host.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:    # what an https:// download sends
        s.sendall(b"CONNECT huggingface.co:443 HTTP/1.1\r\nHost: huggingface.co:443\r\n\r\n")
        assert b" 403 " in s.recv(200)
    origin.wait_for(4)
    foreign = colab_sim.foreign_requests(origin.log, origin.host)
    assert sorted((e["method"], e["host"], e["status"]) for e in foreign) == [   # threads may log in either order
        ("CONNECT", "huggingface.co:443", 403), ("GET", "download.example.org", 403)]


def test_a_lab_copy_installs_the_kit_from_the_mirror_and_names_its_data_sets(tmp_path):
    kit = colab_sim.mirror_kit(ROOT, tmp_path / "kit")
    assert f'COURSE_REPO = "{kit}"' in (kit / "course_lib" / "colab.py").read_text()
    assert (kit / "pyproject.toml").is_file() and not (kit / "tools").exists() and not (kit / "notebooks").exists()
    assert colab.install_spec(str(kit)) == str(kit)            # a folder is a repository pip installs as it is
    copy, asked = colab_sim.colab_copy(ROOT / "notebooks" / "04_wildlife_case_study.ipynb", tmp_path, str(kit))
    first = next(c for c in nbformat.read(copy, as_version=4).cells if c.cell_type == "code").source
    assert f'KIT = "{kit}"' in first and "OWNER/NAME@" not in first.split("if ")[0]
    assert asked == ["camera_traps"]
    assert colab_sim.setup_datasets("colab_setup()") == ["hymenoptera"]
    bare = tmp_path / "bare.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), bare)
    with pytest.raises(colab_sim.SimulationError, match="KIT"):
        colab_sim.colab_copy(bare, tmp_path / "out", str(kit))


def test_a_fresh_runtime_sees_its_libraries_but_not_the_kit_nor_the_course_data(tmp_path, origin):
    site = colab_sim.preinstalled_site(tmp_path / "site")
    assert (site / "torch").exists() and not list(site.glob("course_lib*")) and not list(site.glob("*.pth"))
    rt = colab_sim.fresh_runtime(tmp_path / "rt", site, origin.url, {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                                                     "COURSE_DATA_DIR": "/elsewhere"})
    assert rt.env["COURSE_DATA_DIR"] == str(rt.data) and not any(rt.data.iterdir())
    assert rt.env["COURSE_DATA_URL"] == f"{origin.url}/{datapacks.RELEASE_TAG}"
    assert rt.env["HTTPS_PROXY"] == origin.url and str(ROOT) not in rt.env["PYTHONPATH"]
    probe = ("import importlib.util as u, google.colab.output as o; "
             "print(u.find_spec('course_lib') is None, u.find_spec('timm') is not None)")
    done = subprocess.run([str(rt.python), "-c", probe], env=rt.env, cwd=rt.content, capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True"], done.stderr
    assert rt.installed_kit() is None
