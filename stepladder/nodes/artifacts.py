"""The trained artifacts a flow's nodes use (classifiers, routers, adapters), found at run start.

A node declares what it needs as `ArtifactRef`s (`NodeSpecBase.artifacts()`); building it
reads no file. The flow keeps one `Artifacts` for all its runs and hands it to its nodes in
the run context. `Artifacts.prepare()`, called before the first node runs, finds each
artifact, reads its manifest (a missing, unreadable or outdated one is reported at the YAML
field that names it) and runs the nodes' own checks against the manifests, once per flow. A
node then loads its artifact at call time (`classifier(ref)`, `router(ref)`); loading is
cached per process while the artifact's files are unchanged. An LLM node's LoRA adapter
(`adapter(ref)`) is only found here; the model pool loads it into the tier's server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stepladder.errors import ConfigError, FlowCompileError
from stepladder.predictors.adapters import (
    AdapterManifest,
    SavedAdapter,
    adapter_path,
    read_adapter_manifest,
)
from stepladder.predictors.artifacts import lookup_state_dir
from stepladder.predictors.classifier.manifest import ClassifierManifest
from stepladder.predictors.classifier.model import (
    EmbeddingClassifier,
    classifier_path,
    load_classifier,
    read_manifest,
)
from stepladder.predictors.router import (
    Router,
    RouterManifest,
    load_router,
    read_router_manifest,
    router_path,
)

__all__ = ["ArtifactCheck", "ArtifactRef", "Artifacts", "adapter_ref"]

PredictorKind = Literal["classifier", "router", "adapter"]


@dataclass(frozen=True)
class ArtifactRef:
    """A trained artifact a node needs, as its spec names it.

    Attributes:
        kind: `classifier`, `router` or `adapter`.
        reference: NAME (the newest version), NAME@vN, or a folder.
        version: A version of NAME given apart from the reference (a route node's `version`).
        field: The spec field that names it, where a problem with it is reported.
    """

    kind: PredictorKind
    reference: str
    version: int | None = None
    field: str = ""


def adapter_ref(reference: str) -> ArtifactRef:
    """The artifact an LLM node's `adapter:` names."""
    return ArtifactRef("adapter", reference, field="adapter")


ArtifactCheck = Callable[["Artifacts"], None]
"""A node's check of its artifacts' manifests, run once before the flow's first run."""

Where = Callable[[str], str]


@dataclass(frozen=True)
class _Expected:
    refs: tuple[ArtifactRef, ...]
    where: Where
    check: ArtifactCheck | None


@dataclass(frozen=True)
class _Found:
    folder: Path
    manifest: ClassifierManifest | RouterManifest | AdapterManifest


class Artifacts:
    """The artifacts of one flow: declared when it is built, found when a run starts.

    Args:
        project_root: The flow's project folder (NAME references are looked up in its state
            folder); None for a flow outside a project, whose references must be folders.
    """

    def __init__(self, project_root: Path | None = None) -> None:
        self.project_root = project_root
        self._expected: list[_Expected] = []
        self._found: dict[ArtifactRef, _Found] = {}
        self._ready = False
        self._preparing = False
        self._lock = threading.RLock()

    def expect(
        self, refs: Sequence[ArtifactRef], where: Where, check: ArtifactCheck | None = None
    ) -> None:
        """Record what one node needs (at build time: nothing is read).

        Args:
            refs: The node's artifacts.
            where: Names a field of the node for an error (`nodes[2].classifier (f.yaml, ...)`).
            check: The node's check of the manifests, run by `prepare` after they are read.
        """
        if refs or check is not None:
            with self._lock:
                self._expected.append(_Expected(tuple(refs), where, check))
                self._ready = False

    def prepare(self) -> None:
        """Find every expected artifact, read its manifest and run the nodes' checks (once).

        A failed preparation is tried afresh the next time.

        Raises:
            FlowCompileError: Naming the node's field, when an artifact is missing or
                unreadable, or a node's check refuses it.
        """
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self._preparing = True
            try:
                for expected in self._expected:
                    for ref in expected.refs:
                        self._find(ref, expected.where)
                for expected in self._expected:
                    if expected.check is not None:
                        expected.check(self)
            except BaseException:
                self._found.clear()
                raise
            finally:
                self._preparing = False
            self._ready = True

    def classifier_manifest(self, ref: ArtifactRef) -> ClassifierManifest:
        """The manifest of a classifier (read when the run started)."""
        manifest = self._found_for(ref).manifest
        assert isinstance(manifest, ClassifierManifest)
        return manifest

    def router_manifest(self, ref: ArtifactRef) -> RouterManifest:
        """The manifest of a router (read when the run started)."""
        manifest = self._found_for(ref).manifest
        assert isinstance(manifest, RouterManifest)
        return manifest

    def adapter(self, ref: ArtifactRef) -> SavedAdapter:
        """A LoRA adapter: its folder and manifest (read when the run started)."""
        found = self._found_for(ref)
        assert isinstance(found.manifest, AdapterManifest)
        return SavedAdapter(found.folder, found.manifest)

    def classifier(self, ref: ArtifactRef) -> EmbeddingClassifier:
        """The classifier, loaded on first use (once per process while its files are unchanged)."""
        return load_classifier(self._found_for(ref).folder)

    def router(self, ref: ArtifactRef) -> Router:
        """The router, loaded on first use (once per process while its files are unchanged)."""
        return load_router(self._found_for(ref).folder)

    def _found_for(self, ref: ArtifactRef) -> _Found:
        if not self._preparing:  # the checks `prepare` runs read manifests too
            self.prepare()
        found = self._found.get(ref)
        if found is None:  # not declared by a node of the flow: found now, without a location
            with self._lock:
                found = self._found.get(ref) or self._find(ref, None)
        return found

    def _find(self, ref: ArtifactRef, where: Where | None) -> _Found:
        if ref in self._found:
            return self._found[ref]
        try:
            state_dir = lookup_state_dir(self.project_root, ref.reference, ref.kind)
            if ref.kind == "classifier":
                folder = classifier_path(ref.reference, state_dir)
                found = _Found(folder, read_manifest(folder))
            elif ref.kind == "adapter":
                folder = adapter_path(ref.reference, state_dir)
                found = _Found(folder, read_adapter_manifest(folder))
            else:
                folder = router_path(ref.reference, state_dir, ref.version)
                found = _Found(folder, read_router_manifest(folder))
        except ConfigError as error:
            if where is None:
                raise
            raise FlowCompileError(f"{where(ref.field)}: {error}") from None
        self._found[ref] = found
        return found
