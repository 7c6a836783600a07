from pathlib import Path

import pytest

from stepladder.config import load_project
from stepladder.config.state import POSTGRES_URL_ENV, masked_url
from stepladder.errors import ConfigError
from tests.conftest import write_project

URL = "postgresql://app:s3cret@db.internal:5432/stepladder"


def test_postgres_is_off_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    root = write_project(tmp_path / "p", {}, settings="name: shop\n")
    assert load_project(root=root).settings.state.postgres is None


def test_postgres_url_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    root = write_project(tmp_path / "p", {}, settings=f"state:\n  postgres: '{URL}'\n")
    assert load_project(root=root).settings.state.postgres == URL
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgres://other@h/db")
    assert load_project(root=root).settings.state.postgres == "postgres://other@h/db"


def test_postgres_url_must_be_postgres_and_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    root = write_project(tmp_path / "p", {}, settings="state: {postgres: 'mysql://u:pw@h/db'}\n")
    with pytest.raises(ConfigError, match=r"state\.postgres") as caught:
        load_project(root=root)
    assert "pw" not in str(caught.value) and "mysql://u:***@h/db" in str(caught.value)
    root = write_project(tmp_path / "q", {}, settings="name: q\n")
    monkeypatch.setenv(POSTGRES_URL_ENV, "sqlite:///x.db")
    with pytest.raises(ConfigError, match=POSTGRES_URL_ENV):
        load_project(root=root)


def test_postgres_url_password_is_masked() -> None:
    assert masked_url(URL) == "postgresql://app:***@db.internal:5432/stepladder"
    assert masked_url("postgresql://app@h/db") == "postgresql://app@h/db"
    assert masked_url("postgresql://h/db") == "postgresql://h/db"
