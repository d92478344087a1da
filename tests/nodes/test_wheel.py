"""What `pip install nmrstake` gives a participant: the sdist and the wheel built from the
repository carry the packaged contract data (src/nmrstake/abi/), and the installed wheel reads it
with nothing of the repository on the path.

The build runs as a participant's or a release's would: `python -m build` (sdist, then the wheel
from that sdist, each in an isolated environment with the setuptools pyproject.toml asks for) on a
copy of the files git has or would commit, so nothing is written into the working tree and
nothing compiled (no Node, no solc, no .build) can slip in. Marked `nodes` for its time (about
10 s): it runs with the slower tests, after the embedded-EVM ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers.installed import ROOT, build_dist

import nmrstake.abi as packaged

pytestmark = pytest.mark.nodes

DATA = ROOT / "src" / "nmrstake" / "abi"
FILES = [f"{name}.json" for name in packaged.CONTRACTS] + ["__init__.py"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> tuple[Path, Path]:
    return build_dist(tmp_path_factory.mktemp("build"))


def test_the_wheel_carries_the_contract_data(dist):
    _, wheel = dist
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in FILES:
            assert f"nmrstake/abi/{name}" in names, f"{name} is not in the wheel"
            assert zf.read(f"nmrstake/abi/{name}") == (DATA / name).read_bytes(), f"the wheel's {name} differs"
    assert {n for n in names if n.startswith("nmrstake/abi/")} == {f"nmrstake/abi/{n}" for n in FILES}


def test_the_sdist_carries_the_contract_data(dist):
    """So a wheel built from the sdist (pip install of an sdist, on a machine without Node or
    solc) has it too: the wheel above was built from this sdist."""
    sdist, _ = dist
    with tarfile.open(sdist) as tf:
        top = tf.getnames()[0].split("/")[0]
        for name in FILES:
            member = tf.extractfile(f"{top}/src/nmrstake/abi/{name}")
            assert member is not None and member.read() == (DATA / name).read_bytes(), f"the sdist's {name} differs"


def test_the_installed_wheel_reads_its_data_without_the_repository(dist, tmp_path):
    """Installed (without dependencies) into a fresh virtualenv with no system site-packages, run
    from a folder outside the repository: the ABIs and code checks come from the wheel."""
    _, wheel = dist
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    probe = (
        "import json, sys, nmrstake.abi as a\n"
        "abi = a.load('Tournament')\n"
        "print(json.dumps({'file': a.__file__, 'path': sys.path, 'errors': sum(i['type'] == 'error' for i in abi),\n"
        "  'hashes': {n: a.code_hash(n) for n in a.names()}, 'ape': any(m == 'ape' or m.startswith('ape.') for m in sys.modules)}))\n"
    )
    proc = subprocess.run([str(python), "-c", probe], cwd=outside, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert Path(seen["file"]).is_relative_to(venv)
    assert not any(p and Path(p).resolve().is_relative_to(ROOT) for p in seen["path"]), seen["path"]
    assert seen["errors"] == sum(i["type"] == "error" for i in packaged.load("Tournament")) > 40
    assert seen["hashes"] == {n: packaged.code_hash(n) for n in packaged.names()}
    assert not seen["ape"]


def test_the_installed_wheel_checks_code(dist, tmp_path):
    """code_matches from the installed wheel, with only the keccak a participant's install brings
    (eth-hash, a dependency of eth-account) added: this interpreter's site-packages on
    PYTHONPATH, where .pth files are not read, so the repository's editable install stays out."""
    import sysconfig

    _, wheel = dist
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    build = json.loads((ROOT / ".build" / "__local__.json").read_text())
    code_file = tmp_path / "invoker.bin"
    code_file.write_text(build["contractTypes"]["StrategyInvoker"]["runtimeBytecode"]["bytecode"])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])
    probe = (
        "import sys, nmrstake.abi as a\n"
        f"assert a.__file__.startswith({str(target)!r}), a.__file__\n"
        f"assert not any(p.startswith({str(ROOT / 'src')!r}) for p in sys.path), sys.path\n"
        f"code = open({str(code_file)!r}).read()\n"
        "assert a.code_matches('StrategyInvoker', code) and not a.code_matches('Tournament', code)\n"
    )
    proc = subprocess.run([sys.executable, "-S", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
