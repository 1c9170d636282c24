"""Outputs: the output settings a request carries, what a model predicted for one input,
and the status of a call over all its outputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice, takewhile
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from clarion.codes import FAILURE, INPUT_INVALID_ARGUMENT, MIXED_STATUS, SUCCESS
from clarion.errors import InputRejected
from clarion.inference.base import ConceptScore, Prediction
from clarion.inference.workflow import PUBLIC_APP
from clarion.services.messages.concepts import add_concepts
from clarion.services.messages.data import echo_input
from clarion.services.messages.regions import region_to_proto
from clarion.services.messages.values import json_of, now_timestamp, response_id, status

DEFAULT_MAX_CONCEPTS = 20


# output settings


def output_config_json(config: resources_pb2.OutputConfig) -> dict[str, Any]:
    return json_of(config)


def output_config_of(values: Mapping[str, Any]) -> resources_pb2.OutputConfig:
    config = resources_pb2.OutputConfig()
    json_format.ParseDict(dict(values), config, ignore_unknown_fields=True)
    return config


def requested_output_config(model: resources_pb2.Model) -> resources_pb2.OutputConfig:
    """The output settings a request's ``model`` carries, wherever the client put them.

    ``clarifai-grpc`` examples set ``model.output_info.output_config``; the modern SDKs set
    ``model.model_version.output_info.output_config``. Both count: a field the version's
    settings give wins over the model's, as the more specific of the two."""
    on_model = model.output_info.output_config
    if not model.model_version.output_info.HasField("output_config"):
        return on_model
    return overridden(on_model, model.model_version.output_info.output_config)


def overridden(
    base: resources_pb2.OutputConfig, override: resources_pb2.OutputConfig
) -> resources_pb2.OutputConfig:
    """``base`` with every field that ``override`` sets taken from ``override`` (a list such as
    ``select_concepts`` replaced whole, not appended to)."""
    merged = resources_pb2.OutputConfig()
    merged.CopyFrom(base)
    cleared: Message = merged  # ClearField by a descriptor's name: any field of the message
    for field, _ in override.ListFields():
        cleared.ClearField(field.name)
    merged.MergeFrom(override)
    return merged


# outputs


def new_output(model: resources_pb2.Model, message: resources_pb2.Input) -> resources_pb2.Output:
    """An output of ``model`` for the input ``message`` (echoed without its bytes)."""
    return resources_pb2.Output(
        id=response_id(),
        created_at=now_timestamp(),
        model=model,
        input=echo_input(message),
    )


def prediction_output(
    model: resources_pb2.Model,
    message: resources_pb2.Input,
    prediction: Prediction | None,
    error: InputRejected | None,
    config: resources_pb2.OutputConfig,
    app_id: str,
) -> resources_pb2.Output:
    """The output for one input: what ``model`` predicted, or why the input failed."""
    output = new_output(model, message)
    if error is not None or prediction is None:
        error = error or InputRejected(INPUT_INVALID_ARGUMENT, "The input could not be read")
        output.status.CopyFrom(status(error.code, error.description))
        return output
    output.status.CopyFrom(status(SUCCESS, "Ok"))
    fill_data(output.data, prediction, config, app_id)
    return output


def fill_data(
    data: resources_pb2.Data,
    prediction: Prediction,
    config: resources_pb2.OutputConfig,
    app_id: str = PUBLIC_APP,
) -> None:
    """What a model predicted, as Clarifai output data, after the ``config`` knobs."""
    add_concepts(data, chosen_concepts(prediction, config), app_id)
    if prediction.embedding is not None:
        vector = [float(value) for value in prediction.embedding]
        data.embeddings.append(resources_pb2.Embedding(vector=vector, num_dimensions=len(vector)))
    for color in prediction.colors:
        data.colors.append(
            resources_pb2.Color(
                raw_hex=color.hex,
                w3c=resources_pb2.W3C(hex=color.w3c_hex, name=color.w3c_name),
                value=color.value,
            )
        )
    data.regions.extend(region_to_proto(region) for region in prediction.regions)
    if prediction.text:
        data.text.raw = prediction.text


def chosen_concepts(
    prediction: Prediction, config: resources_pb2.OutputConfig
) -> Iterable[ConceptScore]:
    """``select_concepts`` (by id or name) wins; otherwise ``min_value``, then ``max_concepts``."""
    if config.select_concepts:
        wanted = {c.id for c in config.select_concepts} | {c.name for c in config.select_concepts}
        wanted.discard("")
        return [c for c in prediction.concepts if c.id in wanted or c.name in wanted]
    # Concepts come best first: stop at the first below ``min_value`` or past the count.
    above = takewhile(lambda c: c.value >= config.min_value, prediction.concepts)
    return islice(above, config.max_concepts or DEFAULT_MAX_CONCEPTS)


def overall_status(outputs: Sequence[Any]) -> status_pb2.Status:
    """SUCCESS; MIXED_STATUS when some failed; when all failed, their code if they agree.

    ``outputs`` are outputs, or workflow results: anything with a ``status``."""
    failed = [output.status for output in outputs if output.status.code != SUCCESS]
    if not failed:
        return status(SUCCESS, "Ok")
    if len(failed) < len(outputs):
        return status(MIXED_STATUS, f"{len(failed)} of {len(outputs)} inputs failed")
    codes = {failure.code for failure in failed}
    code = codes.pop() if len(codes) == 1 else FAILURE
    return status(code, failed[0].description)
