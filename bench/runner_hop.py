"""What the runner hop costs: an identity model's calls per second served by the SDK's runner
through Clarion, against the same model called in-process.

The model is a ``ModelClass`` whose ``predict`` returns its text. In-process, its
``predict_wrapper`` is called on a ``PostModelOutputsRequest`` in a loop, in the SDK's
environment (what a call costs the model code itself). Through Clarion, clients call
PostModelOutputs over gRPC, Clarion queues each call as a runner item, the SDK's
``ModelRunner`` (another process, ``num_parallel_polls`` streams) answers it and Clarion returns
the output. The ratio of the two is the cost of the hop; concurrency 1 and 8.
``bench/predict.py`` prints the same row at its end (``--runner-hop-only`` runs it alone).

Needs the SDK's environment the test suite builds (``.cache/clients/clarifai-python-*``:
run ``pytest tests/sdks/test_runners.py`` once).

    .venv/bin/python bench/runner_hop.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import BENCH_PAT, clarion_server
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
METADATA = (("authorization", f"Key {BENCH_PAT}"),)
CONCURRENCY = (1, 8)

IDENTITY = textwrap.dedent(
    """
    import os, sys, time
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2
    from clarifai.runners.models.model_class import ModelClass
    from clarifai.runners.models.model_runner import ModelRunner

    class Identity(ModelClass):
        @ModelClass.method
        def predict(self, text: str) -> str:
            return text

    model = Identity()
    model.load_model()
    if sys.argv[1] == "in-process":
        request = service_pb2.PostModelOutputsRequest(inputs=[resources_pb2.Input(
            data=resources_pb2.Data(text=resources_pb2.Text(raw="hello")))])
        seconds, calls, started = float(sys.argv[2]), 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            model.predict_wrapper(request)
            calls += 1
        print(calls / (time.perf_counter() - started))
    else:
        ModelRunner(model, runner_id="hop", nodepool_id="np", compute_cluster_id="cc",
                    user_id=os.environ["USER_ID"], base_url=os.environ["BASE_URL"],
                    pat=os.environ["PAT"], health_check_port=None,
                    num_parallel_polls=8).start()
    """
)


def sdk_python() -> Path | None:
    """The SDK's environment the test suite builds, or None when it has not been built."""
    found = sorted((REPO / ".cache" / "clients").glob("clarifai-python-*/bin/python"))
    found = [p for p in found if "clarifai-python-2-" not in str(p)]
    return found[0] if found else None


MISSING_SDK = "the SDK's environment is missing: run pytest tests/sdks/test_runners.py once"


def declare(stub: service_pb2_grpc.V2Stub, user: str) -> None:
    me = resources_pb2.UserAppIDSet(user_id=user)
    calls = [
        stub.PostApps(
            service_pb2.PostAppsRequest(user_app_id=me, apps=[{"id": "hop"}]), metadata=METADATA
        ),
        stub.PostComputeClusters(
            service_pb2.PostComputeClustersRequest(user_app_id=me, compute_clusters=[{"id": "cc"}]),
            metadata=METADATA,
        ),
        stub.PostNodepools(
            service_pb2.PostNodepoolsRequest(
                user_app_id=me, compute_cluster_id="cc", nodepools=[{"id": "np"}]
            ),
            metadata=METADATA,
        ),
        stub.PostRunners(
            service_pb2.PostRunnersRequest(
                user_app_id=me,
                compute_cluster_id="cc",
                nodepool_id="np",
                runners=[
                    resources_pb2.Runner(
                        id="hop",
                        worker=resources_pb2.Worker(
                            model=resources_pb2.Model(id="identity", app_id="hop")
                        ),
                    )
                ],
            ),
            metadata=METADATA,
        ),
    ]
    for response in calls:
        assert response.status.code == 10000, response.status


def through_clarion(port: int, user: str, concurrency: int, seconds: float) -> float:
    from concurrent.futures import ThreadPoolExecutor

    request = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id=user, app_id="hop"),
        model_id="identity",
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw="hello")))],
    )
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    stub = service_pb2_grpc.V2Stub(channel)
    deadline = time.perf_counter() + seconds

    def client(_: int) -> int:
        calls = 0
        while time.perf_counter() < deadline:
            response = stub.PostModelOutputs(request, metadata=METADATA)
            assert response.outputs[0].data.text.raw == "hello", response.status
            calls += 1
        return calls

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        total = sum(pool.map(client, range(concurrency)))
    return total / (time.perf_counter() - started)


def print_runner_hop(seconds: float) -> None:
    """Measure and print the hop: in-process calls/s, then runner-served calls/s and their
    ratio to it at each concurrency (also bench/predict.py's runner-hop row)."""
    python = sdk_python()
    if python is None:
        print(f"runner hop skipped: {MISSING_SDK}")
        return
    program = Path("/tmp") / f"clarion-runner-hop-{os.getpid()}.py"
    program.write_text(IDENTITY)
    try:
        in_process = in_process_rate(python, program, seconds)
        print(f"in-process predict_wrapper: {in_process:.0f} calls/s")
        for concurrency, rate in runner_served_rates(python, program, seconds):
            print(
                f"runner-served, {concurrency} client(s): {rate:.0f} calls/s, "
                f"ratio to in-process {rate / in_process:.4f}"
            )
    finally:
        program.unlink()


def in_process_rate(python: Path, program: Path, seconds: float) -> float:
    """The identity model's predict_wrapper called in a loop in the SDK's environment."""
    answer = subprocess.run(
        [str(python), str(program), "in-process", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(answer.stdout.split()[-1])


def runner_served_rates(python: Path, program: Path, seconds: float) -> list[tuple[int, float]]:
    """Calls/s through a fresh Clarion and the SDK's runner, at each of CONCURRENCY."""
    limits_off = {"CLARION_RATE_LIMIT_PER_KEY": "0", "CLARION_RATE_LIMIT_PER_APP": "0"}
    with clarion_server(env=limits_off) as server:
        channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
        stub = service_pb2_grpc.V2Stub(channel)
        user = stub.GetUser(
            service_pb2.GetUserRequest(user_app_id=resources_pb2.UserAppIDSet(user_id="me")),
            metadata=METADATA,
        ).user.id
        declare(stub, user)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CLARIFAI_")},
            "USER_ID": user,
            "BASE_URL": f"http://127.0.0.1:{server.grpc_port}",
            "PAT": BENCH_PAT,
        }
        runner = subprocess.Popen(
            [str(python), str(program), "runner"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(8)  # the runner imports the SDK and connects
            through_clarion(server.grpc_port, user, 1, 2)  # warm up
            return [
                (concurrency, through_clarion(server.grpc_port, user, concurrency, seconds))
                for concurrency in CONCURRENCY
            ]
        finally:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if sdk_python() is None:
        sys.exit(MISSING_SDK)
    print_runner_hop(args.seconds)


if __name__ == "__main__":
    main()
