"""Model upload (PostModelVersionsUpload, ``clarifai model upload``) and the runner Clarion
starts for each uploaded version.

The SDK streams an ``upload_config`` (the model, the version with its method signatures, the
archive's total size), then the model folder's tar.gz in content parts; it reads an
``UPLOAD_IN_PROGRESS`` answer per part and, last, ``MODEL_BUILDING`` with the version's id.
Then it polls GetModelVersion until the version is ``MODEL_TRAINED`` or a failure.

The archive goes to the blob store (its digest in the version's ``train_params``); the build
runs in this server, off the event loop: unpack, a virtualenv with the model's requirements,
a runner record and a credential of the model's own, and the SDK's runner process
(runtime/model_runners.py) connecting back here. The version is ``MODEL_TRAINED`` once that
runner is connected, ``MODEL_BUILDING_FAILED`` (saying why, with pip's or the runner's last
lines) otherwise. The runner lives in the server process's care: calls to the model must reach
this process (runners.py); it is stopped with the server and started again when the server
starts (``restart_served``, from the kept folder).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf.json_format import MessageToDict

from clarion.blobs.base import BlobStore
from clarion.codes import MODEL_BUILDING, MODEL_BUILDING_FAILED, MODEL_TRAINED, UPLOAD_IN_PROGRESS
from clarion.errors import InvalidArgument, ModelInvalidArgument, ModelNotFound
from clarion.runtime.model_resolver import RUNNER_SERVED_TYPES
from clarion.runtime.model_runners import (
    RunnerLimits,
    RunnerProcesses,
    UnsafeArchive,
    build_environment,
    clean_environment,
    log_tail,
    start_runner,
    unpack,
)
from clarion.services.base import StreamHandlerTable, app_pk, require_app
from clarion.services.context import ALL_SCOPES, CallContext
from clarion.services.tokens import hash_token, new_ref, new_token
from clarion.storage.accounts import PERSONAL_ACCESS_TOKEN, AccountStore, AppRecord, KeyRecord
from clarion.storage.compute import RUNNER, ComputeRecord, ComputeStore, model_key, runner_scope
from clarion.storage.model_uploads import ARCHIVE_KEY, UploadedModelStore
from clarion.storage.models import ModelRecord, ModelStore, VersionRecord

log = logging.getLogger("clarion.model_uploads")

# The archive is held in memory while it arrives: a model folder, weights fetched at run time.
MAX_ARCHIVE_BYTES = 512 * 1024**2
# Where uploaded models' runners are declared (Clarion's own cluster and nodepool ids).
UPLOADS_CLUSTER = "clarion-uploads"
UPLOADS_NODEPOOL = "clarion-uploads"
CONNECT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class RunnerSetup:
    """How this server builds and starts uploaded models' runners."""

    root: Path  # one folder per version beneath
    base_python: Path
    limits: RunnerLimits
    build_seconds: float
    api_base: Callable[[], str]  # this server's gRPC address, known once it listens


@dataclass(frozen=True, slots=True)
class _Served:
    """The version a runner serves, by its ids."""

    user_id: str
    app_id: str
    model_id: str
    version_id: str

    @property
    def runner_id(self) -> str:
        return f"upload-{self.version_id}"

    @property
    def model_key(self) -> str:
        return model_key(self.user_id, self.app_id, self.model_id)


@dataclass(frozen=True, slots=True)
class _Upload:
    app: AppRecord
    model: ModelRecord
    version: VersionRecord
    archive: bytes


class ModelUploadsService:
    def __init__(
        self,
        models: ModelStore,
        compute: ComputeStore,
        accounts: AccountStore,
        uploaded: UploadedModelStore,
        blobs: BlobStore,
        setup: RunnerSetup,
        connected: Callable[[str], bool],
        runners_changed: Callable[[], None],
    ) -> None:
        self._models = models
        self._compute = compute
        self._accounts = accounts  # the runner's own credential
        self._uploaded = uploaded
        self._blobs = blobs
        self._setup = setup
        self._connected = connected  # the broker's view: has the model a runner stream open
        self._runners_changed = runners_changed
        self.processes = RunnerProcesses()
        self._builds: set[asyncio.Task[None]] = set()

    def stream_handlers(self) -> StreamHandlerTable:
        return {"PostModelVersionsUpload": self.post_model_versions_upload}

    async def post_model_versions_upload(
        self,
        first: service_pb2.PostModelVersionsUploadRequest,
        rest: AsyncIterator[Any],
        ctx: CallContext,
    ) -> AsyncIterator[service_pb2.PostModelVersionsUploadResponse]:
        if not first.HasField("upload_config"):
            raise InvalidArgument(
                "The first PostModelVersionsUploadRequest must carry upload_config (the "
                "model, its version and the archive's total_size); content parts follow it"
            )
        config = first.upload_config
        app = require_app(ctx)
        model = await asyncio.to_thread(self._served_model, app, config.model_id)
        total = _checked_size(config.total_size)
        yield _progress(0, total)
        received = bytearray()
        async for request in rest:
            part = request.content_part
            received += part.data
            if len(received) > total:
                raise InvalidArgument(
                    f"The content parts hold more than upload_config.total_size ({total} bytes)"
                )
            yield _progress(len(received), total)
        if len(received) != total:
            raise InvalidArgument(
                f"The upload ended after {len(received)} of {total} bytes: send every part"
            )
        version = await asyncio.to_thread(
            self._store_version, app, model, config.model_version, bytes(received)
        )
        self._start_build(_Upload(app, model, version, bytes(received)))
        answer = service_pb2.PostModelVersionsUploadResponse(model_version_id=version.id)
        answer.status.code = MODEL_BUILDING
        answer.status.description = "Model is building"
        yield answer

    def _served_model(self, app: AppRecord, model_id: str) -> ModelRecord:
        model = self._models.get_model(app_pk(app), model_id)
        if model is None:
            raise ModelNotFound("model", model_id)
        if model.model_type_id not in RUNNER_SERVED_TYPES:
            raise ModelInvalidArgument(
                f"Model '{model_id}' is of type '{model.model_type_id}': uploaded code serves "
                f"models of the runner-served types ({', '.join(sorted(RUNNER_SERVED_TYPES))})"
            )
        return model

    def _store_version(
        self,
        app: AppRecord,
        model: ModelRecord,
        asked: resources_pb2.ModelVersion,
        archive: bytes,
    ) -> VersionRecord:
        digest = self._blobs.put(archive)
        version = VersionRecord(
            id=uuid.uuid4().hex,
            model_id=model.id,
            status_code=MODEL_BUILDING,
            status_description="Model is building: installing its requirements",
            description=asked.description,
            train_params={ARCHIVE_KEY: digest},
            method_signatures=tuple(
                MessageToDict(signature, preserving_proto_field_name=True)
                for signature in asked.method_signatures
            ),
        )
        return self._models.create_version(app_pk(app), model.id, version, False, train=False)

    def _start_build(self, upload: _Upload) -> None:
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._build, upload))
        self._builds.add(task)
        task.add_done_callback(self._builds.discard)

    def _build(self, upload: _Upload) -> None:
        """Unpack, install, start and wait for the runner; the outcome is the version's status."""
        assert upload.version.pk is not None
        try:
            code, description = self._build_and_start(upload)
        except Exception as exc:
            log.exception("building uploaded model %s failed", upload.model.id)
            code, description = MODEL_BUILDING_FAILED, f"Building the model failed: {exc}"
        self._models.set_training_status(upload.version.pk, code, description)

    def _build_and_start(self, upload: _Upload) -> tuple[int, str]:
        app, model, version = upload.app, upload.model, upload.version
        served = _Served(app.user_id, app.id, model.id, version.id)
        folder = self._folder(served)
        failure = self._prepare(folder, upload.archive)
        if failure:
            return MODEL_BUILDING_FAILED, failure
        process = self._start(served, folder)
        deadline = time.monotonic() + CONNECT_SECONDS
        while time.monotonic() < deadline:
            if self._connected(served.model_key):
                return MODEL_TRAINED, "Served by the runner Clarion started for this version"
            if process.poll() is not None:
                return MODEL_BUILDING_FAILED, (
                    f"The model's runner exited ({process.returncode}) before serving: "
                    + log_tail(folder).strip()
                )
            time.sleep(0.2)
        return MODEL_BUILDING_FAILED, (
            f"The model's runner did not connect within {CONNECT_SECONDS:.0f} s: "
            + log_tail(folder).strip()
        )

    def restart_served(self) -> None:
        """Start again the runners of the uploaded versions served before this server
        started (their folders and virtualenvs kept; remade from the archive if gone)."""
        for version in self._uploaded.served_versions(MODEL_TRAINED):
            served = _Served(version.user_id, version.app_id, version.model_id, version.version_id)
            folder = self._folder(served)
            try:
                ready = (folder / ".venv" / "bin" / "python").exists()
                failure = "" if ready else self._prepare(folder, self._blobs.get(version.archive))
                if failure:
                    log.error("uploaded model %s not restarted: %s", served.model_key, failure)
                    continue
                self._start(served, folder)
            except Exception:
                log.exception("restarting the runner of %s failed", served.model_key)

    def _folder(self, served: _Served) -> Path:
        return (
            self._setup.root / served.user_id / served.app_id / served.model_id / served.version_id
        )

    def _prepare(self, folder: Path, archive: bytes) -> str:
        """Unpack and install; what went wrong, or "" when ready."""
        try:
            unpack(archive, folder)
        except UnsafeArchive as exc:
            return f"The upload is not a model folder's tar.gz: {exc}"
        home = clean_environment(folder, {})
        built = build_environment(folder, self._setup.base_python, home, self._setup.build_seconds)
        if not built.ok:
            return (
                "Installing the model's requirements.txt failed (fix it and upload again): "
                + built.log.strip()
            )
        return ""

    def _start(self, served: _Served, folder: Path) -> subprocess.Popen[bytes]:
        self._declare_runner(served)
        environment = clean_environment(folder, self._runner_variables(served))
        process = start_runner(folder, environment, self._setup.limits)
        self.processes.add(served.model_key, process)
        return process

    def _declare_runner(self, served: _Served) -> None:
        """The runner record the started runner names, serving this version of the model
        (kept from an earlier start)."""
        scope = runner_scope(UPLOADS_CLUSTER, UPLOADS_NODEPOOL)
        if self._compute.get_record(RUNNER, served.user_id, scope, served.runner_id):
            return
        model = resources_pb2.Model(
            id=served.model_id,
            user_id=served.user_id,
            app_id=served.app_id,
            model_version=resources_pb2.ModelVersion(id=served.version_id),
        )
        nodepool = resources_pb2.Nodepool(
            id=UPLOADS_NODEPOOL,
            compute_cluster=resources_pb2.ComputeCluster(
                id=UPLOADS_CLUSTER, user_id=served.user_id
            ),
        )
        runner = resources_pb2.Runner(
            id=served.runner_id,
            description=f"Started by Clarion for the uploaded version {served.version_id}",
            worker=resources_pb2.Worker(model=model),
            nodepool=nodepool,
        )
        record = ComputeRecord(
            kind=RUNNER,
            user_id=served.user_id,
            id=served.runner_id,
            body=runner.SerializeToString(),
            scope=scope,
            model_key=served.model_key,
        )
        self._compute.create_records([record])
        self._runners_changed()

    def _runner_variables(self, served: _Served) -> dict[str, str]:
        """The runner's own credential (a PAT of the model's owner, made for it) and where
        it connects; the server's own secrets never reach it."""
        token = new_token()
        self._accounts.create_key(
            KeyRecord(
                ref=new_ref(),
                token_hash=hash_token(token),
                user_id=served.user_id,
                type=PERSONAL_ACCESS_TOKEN,
                description=f"Runner {served.runner_id} (Clarion-started, uploaded model)",
                scopes=(ALL_SCOPES,),
            )
        )
        return {
            "CLARIFAI_PAT": token,
            "CLARIFAI_USER_ID": served.user_id,
            "CLARIFAI_COMPUTE_CLUSTER_ID": UPLOADS_CLUSTER,
            "CLARIFAI_NODEPOOL_ID": UPLOADS_NODEPOOL,
            "CLARIFAI_RUNNER_ID": served.runner_id,
            "CLARIFAI_API_BASE": self._setup.api_base(),
        }


def _checked_size(total: int) -> int:
    if total <= 0:
        raise InvalidArgument("upload_config.total_size must be the archive's size in bytes")
    if total > MAX_ARCHIVE_BYTES:
        raise InvalidArgument(
            f"The model archive is {total} bytes; Clarion takes folders up to "
            f"{MAX_ARCHIVE_BYTES} bytes (leave weights out: fetch them from a package)"
        )
    return total


def _progress(received: int, total: int) -> service_pb2.PostModelVersionsUploadResponse:
    answer = service_pb2.PostModelVersionsUploadResponse()
    answer.status.code = UPLOAD_IN_PROGRESS
    answer.status.description = "Upload in progress"
    answer.status.percent_completed = received * 100 // total
    return answer
