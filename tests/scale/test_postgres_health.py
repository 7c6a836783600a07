"""`GET /healthz` reports the Postgres state store: up, then a 503 once the database is gone."""

from pathlib import Path

from fastapi.testclient import TestClient

from stepladder.config import load_project
from stepladder.serve import Service, create_app, load_flows
from tests.postgres_server import postgres_server
from tests.serve.projects import function_project


def test_postgres_down_makes_healthz_a_503_naming_the_store(tmp_path: Path) -> None:
    root = function_project(tmp_path / "project")
    with postgres_server() as server:
        settings = root / "stepladder.yaml"
        url = server.url.replace("postgres@", "postgres:hunter2@")  # trust auth ignores it
        settings.write_text(
            settings.read_text(encoding="utf-8") + f'\nstate: {{postgres: "{url}"}}\n',
            encoding="utf-8",
        )
        project = load_project(root=root)
        with TestClient(create_app(Service(project, load_flows(project)))) as client:
            up = client.get("/healthz")
            assert up.status_code == 200
            assert up.json()["status"] == "ok"
            assert up.json()["state"]["status"] == "up"
            assert up.json()["state"]["store"] == "postgres"
    # the database is stopped now
    with TestClient(create_app(Service(project, load_flows(project)))) as client:
        down = client.get("/healthz")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unavailable" and body["state"]["status"] == "down"
    assert "cannot reach the Postgres state store" in body["state"]["detail"]
    assert "hunter2" not in down.text and "***" in body["state"]["url"]
