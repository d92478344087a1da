"""The `nmrstake` CLI driven in-process with click's runner, as the off-chain tests use it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from nmrstake.cli import main

PASS = "correct horse battery staple"


def run(*args: str, input: str | None = None, ok: bool = True):
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def js(*args: str):
    return json.loads(run(*args, "--json").output)


def operator_store(data):
    """The submission store `nmrstake serve` creates on the operator's machine (its first start)."""
    from nmrstake.submissions import SubmissionStore

    store = SubmissionStore(data / "service").open_for_writing(clean=True)
    store.receipt_key()
