"""Uploaded models' runner processes: a folder, a virtualenv, and the SDK's runner serving it.

An uploaded model (``clarifai model upload``) is Python code Clarion did not write. Each one
gets a directory of its own (the unpacked folder, its working directory and HOME), a
virtualenv of its own with the model's ``requirements.txt`` installed by pip, and a process of
its own: the SDK's ``clarifai.runners.server`` connecting back to this server as a runner.
The process starts with resource limits (address space, CPU time, open files), a new session,
and an environment built from nothing: no variable of the server's but the proxy and pip
settings pip needs to reach a registry, plus the runner's own credential.

What it does not have: a filesystem or network sandbox. The code runs as the server's OS user,
can read what that user can read, and can connect wherever the machine can.
"""

from __future__ import annotations

import io
import logging
import os
import resource
import signal
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("clarion.model_runners")

# Server variables an uploaded model's pip may need to reach a registry; nothing else passes.
PASSED_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy")
PASSED_PREFIXES = ("PIP_",)
LOG_TAIL_CHARS = 2000


@dataclass(frozen=True, slots=True)
class RunnerLimits:
    memory_bytes: int
    cpu_seconds: int
    open_files: int


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    ok: bool
    log: str  # what venv and pip said (the tail, on failure)


class UnsafeArchive(ValueError):
    """The archive is not a gzipped tar, or names a path outside its folder."""


def unpack(archive: bytes, folder: Path) -> None:
    """Unpack a model folder's tar.gz; the ``data`` filter refuses absolute paths, ``..``,
    links out of the folder and device files, so an archive cannot write elsewhere."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UnsafeArchive(str(exc)) from exc


def base_site_packages(base_python: Path) -> str:
    """Where ``base_python`` keeps its installed packages (its purelib)."""
    script = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    done = subprocess.run(
        [str(base_python), "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def build_environment(
    folder: Path, base_python: Path, environment: Mapping[str, str], timeout: float
) -> BuildOutcome:
    """Make ``folder/.venv`` seeing ``base_python``'s packages (a .pth file: the SDK is
    reused offline, whether ``base_python`` is a system Python or a virtualenv's), then
    install ``requirements.txt`` into it. Requirements already met install nothing."""
    venv = folder / ".venv"
    steps: list[list[str]] = [[str(base_python), "-m", "venv", str(venv)]]
    requirements = folder / "requirements.txt"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    if requirements.exists():
        # No retries: an unreachable registry fails the build at once, not after minutes.
        steps.append(
            [*pip, "install", "--retries", "0", "--timeout", "15", "-r", str(requirements)]
        )
    output: list[str] = []
    for number, step in enumerate(steps):
        try:
            done = subprocess.run(
                step,
                cwd=folder,
                env=dict(environment),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return BuildOutcome(False, f"{' '.join(step[-3:])} took over {timeout:.0f} s")
        output.append(done.stdout + done.stderr)
        if done.returncode != 0:
            return BuildOutcome(False, "".join(output)[-LOG_TAIL_CHARS:])
        if number == 0:
            _see_base_packages(venv, base_python)
    return BuildOutcome(True, "".join(output)[-LOG_TAIL_CHARS:])


def _see_base_packages(venv: Path, base_python: Path) -> None:
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "clarion-base.pth").write_text(base_site_packages(base_python) + "\n")


def clean_environment(home: Path, own: Mapping[str, str]) -> dict[str, str]:
    """The child's whole environment: a PATH, its own HOME, what pip needs, and ``own``."""
    passed = {
        name: value
        for name, value in os.environ.items()
        if name in PASSED_VARIABLES or name.startswith(PASSED_PREFIXES)
    }
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        **passed,
        **own,
    }


def _limited(limits: RunnerLimits) -> None:
    """Runs in the child before exec: its limits, which it cannot raise again."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))


def start_runner(
    folder: Path, environment: Mapping[str, str], limits: RunnerLimits
) -> subprocess.Popen[bytes]:
    """Start the SDK's runner (no gRPC server of its own, no health port) on ``folder``."""
    python = folder / ".venv" / "bin" / "python"
    command = [str(python), "-m", "clarifai.runners.server", "--model_path", str(folder)]
    command += ["--health_check_port", "0"]
    with (folder / "runner.log").open("ab") as output:
        return subprocess.Popen(
            command,
            cwd=folder,
            env=dict(environment),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lambda: _limited(limits),
        )


def log_tail(folder: Path) -> str:
    path = folder / "runner.log"
    return path.read_text(errors="replace")[-LOG_TAIL_CHARS:] if path.exists() else ""


class RunnerProcesses:
    """The runner processes this server started, stopped with it."""

    def __init__(self) -> None:
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def add(self, key: str, process: subprocess.Popen[bytes]) -> None:
        previous = self._running.pop(key, None)
        if previous is not None:
            _stop(previous)
        self._running[key] = process

    def stop_all(self) -> None:
        for process in self._running.values():
            _stop(process)
        self._running.clear()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to its session (the runner and anything it started), then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def server_python() -> Path:
    return Path(sys.executable)
