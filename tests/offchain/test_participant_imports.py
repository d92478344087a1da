"""The participant's install (`pip install nmrstake`, no operator extra) has no SQLAlchemy, psycopg,
Alembic nor boto3: the participant's modules must not load them, also when they look for an
operator's submission store on this machine and find none."""

from __future__ import annotations

import subprocess
import sys

OPERATOR_ONLY = ("sqlalchemy", "psycopg", "alembic", "boto3", "botocore")


def test_the_participants_modules_and_a_look_for_a_local_store__load_no_operator_package(tmp_path):
    code = (
        "import sys\n"
        "import nmrstake.client.api, nmrstake.client.results, nmrstake.cli.participant, nmrstake.cli.rounds\n"
        "import nmrstake.cli.session, nmrstake.results.layout, nmrstake.results.stored\n"
        "from pathlib import Path\n"
        "from nmrstake.client.results import LocalResults\n"
        "from nmrstake.results.layout import DataLayout\n"
        f"layout = DataLayout(Path({str(tmp_path)!r}))\n"
        "assert layout.published_store().rounds() == []\n"
        "assert LocalResults(layout).uploads(1, 'model', '0x' + '11' * 20) is None\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {OPERATOR_ONLY!r}))\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no NMRSTAKE_DATABASE_URL, no store URL
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_layout_with_the_services_database__has_a_store(tmp_path):
    from nmrstake.results.layout import DataLayout

    layout = DataLayout(tmp_path, store_url=None, database_url=None)
    assert not layout.has_store()
    layout.store().open_for_writing()
    assert layout.has_store() and layout.store().exists()
