"""`tune.precision`: auto picks bf16 only where the hardware computes it natively."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from stepladder.config.tune import TuneSettings
from stepladder.optimize.finetune import precision
from stepladder.optimize.finetune.precision import cpu_has_native_bf16, training_precision

CPU = SimpleNamespace(type="cpu")
FLAGS = "flags\t\t: fpu vme sse2 avx2 avx512f{extra}\n"


def _cpuinfo(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\n" + FLAGS.format(extra=extra), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "native"), [(" avx512_bf16", True), (" amx_bf16", True), ("", False)]
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path, extra: str, native: bool) -> None:
    assert cpu_has_native_bf16(_cpuinfo(tmp_path, extra)) is native


def test_an_unreadable_cpuinfo_means_no_bf16(tmp_path: Path) -> None:
    assert cpu_has_native_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_cpu_and_explicit_settings_win(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert training_precision("auto", CPU) == ("bf16" if native else "fp32")
    assert training_precision("fp32", CPU) == "fp32"
    assert training_precision("bf16", CPU) == "bf16"


def test_auto_is_the_default() -> None:
    assert TuneSettings().precision == "auto"
