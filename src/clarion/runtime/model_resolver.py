"""Model references to models and runners: an app's custom models first, then the built-in
catalog.

``PostModelOutputs``, ``PostWorkflowResults`` and ingestion (an app's base workflow) all
resolve models the same way, through ``ModelResolver``. The read side (GetModel,
ListModelVersions, evaluations) finds models with the same two functions the resolver uses:
``find_builtin`` for the built-in ones and ``find_version`` for a custom model's versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from clarion import codes
from clarion.codes import MODEL_TRAINED
from clarion.errors import (
    ModelNotFound,
    ModelUntrained,
    WorkflowInvalidArgument,
    WorkflowNeedsTrainedModel,
)
from clarion.inference.base import ConceptScore, ImageRunner, ModelInfo, TextRunner
from clarion.inference.catalog import GENERAL_IMAGE_EMBEDDING, IMAGE_TO_TEXT, VISUAL_DETECTOR
from clarion.inference.embedding_classifier import EmbeddingClassifier
from clarion.inference.trainer import LinearClassifier
from clarion.inference.workflow import (
    GENERAL_WORKFLOW,
    PUBLIC_WORKFLOWS,
    GraphNode,
    NodeSpec,
    Predict,
    graph_order,
)
from clarion.storage.models import ModelRecord, ModelStore, VersionRecord


class Catalog(Protocol):
    """The built-in models (``clarion.inference.ModelCatalog``)."""

    def find(self, model_id: str) -> ModelInfo | None: ...
    def runner(self, model_id: str) -> ImageRunner: ...
    def text_runner(self, model_id: str) -> TextRunner: ...


class Models(Catalog, Protocol):
    """The whole catalog: the models it lists too (``clarion.inference.ModelCatalog``)."""

    def models(self) -> tuple[ModelInfo, ...]: ...
    def not_installed(self, model_id: str) -> str | None: ...


def find_builtin(catalog: Catalog, model_id: str, version_id: str = "") -> ModelInfo | None:
    """A built-in model by slug, legacy id or legacy name; ``ModelNotFound`` for a version
    it lacks (its own version id and its legacy ones are the one version it has)."""
    info = catalog.find(model_id) if model_id else None
    if info is not None and version_id and not info.has_version(version_id):
        raise ModelNotFound("model version", f"{model_id}/{version_id}")
    return info


def require_builtin(catalog: Catalog, model_id: str, version_id: str = "") -> ModelInfo:
    """``find_builtin``, with ``ModelNotFound`` for a model the catalog lacks."""
    info = find_builtin(catalog, model_id, version_id)
    if info is None:
        raise ModelNotFound("model", model_id)
    return info


def builtin_predict(catalog: Catalog, info: ModelInfo) -> Predict:
    """A built-in model's batch predict. The runner is looked up at each call: the catalog
    creates (and loads) it on first use."""
    if info.input_kind == "text":
        return lambda texts: catalog.text_runner(info.id).predict(texts)
    return lambda images: catalog.runner(info.id).predict(images)


def find_version(
    store: ModelStore,
    app_pk: int,
    model_id: str,
    version_id: str = "",
    *,
    trained_only: bool = False,
) -> VersionRecord | None:
    """A custom model's version: the one named (``ModelNotFound`` if it has none such), else
    its newest (trained) one, None when it has none yet."""
    if not version_id:
        return store.latest_version(app_pk, model_id, trained_only=trained_only)
    version = store.get_version(app_pk, model_id, version_id)
    if version is None:
        raise ModelNotFound("model version", f"{model_id}/{version_id}")
    return version


@dataclass(frozen=True, slots=True)
class CustomModel:
    """A custom model at a trained version, with the runner that predicts with it."""

    model: ModelRecord
    version: VersionRecord
    runner: EmbeddingClassifier


@dataclass(frozen=True, slots=True)
class ResolvedNode:
    """A workflow node ready to run, and the model it runs (built-in ``info`` or ``custom``)."""

    graph: GraphNode
    info: ModelInfo | None = None
    custom: CustomModel | None = None


class ModelResolver:
    """Finds the runner for a model reference: the app's custom model, else a built-in one."""

    def __init__(self, catalog: Catalog, store: ModelStore) -> None:
        self._catalog = catalog
        self._store = store

    def builtin(self, model_id: str, version_id: str = "") -> ModelInfo | None:
        """``find_builtin`` in this resolver's catalog."""
        return find_builtin(self._catalog, model_id, version_id)

    def custom(self, app_pk: int, model_id: str, version_id: str = "") -> CustomModel | None:
        """The app's custom model at ``version_id`` (its newest trained one when empty).

        None when the app has no such model; ``ModelNotFound`` for an unknown version and
        ``ModelUntrained`` when the version (or the model) has nothing trained to run.
        """
        model = self._store.lookup_model(app_pk, model_id) if model_id else None
        if model is None:
            return None
        version = self._version(app_pk, model, version_id)
        assert version.weights is not None
        concepts = [ConceptScore(c.id, c.name, 1.0) for c in version.concepts]
        runner = EmbeddingClassifier(
            self._catalog.runner(GENERAL_IMAGE_EMBEDDING),
            LinearClassifier.from_bytes(version.weights),
            concepts,
            exclusive=bool(version.output_config.get("concepts_mutually_exclusive")),
        )
        return CustomModel(model, version, runner)

    def _version(self, app_pk: int, model: ModelRecord, version_id: str) -> VersionRecord:
        version = find_version(self._store, app_pk, model.id, version_id, trained_only=True)
        if version is None:
            raise ModelUntrained(f"Model '{model.id}' has no trained version yet")
        if version.status_code != MODEL_TRAINED or version.weights is None:
            raise ModelUntrained(
                f"Version '{version.id}' of model '{model.id}' is not trained: its status is "
                f"{codes.name_of(version.status_code)}"
                + (f" ({version.status_description})" if version.status_description else "")
            )
        return version

    # workflows

    def workflow_specs(self, app_pk: int, workflow_id: str) -> tuple[NodeSpec, ...] | None:
        """A workflow's nodes: the app's own workflow, else a public one, else None."""
        stored = self._store.get_workflow(app_pk, workflow_id) if workflow_id else None
        if stored is not None:
            return tuple(NodeSpec.from_json(node) for node in stored.nodes)
        return PUBLIC_WORKFLOWS.get(workflow_id)

    def check_model(self, app_pk: int, spec: NodeSpec) -> None:
        """Raise ``WorkflowInvalidArgument`` unless the node's model (and version) exist."""
        try:
            found = self._exists(app_pk, spec)
        except ModelNotFound as missing:
            raise WorkflowInvalidArgument(
                f"Workflow node '{spec.id}': {missing.description}"
            ) from missing
        if not found:
            raise WorkflowInvalidArgument(
                f"Workflow node '{spec.id}': model '{spec.model_id}' does not exist"
            )

    def _exists(self, app_pk: int, spec: NodeSpec) -> bool:
        if not spec.public and self._store.get_model(app_pk, spec.model_id) is not None:
            if spec.version_id and not self._store.get_version(
                app_pk, spec.model_id, spec.version_id
            ):
                raise ModelNotFound("model version", f"{spec.model_id}/{spec.version_id}")
            return True
        return self.builtin(spec.model_id, spec.version_id) is not None

    def graph(self, app_pk: int, specs: Sequence[NodeSpec]) -> list[ResolvedNode]:
        """The workflow's nodes in run order, each with its model's runner."""
        return [self._node(app_pk, spec) for spec in graph_order(specs)]

    def default_graph(self, app_pk: int) -> list[ResolvedNode] | None:
        """The app's base workflow ready to run; None for the General one (or none set).

        Raises the errors of ``graph`` when the workflow cannot run (a deleted model, say),
        and ``WorkflowInvalidArgument`` when the workflow itself is gone.
        """
        workflow_id = self._store.default_workflow_id(app_pk)
        if workflow_id in ("", GENERAL_WORKFLOW):
            return None
        specs = self.workflow_specs(app_pk, workflow_id)
        if specs is None:
            raise WorkflowInvalidArgument(f"The base workflow '{workflow_id}' does not exist")
        return self.graph(app_pk, specs)

    def _node(self, app_pk: int, spec: NodeSpec) -> ResolvedNode:
        try:
            custom = None if spec.public else self.custom(app_pk, spec.model_id, spec.version_id)
            info = None if custom is not None else self.builtin(spec.model_id, spec.version_id)
        except ModelUntrained as untrained:
            raise WorkflowNeedsTrainedModel(
                f"Workflow node '{spec.id}': {untrained.description}"
            ) from untrained
        except ModelNotFound as missing:
            raise WorkflowInvalidArgument(
                f"Workflow node '{spec.id}': {missing.description}"
            ) from missing
        if custom is not None:
            graph = GraphNode(
                spec=spec,
                model_id=custom.model.id,
                builtin=False,
                input_kind="image",
                yields_regions=False,
                predict=custom.runner.predict,
            )
            return ResolvedNode(graph, custom=custom)
        if info is None:
            raise WorkflowInvalidArgument(
                f"Workflow node '{spec.id}': model '{spec.model_id}' does not exist"
            )
        return ResolvedNode(self._builtin_node(spec, info), info=info)

    def _builtin_node(self, spec: NodeSpec, info: ModelInfo) -> GraphNode:
        return GraphNode(
            spec=spec,
            model_id=info.id,
            builtin=True,
            input_kind=info.input_kind,
            yields_regions=info.model_type_id in (VISUAL_DETECTOR, IMAGE_TO_TEXT),
            predict=builtin_predict(self._catalog, info),
        )
