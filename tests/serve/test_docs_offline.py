"""`/docs` and `/redoc` work without internet: every file they load is served by the app."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from stepladder.config import load_project
from stepladder.serve import Service, create_app, load_flows
from tests.serve.projects import function_project

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*["']?(?:https?:)?//""", re.IGNORECASE)


def page_assets(client: TestClient, path: str) -> list[str]:
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(page.text), EXTERNAL.search(page.text)
    assert "http://" not in page.text and "https://" not in page.text
    return ASSET.findall(page.text)


def test_the_docs_pages_load_only_files_the_app_serves(tmp_path: Path) -> None:
    project = load_project(root=function_project(tmp_path / "project"))
    with TestClient(create_app(Service(project, load_flows(project)))) as client:
        swagger = page_assets(client, "/docs")
        redoc = page_assets(client, "/redoc")
        assert "/docs/assets/swagger-ui-bundle.js" in swagger
        assert "/docs/assets/swagger-ui.css" in swagger
        assert "/docs/assets/redoc.standalone.js" in redoc
        for asset in {*swagger, *redoc}:
            answer = client.get(asset)
            assert answer.status_code == 200, asset
            assert len(answer.content) > 0, asset
        script = client.get("/docs/assets/swagger-ui-bundle.js")
        assert "javascript" in script.headers["content-type"]
        assert "SwaggerUIBundle" in script.text
        page = client.get("/docs").text
        assert "'/openapi.json'" in page or '"/openapi.json"' in page
        assert '"validatorUrl": null' in page  # no call to the public validator
        assert client.get("/openapi.json").status_code == 200
        assert "/docs" not in client.get("/openapi.json").json()["paths"]
