"""`pip install nmrstake` is all a participant needs: the wheel built from the repository,
installed with its dependencies into a fresh virtualenv (tests/helpers/installed.py), runs the
participant's commands with only Python around it: no ape (the `operator` extra is not
installed), no Node, no compiler, nothing of the repository on PATH or sys.path.

Marked `nodes` for its time (about a minute, mostly pip unpacking pandas, pyarrow and scipy):
it runs with the slower tests, after the embedded-EVM ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_account import Account
from helpers.installed import ROOT, installed  # noqa: F401  (module-scoped: one build and install for this file)

pytestmark = pytest.mark.nodes

# What the participant's path uses (README, "Who installs what"), and what the operator's install
# adds and a participant's must not have.
PARTICIPANT_COMMANDS = {"wallet", "faucet", "stake", "submit", "balance", "status", "verify", "claim", "rounds"}
OPERATOR_ONLY = ("ape", "ape_solidity", "ape_foundry", "solcx", "fastapi", "uvicorn", "multipart", "jinja2")
KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def _commands(help_text: str) -> set[str]:
    """The command names of click's --help (the indented first words under "Commands:")."""
    listed = help_text.split("Commands:", 1)[1]
    return set(re.findall(r"^\s{2}(\S+)", listed, flags=re.M))


def test_the_install_is_consistent_and_has_no_operator_packages(installed):  # noqa: F811
    installed.run(["python", "-m", "pip", "check"])
    probe = ("import importlib.util, json\n"
             f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {OPERATOR_ONLY!r}}}))\n")
    present = json.loads(installed.run(["python", "-c", probe]).stdout)
    assert not any(present.values()), f"the participant's install has operator packages: {present}"
    proc = installed.run(["python", "-c", "import ape"], check=False)
    assert proc.returncode != 0 and "No module named 'ape'" in proc.stderr, proc.stderr


def test_nmrstake_help_lists_the_participant_commands(installed):  # noqa: F811
    proc = installed.run(["nmrstake", "--help"])
    assert PARTICIPANT_COMMANDS <= _commands(proc.stdout), proc.stdout
    assert installed.run(["nmrstake", "--version"]).stdout.strip().endswith(installed.wheel.name.split("-")[1])


def test_a_wallet_is_imported_and_listed(installed):  # noqa: F811
    """The key on stdin (the prompt reads one line), the passphrase from NMRSTAKE_PASSPHRASE; the
    keystore lands in the participant's ~/.nmrstake. (The key's prompt is written to stdout, before
    the JSON: only `wallet list --json` is read as JSON.)"""
    address = Account.from_key(KEY).address
    env = {"NMRSTAKE_PASSPHRASE": "correct horse battery staple"}
    imported = installed.run(["nmrstake", "wallet", "import", "me", "--json"], env=env, input=KEY + "\n")
    assert address in imported.stdout, imported.stdout
    listed = json.loads(installed.run(["nmrstake", "wallet", "list", "--json"]).stdout)
    assert {"name": "me", "address": address} in listed, listed
    assert (installed.home / ".nmrstake" / "wallets").is_dir()


def test_the_contract_data_comes_from_the_installed_wheel(installed):  # noqa: F811
    probe = ("import json, sys, nmrstake, nmrstake.abi as a\n"
             "abi = a.load('Tournament')\n"
             "print(json.dumps({'file': nmrstake.__file__, 'path': sys.path, 'functions': sum(i['type'] == 'function'"
             " for i in abi), 'names': sorted(a.names())}))\n")
    seen = json.loads(installed.run(["python", "-c", probe]).stdout)
    assert Path(seen["file"]).is_relative_to(installed.venv), seen["file"]
    assert not any(p and Path(p).resolve().is_relative_to(ROOT) for p in seen["path"]), seen["path"]
    assert seen["functions"] > 20 and "Tournament" in seen["names"], seen


def test_the_participant_modules_import_without_the_operator_packages(installed):  # noqa: F811
    """The participant's Python API and the modules behind its commands load in the ape-less
    install, and load none of the operator's packages."""
    modules = ["nmrstake.client", "nmrstake.abi", "nmrstake.wallet", "nmrstake.signing", "nmrstake.merkle",
               "nmrstake.scoring", "nmrstake.results.read", "nmrstake.verify", "nmrstake.cli"]
    probe = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({OPERATOR_ONLY!r}))))\n")
    assert json.loads(installed.run(["python", "-c", probe]).stdout) == []
