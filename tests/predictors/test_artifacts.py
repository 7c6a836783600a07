"""Saved predictors: one artifact module for every kind; artifacts saved before it still load."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from typer.testing import CliRunner

from stepladder.errors import ConfigError
from stepladder.predictors.artifacts import MANIFEST, ArtifactKind
from stepladder.predictors.classifier.model import (
    classifier_path,
    load_classifier,
    read_manifest,
    save_classifier,
)
from stepladder.predictors.manifest import ArtifactManifest
from stepladder.predictors.router import (
    load_router,
    read_router_manifest,
    router_path,
    write_router_manifest,
)
from tests.conftest import write_project
from tests.predictors.router.sample import HashEmbeddings

# Written by the code before the shared artifact module (commit 01ab9f8): a classifier and a
# calibrated router trained on HashEmbeddings, and what they predicted then.
STATE_V1 = Path(__file__).parent / "fixtures" / "state_v1"
EXPECTED = json.loads((STATE_V1 / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A copy of the old state folder (tests may change files in it)."""
    return Path(shutil.copytree(STATE_V1, tmp_path / "state"))


def test_a_classifier_and_a_router_saved_before_still_load_and_predict(state: Path) -> None:
    texts = EXPECTED["texts"]
    folder = classifier_path("words", state)
    assert folder == state / "classifiers" / "words" / "v1"
    classifier = load_classifier(folder, HashEmbeddings())
    assert [[label, confidence] for label, confidence in classifier.predict(texts)] == EXPECTED[
        "classifier"
    ]
    router = load_router(router_path("tiers@v1", state), embedder=HashEmbeddings())
    assert np.allclose(router.probabilities(texts), EXPECTED["router_probabilities"], atol=1e-6)
    assert router.route(texts) == EXPECTED["router_route"]
    for saved, manifest in [
        (folder, read_manifest(folder)),
        (router_path("tiers", state), read_router_manifest(router_path("tiers", state))),
    ]:
        written = json.loads((saved / MANIFEST).read_text(encoding="utf-8"))
        dumped = json.loads(manifest.model_dump_json())
        if "model" in dumped and "folds" in dumped["model"]:
            # Fields added since, read from an old manifest as the old single model.
            assert dumped["model"].pop("folds") == 1
            assert dumped["model"].pop("long_texts") == "first-window"
            assert dumped["calibration"].pop("horizon") is None
            assert dumped["calibration"].pop("tier_quality") == {}
        assert dumped == written
        assert list(dumped) == list(written)  # field order too


def test_the_commands_list_artifacts_saved_before(state: Path, tmp_path: Path) -> None:
    import stepladder.cli.classifier
    import stepladder.cli.router  # noqa: F401  (register `stepladder classifier`, `router`)
    from stepladder.cli.app import app

    root = write_project(tmp_path / "project", {})
    shutil.copytree(state, root / ".stepladder")
    runner = CliRunner()
    for command, shown in [("classifier", "words@v1"), ("router", "tiers@v1")]:
        listed = runner.invoke(
            app, ["--project", str(root), command, "list"], env={"COLUMNS": "200"}
        )
        assert listed.exit_code == 0, listed.output
        assert shown in listed.stdout
        assert "hash-words-64" in listed.stdout


def test_another_format_version_is_refused_with_a_message_to_retrain(state: Path) -> None:
    folder = state / "classifiers" / "words" / "v1"
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    (folder / MANIFEST).write_text(json.dumps({**manifest, "format_version": 2}), "utf-8")
    with pytest.raises(
        ConfigError,
        match=r"a classifier saved in format version 2; this version of stepladder reads format "
        r"version 1\. Retrain it with `stepladder classifier train words DATA`\.",
    ):
        load_classifier(folder)


def test_a_manifest_missing_a_field_is_refused_with_a_message_to_retrain(state: Path) -> None:
    folder = state / "routers" / "tiers" / "v1"
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["model"]
    (folder / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(
        ConfigError,
        match=r"not a valid router manifest: .*model.*Retrain it with `stepladder router train "
        r"tiers --run TIER=RUN_ID",
    ):
        load_router(folder)


def test_a_folder_of_another_kind_is_named_as_such(state: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"its format is 'stepladder\.embedding-classifier', not a router's"
    ):
        read_router_manifest(state / "classifiers" / "words" / "v1")


def test_a_classifier_refuses_another_embedding_model(state: Path) -> None:
    class Other(HashEmbeddings):
        name = "other-model"

    with pytest.raises(
        ConfigError,
        match="classifier 'words@v1' was trained with embedding model 'hash-words-64', not "
        "'other-model'",
    ):
        load_classifier(state / "classifiers" / "words" / "v1", Other())


def test_saving_again_adds_a_version_beside_the_old_one(state: Path) -> None:
    classifier = load_classifier(classifier_path("words", state), HashEmbeddings())
    folder = save_classifier(classifier, state)
    assert folder == state / "classifiers" / "words" / "v2"
    assert classifier.manifest.version == 2 and classifier.path == folder
    assert classifier_path("words", state) == folder
    assert read_manifest(classifier_path("words@v1", state)).version == 1
    router_folder = router_path("tiers", state)
    router = load_router(router_folder)
    write_router_manifest(router_folder, router.manifest.model_copy(update={"calibration": None}))
    assert read_router_manifest(router_folder).calibration is None
    assert sorted(p.name for p in router_folder.iterdir()) == ["arrays.npz", MANIFEST]


class NoteManifest(ArtifactManifest):
    """A third kind of artifact, as fine-tuned adapters will be one."""

    format: Literal["test.note"] = "test.note"
    format_version: Literal[1] = 1


NOTES = ArtifactKind(
    what="note",
    folder="notes",
    manifest=NoteManifest,
    data_files=("note.txt",),
    train_command="make-note {name}",
)


def save_note(state: Path, text: str) -> Path:
    folder, _ = NOTES.save(
        NoteManifest(name="n", created="2025-01-01T00:00:00+00:00"),
        state,
        lambda folder: (folder / "note.txt").write_text(text, encoding="utf-8"),
    )
    return folder


def test_a_new_kind_gets_versions_references_and_messages(tmp_path: Path) -> None:
    first, second = save_note(tmp_path, "a"), save_note(tmp_path, "b")
    assert (first, second) == (tmp_path / "notes" / "n" / "v1", tmp_path / "notes" / "n" / "v2")
    assert NOTES.names(tmp_path) == ["n"]
    assert NOTES.path("n", tmp_path) == second
    assert NOTES.path("n@v1", tmp_path) == first
    assert NOTES.path("n", tmp_path, version=1) == first
    assert NOTES.path(str(first), tmp_path) == first
    home = tmp_path / "notes"
    with pytest.raises(ConfigError) as missing:
        NOTES.path("n@v9", tmp_path)
    assert str(missing.value) == (
        f"no note 'n@v9' in {home}; trained versions: v1, v2. Notes here: n. "
        "Train one with `make-note n`."
    )
    with pytest.raises(ConfigError) as other:
        NOTES.path("m", tmp_path, version=3)
    assert str(other.value) == (
        f"no note 'm' version 3 in {home}. Notes here: n. Train one with `make-note m`."
    )
    with pytest.raises(ConfigError, match=r"no note at .*nowhere: it has no manifest\.json"):
        NOTES.path(str(tmp_path / "nowhere"), tmp_path)


def test_loading_is_cached_until_the_files_change(tmp_path: Path) -> None:
    folder = save_note(tmp_path, "a")

    def read(manifest: NoteManifest) -> list[str]:
        return [manifest.name, (folder / "note.txt").read_text(encoding="utf-8")]

    loaded = NOTES.load(folder, read)
    assert loaded == ["n", "a"] and NOTES.load(folder, read) is loaded
    assert NOTES.load(folder, read, cache=False) is not loaded
    (folder / "note.txt").write_text("changed", encoding="utf-8")
    later = os.stat(folder / "note.txt").st_mtime_ns + 1_000_000_000
    os.utime(folder / "note.txt", ns=(later, later))
    assert NOTES.load(folder, read) == ["n", "changed"]


def test_a_failed_save_leaves_no_version_behind(tmp_path: Path) -> None:
    def fail(folder: Path) -> None:
        (folder / "note.txt").write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        NOTES.save(NoteManifest(name="n", created="now"), tmp_path, fail)
    assert list((tmp_path / "notes" / "n").iterdir()) == []
    assert NOTES.names(tmp_path) == []
