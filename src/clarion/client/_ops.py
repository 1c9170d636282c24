"""Every call the client makes, as an ``Op``: the request to send and how to read the answer.

Shared by the sync and async clients, so both send the very same requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.client._caller import Op, error_for_status
from clarion.client._sources import struct
from clarion.client.types import (
    AppInfo,
    Hit,
    Input,
    InputCounts,
    Key,
    ModelInfo,
    ModelVersion,
    Prediction,
    SavedSearch,
    User,
)
from clarion.codes import FAILURE, MIXED_STATUS, SUCCESS

PUBLIC_USER = "clarifai"
PUBLIC_APP = "main"
PATCH_ACTIONS = ("merge", "overwrite", "remove")
TRAINABLE_MODEL_TYPE = "embedding-classifier"


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose app a call is about. No ``app_id`` means the app an API key is bound to."""

    user_id: str | None
    app_id: str | None

    def user_app_id(self) -> resources_pb2.UserAppIDSet | None:
        if not self.app_id:
            return None
        return resources_pb2.UserAppIDSet(user_id=self.user_id or "me", app_id=self.app_id)

    def user_only(self) -> resources_pb2.UserAppIDSet:
        return resources_pb2.UserAppIDSet(user_id=self.user_id or "me")


def _none(response: Any) -> None:
    return None


# users, apps, keys


def get_user(scope: Scope) -> Op[User]:
    request = service_pb2.GetUserRequest(user_app_id=scope.user_only())
    return Op("GetUser", request, lambda r: User.from_proto(r.user))


def list_apps(scope: Scope, page: int, per_page: int) -> Op[list[AppInfo]]:
    request = service_pb2.ListAppsRequest(
        user_app_id=scope.user_only(), page=page, per_page=per_page
    )
    return Op("ListApps", request, lambda r: [AppInfo.from_proto(app) for app in r.apps])


def create_app(scope: Scope, app_id: str, name: str, description: str) -> Op[AppInfo]:
    app = resources_pb2.App(id=app_id, name=name, description=description)
    request = service_pb2.PostAppsRequest(user_app_id=scope.user_only(), apps=[app])
    return Op("PostApps", request, lambda r: AppInfo.from_proto(r.apps[0]))


def get_app(scope: Scope) -> Op[AppInfo]:
    request = service_pb2.GetAppRequest(user_app_id=scope.user_app_id())
    return Op("GetApp", request, lambda r: AppInfo.from_proto(r.app))


def delete_app(scope: Scope) -> Op[None]:
    return Op("DeleteApp", service_pb2.DeleteAppRequest(user_app_id=scope.user_app_id()), _none)


def list_keys(scope: Scope, page: int, per_page: int) -> Op[list[Key]]:
    request = service_pb2.ListKeysRequest(
        user_app_id=scope.user_only(), page=page, per_page=per_page
    )
    return Op("ListKeys", request, lambda r: [Key.from_proto(key) for key in r.keys])


def create_key(scope: Scope, app_id: str, scopes: Sequence[str], description: str) -> Op[Key]:
    key = resources_pb2.Key(
        description=description,
        scopes=list(scopes),
        apps=[resources_pb2.App(id=app_id, user_id=scope.user_id or "me")],
    )
    request = service_pb2.PostKeysRequest(user_app_id=scope.user_only(), keys=[key])
    return Op("PostKeys", request, lambda r: Key.from_proto(r.keys[0]))


def delete_key(scope: Scope, key_id: str) -> Op[None]:
    request = service_pb2.DeleteKeyRequest(user_app_id=scope.user_only(), key_id=key_id)
    return Op("DeleteKey", request, _none)


# models and predictions


def list_models(scope: Scope, page: int, per_page: int) -> Op[list[ModelInfo]]:
    request = service_pb2.ListModelsRequest(
        user_app_id=scope.user_app_id(), page=page, per_page=per_page
    )
    return Op("ListModels", request, lambda r: [ModelInfo.from_proto(m) for m in r.models])


def get_model(scope: Scope, model_id: str, version_id: str) -> Op[ModelInfo]:
    request = service_pb2.GetModelRequest(
        user_app_id=scope.user_app_id(), model_id=model_id, version_id=version_id
    )
    return Op("GetModel", request, lambda r: ModelInfo.from_proto(r.model))


def create_model(
    scope: Scope, model_id: str, concepts: Sequence[str], name: str, description: str
) -> Op[ModelInfo]:
    """``PostModels``: a trainable ``embedding-classifier`` of ``concepts`` (ids)."""
    model = resources_pb2.Model(
        id=model_id,
        name=name,
        description=description,
        model_type_id=TRAINABLE_MODEL_TYPE,
    )
    model.output_info.data.concepts.extend(
        resources_pb2.Concept(id=concept_id, value=1.0) for concept_id in concepts
    )
    request = service_pb2.PostModelsRequest(user_app_id=scope.user_app_id(), models=[model])
    return Op("PostModels", request, lambda r: ModelInfo.from_proto(r.model))


def train_model(scope: Scope, model_id: str, concepts: Sequence[str] | None) -> Op[ModelVersion]:
    """``PostModelVersions``: queue the training of a new version, on ``concepts`` (ids) if
    given, else on the model's."""
    request = service_pb2.PostModelVersionsRequest(
        user_app_id=scope.user_app_id(), model_id=model_id
    )
    if concepts:
        version = request.model_versions.add()
        version.output_info.data.concepts.extend(
            resources_pb2.Concept(id=concept_id, value=1.0) for concept_id in concepts
        )
    return Op(
        "PostModelVersions", request, lambda r: ModelVersion.from_proto(r.model.model_version)
    )


def get_model_version(scope: Scope, model_id: str, version_id: str) -> Op[ModelVersion]:
    request = service_pb2.GetModelVersionRequest(
        user_app_id=scope.user_app_id(), model_id=model_id, version_id=version_id
    )
    return Op("GetModelVersion", request, lambda r: ModelVersion.from_proto(r.model_version))


def list_model_versions(
    scope: Scope, model_id: str, page: int, per_page: int
) -> Op[list[ModelVersion]]:
    request = service_pb2.ListModelVersionsRequest(
        user_app_id=scope.user_app_id(), model_id=model_id, page=page, per_page=per_page
    )
    return Op(
        "ListModelVersions",
        request,
        lambda r: [ModelVersion.from_proto(version) for version in r.model_versions],
    )


def trained(version: ModelVersion) -> ModelVersion:
    """``version`` once its training ended: itself when trained, else its status's error."""
    if version.trained:
        return version
    raise error_for_status(version.proto.status)


def poll_delay(polls: int) -> float:
    """Seconds to wait before the next ``GetModelVersion``: quick at first, then 1 s."""
    return float(min(0.1 * 2**polls, 1.0))


def output_config(
    max_concepts: int | None, min_value: float | None, select_concepts: Iterable[str] | None
) -> resources_pb2.OutputConfig | None:
    """The predict-time knobs, or None when none is set."""
    if max_concepts is None and min_value is None and select_concepts is None:
        return None
    config = resources_pb2.OutputConfig(max_concepts=max_concepts or 0, min_value=min_value or 0)
    config.select_concepts.extend(
        resources_pb2.Concept(name=name) for name in (select_concepts or ())
    )
    return config


def predict(
    scope: Scope,
    model_id: str,
    version_id: str,
    inputs: Sequence[resources_pb2.Input],
    config: resources_pb2.OutputConfig | None,
    *,
    partial: bool,
) -> Op[list[Prediction]]:
    """``PostModelOutputs``; with ``partial``, a batch where some inputs failed is an answer."""
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=scope.user_app_id(), model_id=model_id, version_id=version_id, inputs=inputs
    )
    if config is not None:
        request.model.output_info.output_config.CopyFrom(config)
    accept = frozenset({SUCCESS, MIXED_STATUS} if partial else {SUCCESS})
    return Op(
        "PostModelOutputs",
        request,
        lambda r: [Prediction.from_proto(output) for output in r.outputs],
        accept,
    )


# inputs


def post_inputs(
    scope: Scope, inputs: Sequence[resources_pb2.Input]
) -> Op[service_pb2.MultiInputResponse]:
    """``PostInputs``; the per-input statuses are the answer, even when all were refused."""
    request = service_pb2.PostInputsRequest(user_app_id=scope.user_app_id(), inputs=inputs)
    return Op("PostInputs", request, lambda r: r, frozenset({SUCCESS, MIXED_STATUS, FAILURE}))


def get_input(scope: Scope, input_id: str) -> Op[Input]:
    request = service_pb2.GetInputRequest(user_app_id=scope.user_app_id(), input_id=input_id)
    return Op("GetInput", request, lambda r: Input.from_proto(r.input))


def list_inputs(scope: Scope, page: int, per_page: int, ids: Sequence[str] = ()) -> Op[list[Input]]:
    request = service_pb2.ListInputsRequest(
        user_app_id=scope.user_app_id(), page=page, per_page=per_page, ids=list(ids)
    )
    return Op("ListInputs", request, lambda r: [Input.from_proto(i) for i in r.inputs])


def delete_inputs(scope: Scope, ids: Sequence[str]) -> Op[None]:
    request = service_pb2.DeleteInputsRequest(user_app_id=scope.user_app_id(), ids=list(ids))
    return Op("DeleteInputs", request, _none)


def count_inputs(scope: Scope) -> Op[InputCounts]:
    request = service_pb2.GetInputCountRequest(user_app_id=scope.user_app_id())
    return Op("GetInputCount", request, lambda r: InputCounts.from_proto(r.counts))


def patch_input(
    scope: Scope,
    input_id: str,
    concepts: Mapping[str, bool] | None,
    metadata: Mapping[str, Any] | None,
    action: str,
) -> Op[Input]:
    """``PatchInputs`` for one input; ``concepts`` maps a concept id to present/absent."""
    if action not in PATCH_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(PATCH_ACTIONS)}, not {action!r}")
    data = resources_pb2.Data()
    for concept_id, present in (concepts or {}).items():
        data.concepts.append(resources_pb2.Concept(id=concept_id, value=1.0 if present else 0.0))
    if metadata is not None:
        data.metadata.CopyFrom(struct(metadata))
    request = service_pb2.PatchInputsRequest(
        user_app_id=scope.user_app_id(),
        inputs=[resources_pb2.Input(id=input_id, data=data)],
        action=action,
    )
    return Op("PatchInputs", request, lambda r: Input.from_proto(r.inputs[0]))


# searches


def new_search(query: resources_pb2.Query, min_value: float | None) -> resources_pb2.Search:
    """A ``Search`` of ``query``; ``min_value`` leaves out hits that score below it."""
    return resources_pb2.Search(query=query, min_value=min_value or 0.0)


def _hits(response: Any) -> list[Hit]:
    return [Hit.from_proto(hit) for hit in response.hits]


def _total(response: Any) -> int:
    return int(response.hit_counts[0].estimated_total) if response.hit_counts else 0


def _pagination(page: int, per_page: int) -> service_pb2.Pagination:
    return service_pb2.Pagination(page=page, per_page=per_page)


def search_inputs(
    scope: Scope, search: resources_pb2.Search, page: int, per_page: int
) -> Op[list[Hit]]:
    """A page of ``PostInputsSearches`` hits, best first."""
    request = service_pb2.PostInputsSearchesRequest(
        user_app_id=scope.user_app_id(), searches=[search], pagination=_pagination(page, per_page)
    )
    return Op("PostInputsSearches", request, _hits)


def count_search(scope: Scope, search: resources_pb2.Search) -> Op[int]:
    """How many inputs the search matches (``only_count``: no hits come back)."""
    request = service_pb2.PostInputsSearchesRequest(
        user_app_id=scope.user_app_id(), searches=[search], only_count=True
    )
    return Op("PostInputsSearches", request, _total)


def save_search(scope: Scope, search: resources_pb2.Search, search_id: str, name: str) -> Op[str]:
    """Save ``search`` (under ``search_id``, or an id the server picks); returns the id."""
    saved = resources_pb2.Search()
    saved.CopyFrom(search)
    saved.save, saved.id, saved.name = True, search_id, name
    request = service_pb2.PostInputsSearchesRequest(
        user_app_id=scope.user_app_id(), searches=[saved], only_count=True
    )
    return Op(
        "PostInputsSearches", request, lambda r: r.searches[0].id if r.searches else search_id
    )


def get_search(scope: Scope, search_id: str) -> Op[SavedSearch]:
    request = service_pb2.GetSearchRequest(user_app_id=scope.user_app_id(), id=search_id)
    return Op("GetSearch", request, lambda r: SavedSearch.from_proto(r.search))


def list_searches(scope: Scope, page: int, per_page: int) -> Op[list[SavedSearch]]:
    request = service_pb2.ListSearchesRequest(
        user_app_id=scope.user_app_id(), page=page, per_page=per_page
    )
    return Op("ListSearches", request, lambda r: [SavedSearch.from_proto(s) for s in r.searches])


def run_saved_search(scope: Scope, search_id: str, page: int, per_page: int) -> Op[list[Hit]]:
    """A page of the hits of a saved search (``PostSearchesByID``)."""
    request = service_pb2.PostSearchesByIDRequest(
        user_app_id=scope.user_app_id(), id=search_id, pagination=_pagination(page, per_page)
    )
    return Op("PostSearchesByID", request, _hits)


def count_saved_search(scope: Scope, search_id: str) -> Op[int]:
    """How many inputs a saved search matches: its hit count, read from a one-hit page."""
    request = service_pb2.PostSearchesByIDRequest(
        user_app_id=scope.user_app_id(), id=search_id, pagination=_pagination(1, 1)
    )
    return Op("PostSearchesByID", request, _total)


def delete_search(scope: Scope, search_id: str) -> Op[None]:
    request = service_pb2.DeleteSearchRequest(user_app_id=scope.user_app_id(), id=search_id)
    return Op("DeleteSearch", request, _none)
