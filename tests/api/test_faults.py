"""SIGKILL at random points of a mixed workload, ten times: nothing acknowledged is lost."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from google.protobuf import struct_pb2

from tests.images import png_bytes
from tests.processes import serve_process

pytestmark = pytest.mark.slow

PAT = "fault-pat"
METADATA = (("authorization", f"Key {PAT}"),)
UA = resources_pb2.UserAppIDSet(app_id="faults")
SUCCESS = 10000


def stub_for(port: int) -> Any:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    )


class Workload:
    """Posts inputs, annotates and patches them until stopped, remembering what was acknowledged."""

    def __init__(self, stub: Any, round_number: int) -> None:
        self.stub = stub
        self.round = round_number
        self.inputs: dict[str, str] = {}  # id -> metadata "round"
        self.annotations: dict[str, str] = {}  # annotation id -> input id
        self.patched: dict[str, str] = {}  # input id -> patched "note"
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                self._step(n)
            except Exception:
                return  # the server died under us: what was acknowledged is recorded
            n += 1

    def _step(self, n: int) -> None:
        input_id = f"r{self.round}-{n}"
        meta = struct_pb2.Struct()
        meta.update({"round": str(self.round)})
        data = resources_pb2.Data(
            image=resources_pb2.Image(base64=png_bytes((16, 16))), metadata=meta
        )
        posted = self.stub.PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=UA, inputs=[resources_pb2.Input(id=input_id, data=data)]
            ),
            metadata=METADATA,
            timeout=10,
        )
        if posted.status.code != SUCCESS:
            return
        self.inputs[input_id] = str(self.round)
        annotated = self.stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(
                user_app_id=UA,
                annotations=[
                    resources_pb2.Annotation(
                        input_id=input_id,
                        data=resources_pb2.Data(
                            concepts=[resources_pb2.Concept(id="thing", value=1)]
                        ),
                    )
                ],
            ),
            metadata=METADATA,
            timeout=10,
        )
        if annotated.status.code == SUCCESS:
            self.annotations[annotated.annotations[0].id] = input_id
        note = struct_pb2.Struct()
        note.update({"note": f"patched-{n}"})
        patched = self.stub.PatchInputs(
            service_pb2.PatchInputsRequest(
                user_app_id=UA,
                inputs=[resources_pb2.Input(id=input_id, data=resources_pb2.Data(metadata=note))],
                action="merge",
            ),
            metadata=METADATA,
            timeout=10,
        )
        if patched.status.code == SUCCESS:
            self.patched[input_id] = f"patched-{n}"


def check(stub: Any, workloads: list[Workload]) -> None:
    for work in workloads:
        for input_id, round_text in work.inputs.items():
            got = stub.GetInput(
                service_pb2.GetInputRequest(user_app_id=UA, input_id=input_id), metadata=METADATA
            )
            assert got.status.code == SUCCESS, (input_id, got.status)
            assert got.input.data.metadata["round"] == round_text
            if input_id in work.patched:
                assert got.input.data.metadata["note"] == work.patched[input_id]
        for annotation_id, input_id in work.annotations.items():
            got = stub.GetAnnotation(
                service_pb2.GetAnnotationRequest(
                    user_app_id=UA, input_id=input_id, annotation_id=annotation_id
                ),
                metadata=METADATA,
            )
            assert got.status.code == SUCCESS, (annotation_id, got.status)
            assert got.annotation.data.concepts[0].id == "thing"


def test_ten_random_sigkills_lose_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    data_dir = tmp_path / "data"
    env = {"CLARION_ADMIN_PAT": PAT}
    workloads: list[Workload] = []
    for round_number in range(10):
        with serve_process(data_dir, env=env) as served:
            stub = stub_for(served.grpc_port)
            if round_number == 0:
                stub.PostApps(
                    service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="faults")]),
                    metadata=METADATA,
                )
            check(stub, workloads)
            work = Workload(stub, round_number)
            runner = threading.Thread(target=work.run)
            runner.start()
            time.sleep(rng.uniform(0.2, 1.2))
            os.kill(served.process.pid, signal.SIGKILL)
            served.process.wait(timeout=30)
            work.stop.set()
            runner.join(timeout=30)
            workloads.append(work)
    assert sum(len(w.inputs) for w in workloads) > 10
    with serve_process(data_dir, env=env) as served:
        stub = stub_for(served.grpc_port)
        check(stub, workloads)
        deadline = time.monotonic() + 60
        while True:
            counts = stub.GetInputCount(
                service_pb2.GetInputCountRequest(user_app_id=UA), metadata=METADATA
            ).counts
            if counts.to_process == 0 and counts.processing == 0:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.2)
        assert counts.errors == 0
        served.terminate()
