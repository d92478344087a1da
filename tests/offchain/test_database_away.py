"""A service whose database does not answer (a PostgreSQL restarting, a SQLite file gone) answers
503 `database-unavailable` with a Retry-After, on any route that reads it: the request may succeed
when retried, so it is never a 500; the service stays up and answers again once the database is
back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.scenario import deployed_with_open_round

from nmrstake.results.layout import DataLayout
from nmrstake.service.app import DATABASE_RETRY_AFTER, create_app
from nmrstake.service.server import service_context

ROUND = 3


@pytest.fixture
def service(project, owner, tmp_path):
    client = deployed_with_open_round(project, owner, tmp_path, ROUND)
    ctx = service_context(client, DataLayout(tmp_path / "data"))
    return ctx, TestClient(create_app(ctx), raise_server_exceptions=False)


def test_a_route_whose_database_does_not_answer__is_a_503_database_unavailable_then_answers_again(service, owner):
    ctx, http = service
    path = f"/v1/rounds/{ROUND}/submissions/model_a/{owner.address}"
    assert http.get(path).json()["type"].endswith(":no-upload")  # the database answers: nothing uploaded
    database = ctx.intake.store.database
    file = ctx.intake.store.db_path
    database.dispose()
    moved = file.with_name(file.name + ".away")
    file.rename(moved)
    file.mkdir()  # the database's file is a folder now: no connection opens
    try:
        answer = http.get(path)
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"] == "urn:nmrstake:problem:database-unavailable"
        assert "database does not answer (OperationalError)" in answer.json()["detail"]
        assert answer.headers["retry-after"] == str(DATABASE_RETRY_AFTER)
    finally:
        file.rmdir()
        moved.rename(file)
        database.dispose()
    assert http.get(path).json()["type"].endswith(":no-upload")
