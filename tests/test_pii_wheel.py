"""The name and place tagger ships in the wheel and works from it, offline.

A wheel is built from a copy of the project (so no ``build/`` or ``*.egg-info`` lands in the
checkout), and must hold the model, its card and the word-frequency table, with the model's
hash the one its card records.  The wheel is then unpacked and imported in a fresh interpreter
that sees only the unpacked wheel and the virtualenv's dependencies (not ``src/``): the shipped
tagger loads in under a second and 200 MB and finds a lower-case name.

The build needs no network: with the build requirements installed in the environment it runs
``pip wheel --no-build-isolation --no-index``; otherwise it builds in pip's isolated
environment from the local (``file://``) package indexes pip is configured with, and skips
when there are none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = "confida/pii/model/"
SHIPPED = ("ner.crfsuite", "ner.json", "wordfreq.json.gz", "census-names.json.gz",
           "check.jsonl.gz")

#: What setuptools needs of the project to build it: pyproject names README.md as the readme,
#: and src/confida/data/sample-register.yaml is a link into examples/.
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_DIRS = ("src", "examples")

CHAT = "hi im anna schmidt from berlin"

PROBE = """
import json, resource, sys, time
import confida
from confida.pii import detect, ner_tagger

def rss_mb():
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20

before = rss_mb()
t = time.perf_counter()
tagger = ner_tagger.default_tagger()
load_s = time.perf_counter() - t
load_rss_mb = rss_mb() - before
tagger.spans("warm up")  # the first text loads the feature tables (word frequencies, lexicons)
ready_s = time.perf_counter() - t
ready_rss_mb = rss_mb() - before
found = detect(sys.argv[1])
print(json.dumps({
    "confida": confida.__file__, "model": tagger.path, "path": sys.path,
    "load_s": load_s, "load_rss_mb": load_rss_mb, "ready_s": ready_s,
    "ready_rss_mb": ready_rss_mb, "found": [[f.start, f.end, f.label] for f in found],
}))
"""


def _version(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _offline_build_args() -> list[str] | None:
    """pip options that build the wheel without the network, or None if none can."""
    try:
        import setuptools
        import wheel  # noqa: F401
    except ImportError:
        pass
    else:
        if _version(setuptools.__version__) >= (68,):  # pyproject: setuptools>=68, wheel
            return ["--no-build-isolation", "--no-index"]
    # pip's own configuration (files and PIP_* variables) may name local package indexes
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                            capture_output=True, text=True, timeout=30).stdout
    local = []
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("index-url"):
            local += [u for u in value.strip("'\"").split() if u.startswith("file:")]
    if not local:
        return None
    args = ["--index-url", local[0]]
    for url in local[1:]:
        args += ["--extra-index-url", url]
    return args


def _project_copy(dest: Path) -> Path:
    """The files setuptools reads, copied without caches, build leftovers or partial files."""
    dest.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, dest / name, symlinks=True, ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", "*.egg-info", "*.tmp"))
    return dest


def _leftovers() -> set[tuple[str, int]]:
    found = [ROOT / "build", *ROOT.glob("*.egg-info"), *(ROOT / "src").glob("*.egg-info")]
    return {(str(p), p.stat().st_mtime_ns) for p in found if p.exists()}


@pytest.fixture(scope="module")
def wheel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    args = _offline_build_args()
    if args is None:
        pytest.skip("cannot build offline: the environment lacks the build requirements "
                    "(setuptools>=68 and wheel, for --no-build-isolation) and pip is "
                    "configured with no local (file://) package index to build from")
    tmp = tmp_path_factory.mktemp("wheel")
    project = _project_copy(tmp / "project")
    out = tmp / "dist"
    before = _leftovers()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_INDEX_URL")
           and not k.startswith("PIP_EXTRA_INDEX_URL")}
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
         "--disable-pip-version-check", "--retries", "0", "--timeout", "5", *args,
         "-w", str(out), str(project)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp)
    assert _leftovers() == before, "the build wrote build/ or *.egg-info into the checkout"
    if res.returncode != 0 and "--no-index" not in args and (
            "No matching distribution" in res.stdout + res.stderr):
        pytest.skip("cannot build offline: the local package index lacks the build "
                    f"requirements:\n{res.stderr[-2000:]}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    wheels = list(out.glob("confida-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_ships_the_model_and_its_card(wheel_file: Path) -> None:
    with zipfile.ZipFile(wheel_file) as zf:
        names = set(zf.namelist())
        for name in SHIPPED:
            assert MODEL_DIR + name in names, f"the wheel lacks {MODEL_DIR}{name}"
        assert not [n for n in names if n.startswith(MODEL_DIR) and n.endswith(".tmp")]
        card = json.loads(zf.read(MODEL_DIR + "ner.json"))
        model = zf.read(MODEL_DIR + "ner.crfsuite")
        table = zf.read(MODEL_DIR + "wordfreq.json.gz")
        census = zf.read(MODEL_DIR + "census-names.json.gz")
    assert hashlib.sha256(model).hexdigest() == card["sha256"]
    assert card["bytes"] == len(model)
    if card.get("frequency_table_sha256"):  # the table the model was trained with
        assert hashlib.sha256(table).hexdigest() == card["frequency_table_sha256"]
    assert hashlib.sha256(census).hexdigest() == card["census_table_sha256"]


def test_installed_wheel_detects_names_offline(wheel_file: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel_file) as zf:
        zf.extractall(site)
    deps = list(dict.fromkeys([sysconfig.get_paths()["purelib"],
                               sysconfig.get_paths()["platlib"]]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONFIDA_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *deps])
    # -S: no site-packages processing, so the virtualenv's editable-install .pth (which puts
    # the checkout's src/ on sys.path) is not read; the dependencies come from PYTHONPATH
    res = subprocess.run([sys.executable, "-S", "-c", PROBE, CHAT], capture_output=True,
                         text=True, timeout=120, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads(res.stdout)
    assert Path(info["confida"]).is_relative_to(site), info["confida"]
    assert Path(info["model"]) == site / MODEL_DIR / "ner.crfsuite"
    assert not any(str(ROOT / "src") == p for p in info["path"])
    name = (CHAT.index("anna"), CHAT.index("schmidt") + len("schmidt"))
    assert any(label == "PERSON" and s < name[1] and name[0] < e
               for s, e, label in info["found"]), info["found"]
    # loading the shipped tagger: the model file, then (on its first text) its feature tables
    timing = {k: v for k, v in info.items() if k.endswith(("_s", "_mb"))}
    assert info["load_s"] < 1.0, timing
    assert info["ready_s"] < 2.0, timing
    assert info["ready_rss_mb"] < 200, timing
