"""What every runner needs: its package's files, an onnxruntime session, and lazy loading.

Weights come from installed packages, found without importing them (some import heavy or
broken modules at import time). A missing package raises ``Unavailable`` with the command
that installs it, as ``mobilenet.find_weights`` does.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from clarion.errors import Unavailable

if TYPE_CHECKING:
    import onnxruntime  # type: ignore[import-untyped]

T = TypeVar("T")

ONNXRUNTIME_INSTALL_HINT = "pip install onnxruntime"
# Images a packaged network runs at once, unless told otherwise.
DEFAULT_NETWORK_BATCH_SIZE = 8


def package_file(package: str, relative: str, install_hint: str) -> Path:
    """Return the file ``relative`` inside the installed ``package``, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"{package} is not installed: {install_hint}")
    for location in spec.submodule_search_locations:
        path = Path(location, relative)
        if path.is_file():
            return path
    raise Unavailable(f"the {package} package has no {relative}: {install_hint}")


def import_module(name: str, install_hint: str) -> ModuleType:
    """Import an optional dependency, or raise ``Unavailable`` saying how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Unavailable(f"{name} is not installed: {install_hint}") from exc


class Session(Protocol):
    """What the runners use of an onnxruntime session."""

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any]) -> Any: ...


def create_session(path: Path, intra_op_threads: int | None = None) -> Session:
    """Open an ``.onnx`` file on the CPU: each run on ``intra_op_threads`` cores, or, for
    ``None``, an ``AdaptiveSession`` (every core for a run alone, one each for runs that
    overlap)."""
    if intra_op_threads is None:
        return AdaptiveSession(open_session(path, None), open_session(path, 1))
    session: Session = open_session(path, intra_op_threads)
    return session


class AdaptiveSession:
    """One model opened twice: a run alone spreads over every core, runs side by side take
    one core each.

    A lone call (a script predicting images one at a time) answers soonest when onnxruntime
    spreads its run over the cores. Under concurrent calls that spreading costs more CPU than
    it saves: MobileNetV2 took 13.7 to 16.8 CPU ms an image over two cores against 10.5 on
    one core per run, runs side by side (2 cores). So a run that starts while another is
    going takes the one-core session, and so does one that starts within ``settle_seconds``
    of two runs overlapping: under steady load a run often starts in the gap while the
    others decode their images, and spreading it then takes the cores they are about to need
    (on the predict bench at 32 clients, the all-core runs that slipped through cost 0.55 to
    1.1 CPU ms an image, 4 to 8% of the whole).
    """

    def __init__(
        self,
        all_cores: Session,
        one_core: Session,
        *,
        settle_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._all_cores = all_cores
        self._one_core = one_core
        self._settle_seconds = settle_seconds
        self._clock = clock
        self._running = 0
        self._last_overlap = -math.inf
        self._lock = threading.Lock()

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any]) -> Any:
        with self._lock:
            spread = self._may_spread()
            self._running += 1
        try:
            session = self._all_cores if spread else self._one_core
            return session.run(output_names, input_feed)
        finally:
            with self._lock:
                self._running -= 1

    def _may_spread(self) -> bool:
        """Whether a run starting now may take every core (called under the lock)."""
        now = self._clock()
        if self._running:
            self._last_overlap = now
            return False
        return now - self._last_overlap >= self._settle_seconds


def open_session(path: Path, intra_op_threads: int | None) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU; ``None`` threads keeps onnxruntime's default."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise Unavailable(f"onnxruntime is not installed: {ONNXRUNTIME_INSTALL_HINT}") from exc
    options = onnxruntime.SessionOptions()
    # onnxruntime's pool threads spin between runs by default: in a server, where runs of
    # several models, decoding and request handling share the cores, spinning threads take
    # the CPU those need (the bare predict pipeline at 8 threads: 106 to 126 images/s).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


class Lazy(Generic[T]):
    """A value built by ``factory`` on first use, once, even when threads race for it."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value, built now if this is the first call."""
        # Double-checked: after the first build, callers never contend for the lock.
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
                value = self._value
        return value


def sha256_of(path: Path) -> str:
    """The file's SHA-256, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class PackagedNetwork:
    """An ONNX network whose file ships inside a package: found, checked against the
    checksum it was released with, and loaded on first use, once.

    Subclasses say where the file is (``_find``) and what it must be (``_verify``), and run it
    on batches of ``batch_size`` images.
    """

    def __init__(
        self,
        *,
        model: Path | None = None,
        intra_op_threads: int | None = None,
        batch_size: int = DEFAULT_NETWORK_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._model = model
        self._intra_op_threads = intra_op_threads
        self.batch_size = batch_size
        self._session = Lazy(self._create_session)

    def load(self) -> None:
        """Check and load the network now rather than on the first prediction."""
        self._session.get()

    def _find(self) -> Path:
        raise NotImplementedError

    def _verify(self, path: Path) -> None:
        raise NotImplementedError

    def _create_session(self) -> Session:
        path = self._model or self._find()
        self._verify(path)
        return create_session(path, self._intra_op_threads)
