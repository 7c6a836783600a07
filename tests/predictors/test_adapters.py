"""Adapters as versioned artifacts: the manifest, saving (nothing half-written), finding them."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from stepladder.config.tiers import LiteLLMTier, LlamaCppTier, SGLangTier
from stepladder.errors import ConfigError
from stepladder.predictors.adapters import (
    ADAPTERS,
    AdapterBase,
    AdapterFiles,
    SavedAdapter,
    adapter_path,
    base_for_tier,
    list_adapters,
    read_adapter_manifest,
    save_adapter,
)
from stepladder.predictors.artifacts import MANIFEST
from tests.predictors.adapter_samples import (
    SMOLLM,
    SMOLLM_BASE,
    placeholder_exports,
    sample_manifest,
    save_sample,
)


def test_versions_are_saved_with_both_exports_and_found_by_name(tmp_path: Path) -> None:
    first = save_sample(tmp_path, "support-extract")
    second = save_sample(tmp_path, "support-extract")
    assert first.label == "support-extract@v1" and second.label == "support-extract@v2"
    home = tmp_path / "adapters" / "support-extract"
    assert second.folder == home / "v2"
    assert (second.folder / "peft" / "adapter_config.json").is_file()
    assert (second.folder / "adapter.gguf").is_file()
    assert adapter_path("support-extract", tmp_path) == home / "v2"
    assert adapter_path("support-extract@v1", tmp_path) == home / "v1"
    assert adapter_path(str(home / "v1"), tmp_path) == home / "v1"
    assert list_adapters(tmp_path) == ["support-extract"]
    assert sorted(p.name for p in home.iterdir()) == ["v1", "v2"]  # no staging folder left


def test_the_manifest_says_what_the_adapter_was_trained_on(tmp_path: Path) -> None:
    saved = save_sample(tmp_path, "reply")
    data = json.loads((saved.folder / MANIFEST).read_text(encoding="utf-8"))
    assert list(data)[:5] == ["format", "format_version", "name", "version", "created"]
    assert data["format"] == "stepladder-adapter" and data["format_version"] == 1
    assert data["base"]["sha256"] == SMOLLM.sha256
    assert data["base"]["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert data["base"]["architecture"] == "llama"
    assert data["flow"] == "support" and data["nodes"] == ["reply"]
    assert data["data"] == {
        "hash": "0" * 64,
        "counts": {"evalset:train": 36, "captures": 4},
        "train": 36,
        "validation": 4,
    }
    assert data["hyperparameters"]["rank"] == 8
    assert data["metrics_before"] == {"accuracy": 0.24}
    assert data["metrics_after"] == {"accuracy": 0.9}
    assert data["train_seconds"] == 12.5 and data["peak_rss_gb"] == 1.25
    assert read_adapter_manifest(saved.folder) == saved.manifest


def test_a_base_is_a_gguf_file_or_a_model_folder() -> None:
    folder = AdapterBase(architecture="llama", folder="/models/smollm2")
    assert folder.describe() == "/models/smollm2"
    assert SMOLLM_BASE.describe() == f"smollm2-135m (sha256 {SMOLLM.sha256[:12]}...)"
    with pytest.raises(ValidationError, match="either a GGUF file"):
        AdapterBase(architecture="llama")
    with pytest.raises(ValidationError, match="either a GGUF file"):
        AdapterBase(architecture="llama", folder="/m", gguf_file="m.gguf", sha256="a" * 64)
    with pytest.raises(ValidationError, match="gguf_file"):
        AdapterBase(architecture="llama", sha256="a" * 64)


def test_a_missing_export_registers_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"wrote no adapter\.gguf\. Nothing was registered"):
        save_adapter(
            sample_manifest("reply"), tmp_path, lambda files: placeholder_exports(files, False)
        )
    assert list_adapters(tmp_path) == []
    assert list((tmp_path / "adapters" / "reply").iterdir()) == []


def test_a_gpu_base_needs_no_gguf_export(tmp_path: Path) -> None:
    base = AdapterBase(architecture="llama", folder="/models/smollm2")
    saved = save_adapter(
        sample_manifest("reply", base), tmp_path, lambda f: placeholder_exports(f, False)
    )
    assert saved.load().gguf is None and saved.load().peft == saved.folder / "peft"


def test_a_full_disk_while_saving_registers_nothing(tmp_path: Path) -> None:
    save_sample(tmp_path, "reply")

    def fill_the_disk(files: AdapterFiles) -> None:
        placeholder_exports(files)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        save_adapter(sample_manifest("reply"), tmp_path, fill_the_disk)
    assert adapter_path("reply", tmp_path).name == "v1"  # v2 was never registered
    assert [p.name for p in (tmp_path / "adapters" / "reply").iterdir()] == ["v1"]


def test_a_missing_adapter_names_those_saved_and_the_train_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as empty:
        adapter_path("reply", tmp_path)
    assert "no adapter 'reply'" in str(empty.value)
    assert "Adapters here: (none)" in str(empty.value)
    assert "`stepladder tune EVALSPEC --name reply --node NODE`" in str(empty.value)
    save_sample(tmp_path, "classify")
    with pytest.raises(ConfigError, match=r"trained versions: v1\. Adapters here: classify"):
        adapter_path("classify@v3", tmp_path)


def test_a_manifest_of_another_format_version_says_retrain(tmp_path: Path) -> None:
    saved = save_sample(tmp_path, "reply")
    data = json.loads((saved.folder / MANIFEST).read_text(encoding="utf-8"))
    (saved.folder / MANIFEST).write_text(json.dumps({**data, "format_version": 2}), "utf-8")
    with pytest.raises(ConfigError, match=r"format version 2.*Retrain it with `stepladder tune"):
        read_adapter_manifest(saved.folder)
    assert ADAPTERS.folder == "adapters"


def test_the_base_a_tier_serves(tmp_path: Path) -> None:
    known = base_for_tier(LlamaCppTier(runtime="llamacpp"), "llama")
    assert known == SMOLLM_BASE
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"not really a model")
    local = base_for_tier(LlamaCppTier(runtime="llamacpp", model=str(model)), "llama")
    assert local.model is None and local.gguf_file == "tiny.gguf"
    assert local.sha256 == hashlib.sha256(b"not really a model").hexdigest()
    gpu = base_for_tier(SGLangTier(runtime="sglang", model_path="/models/m"), "llama")
    assert gpu.folder == "/models/m" and gpu.sha256 is None
    api = LiteLLMTier(runtime="litellm", model="openai/gpt-4.1-mini", api_key_env="KEY")
    with pytest.raises(ConfigError, match="serves no model stepladder can tune"):
        base_for_tier(api, "llama", "frontier")


def test_an_adapter_is_known_by_its_folder_and_served_by_its_label(tmp_path: Path) -> None:
    saved = save_sample(tmp_path / "state", "reply")
    load = saved.load(trusted=frozenset({"small"}))
    assert load.key == str(saved.folder.resolve()) and load.label == "reply@v1"
    assert load.served_name == "reply@v1" and load.trusted == {"small"}
    assert load.gguf == saved.folder / "adapter.gguf" and load.peft == saved.folder / "peft"
    assert load.base_sha256 == SMOLLM.sha256 and load.base_folder is None
    candidate = Path(shutil.copytree(saved.folder, tmp_path / "candidates" / "reply-0123"))
    elsewhere = SavedAdapter(candidate, read_adapter_manifest(candidate)).load()
    assert elsewhere.label == "reply@v1" and elsewhere.key != load.key
    assert elsewhere.served_name.startswith("reply@v1-") and elsewhere.served_name != "reply@v1"
