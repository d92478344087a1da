"""nmrstake as a participant installs it: the wheel built from the repository, installed with pip
into a fresh virtualenv outside the repository, and its commands run with nothing of the
repository around them.

* `source_tree(dest)`: the files a clone would have (what git has or would commit), copied;
* `build_wheel(work)`: `python -m build` on such a copy (the sdist, then the wheel from it, as a
  release builds them): no Node, no solc, no .build can slip in;
* `install(wheel, work)`: a fresh virtualenv (no system site-packages) with the wheel and its
  dependencies, `pip install -c requirements.lock` (from PyPI, through pip's cache): the base
  install, without the `operator` extra, so without ape;
* the module-scoped fixture `installed`, both of those: import it into a test module
  (`from helpers.installed import installed  # noqa: F401`) and call `installed.run([...])`.

`Installed.run` runs a command as a participant's shell would: PATH is the virtualenv's bin and
/usr/bin:/bin only, HOME and the working folder are a fresh temporary folder, and nothing else of
the test's environment is passed on (no PYTHONPATH, no VIRTUAL_ENV, no NMRSTAKE_* or APE_*
variables); `env=` adds to it. A build or an install that fails fails the test that needs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
# What a participant's shell has besides the virtualenv: the system's commands, no repository.
SYSTEM_PATH = "/usr/bin:/bin"
# Variables of the test's own environment that would point a subprocess at another Python.
_FOREIGN = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")


def source_tree(dest: Path) -> Path:
    """The files a clone would have once the working tree is committed (tracked and untracked
    files git does not ignore), copied from the working tree; nothing ignored (.build,
    node_modules, .venv, egg-info)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():  # a tracked file deleted in the working tree is not there
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def build_dist(work: Path) -> tuple[Path, Path]:
    """The sdist and the wheel built from a copy of the repository in `work` (`python -m build`:
    the sdist, then the wheel from that sdist, each in an isolated environment with the
    setuptools pyproject.toml asks for); nothing is written into the working tree."""
    tree = source_tree(work / "tree")
    out = work / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(tree)], capture_output=True,
                          text=True, check=False, env=_without_foreign(os.environ))
    assert proc.returncode == 0, "building the sdist and wheel failed:\n" + proc.stdout[-4000:] + proc.stderr[-4000:]
    (sdist,) = out.glob("nmrstake-*.tar.gz")
    (wheel,) = out.glob("nmrstake-*-py3-none-any.whl")
    return sdist, wheel


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding the installed wheel, and a participant's folder to run commands in."""

    venv: Path
    home: Path  # HOME and the working folder of every command: empty but for what commands write
    wheel: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def environ(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The participant's environment: the virtualenv's bin and /usr/bin:/bin on PATH, HOME
        the participant's folder (so ~/.nmrstake is there), UTF-8 text, plus `env`."""
        base = {"PATH": f"{self.bin}:{SYSTEM_PATH}", "HOME": str(self.home), "LANG": "C.UTF-8",
                "TMPDIR": str(self.home / "tmp")}
        base.update(env or {})
        return base

    def run(self, args: Sequence[str], env: Mapping[str, str] | None = None, input: str | None = None,
            cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `args` (args[0] a command of the virtualenv, e.g. `nmrstake` or `python`, or of
        /usr/bin:/bin) in the participant's environment (`environ(env)`), from `cwd` (default:
        the participant's folder). With `check`, a non-zero exit fails the test with the
        command's output; the output is returned as text either way."""
        full = self.environ(env)
        exe = shutil.which(args[0], path=full["PATH"])
        assert exe is not None, f"{args[0]!r} is neither in {self.bin} nor in {SYSTEM_PATH}"
        proc = subprocess.run([exe, *args[1:]], cwd=cwd or self.home, env=full, input=input, capture_output=True,
                              text=True, check=False)
        if check:
            assert proc.returncode == 0, (f"{' '.join(args)} exited {proc.returncode}\n"
                                          f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
        return proc


def install(wheel: Path, work: Path) -> Installed:
    """A fresh virtualenv in `work` (this interpreter's Python, no system site-packages) with
    `wheel` installed by pip as a participant would (`pip install -c requirements.lock`, from
    PyPI through pip's cache, so the test's own HOME), and an empty participant folder beside it.
    `--no-compile`: modules are byte-compiled when first imported instead (about 20 s less)."""
    venv = work / "venv"
    home = work / "participant"
    (home / "tmp").mkdir(parents=True)
    env = _without_foreign(os.environ)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--no-compile", "-c", str(LOCK), str(wheel)], capture_output=True, text=True, check=False,
                          env=env, cwd=work)
    assert proc.returncode == 0, f"pip install of {wheel.name} failed:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
    return Installed(venv=venv, home=home, wheel=wheel)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """The wheel built from the repository, installed into a fresh virtualenv (about a minute:
    the build, then pip resolving and unpacking web3, pandas, pyarrow and numerai-tools' scipy)."""
    work = tmp_path_factory.mktemp("installed")
    _, wheel = build_dist(work / "build")
    return install(wheel, work)


def _without_foreign(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in _FOREIGN}
