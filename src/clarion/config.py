"""Settings: the one place that reads the environment.

Precedence is CLI flag > environment (``CLARION_*``) > default. Settings are built once (by the
CLI or a test) and passed down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The largest message protobuf can encode is 2 GiB - 1 bytes; gRPC cannot take more either.
PROTOBUF_MAX_BYTES = 2**31 - 1


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/clarion``, else ``~/.local/share/clarion``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clarion"


def standard_ca_locations() -> tuple[Path, ...]:
    """OpenSSL's ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` (a list of folders), where set."""
    found = [os.environ.get("SSL_CERT_FILE", "")]
    found += os.environ.get("SSL_CERT_DIR", "").split(os.pathsep)
    return tuple(Path(location) for location in found if location)


class Settings(BaseSettings):
    """Everything an operator can set; each field is also ``CLARION_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CLARION_", frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address both servers listen on.")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP+JSON port (0 picks a free one).")
    grpc_port: int = Field(18080, ge=0, le=65535, description="gRPC port (0 picks a free one).")
    port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="A port that serves gRPC and HTTP+JSON together, as api.clarifai.com does, "
        "besides the two ports (0 picks a free one; unset: none).",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory holding the SQLite database, blobs and the admin PAT file.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file clarion.db in the data directory."
    )
    tls_cert: Path | None = Field(None, description="PEM certificate: serve both ports over TLS.")
    tls_key: Path | None = Field(None, description="PEM private key for --tls-cert.")
    admin_user: str = Field("admin", description="User created on a new data directory.")
    admin_pat: SecretStr | None = Field(
        None, description="PAT given to the admin user on a new data directory (else generated)."
    )
    max_request_bytes: int = Field(
        PROTOBUF_MAX_BYTES,
        ge=1024,
        le=PROTOBUF_MAX_BYTES,
        description="Largest request accepted, in bytes (gRPC message; HTTP body after base64).",
    )
    max_upload_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Largest content_length an upload in parts (PostUploads) may declare, in "
        "bytes; its parts are kept in the database until the upload is deleted.",
    )
    archive_max_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Largest archive (or S3 object) PostInputsDataSources downloads, in bytes.",
    )
    archive_max_unpacked_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1,
        description="Most bytes one extraction's files may add up to, unpacked; more refuses "
        "the whole archive or bucket.",
    )
    archive_max_files: int = Field(
        10_000, ge=1, description="Most files one extraction may make inputs of."
    )
    archive_max_ratio: float = Field(
        100.0,
        gt=1,
        description="Most bytes a compressed archive member may unpack to per packed byte "
        "(archive bombs); more refuses the whole archive.",
    )
    s3_endpoint: str = Field(
        "",
        description="Base URL of an S3-compatible endpoint that s3:// data sources are read "
        "from, path style; empty: AWS S3 itself, virtual-hosted style.",
    )
    max_metadata_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Most metadata one request may carry, all of its Structs (input, app, "
        "concept, dataset, model and workflow metadata, annotation data) together, in bytes as "
        "protobuf encodes them; more is refused (40033) before anything is stored.",
    )
    database_lock_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a write waits for the database's write lock (another write, the "
        "CLI, another server process) before answering RPC_SERVER_UNAVAILABLE (40031), which "
        "clients retry.",
    )
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, description="On SIGTERM, how long in-flight calls get to finish."
    )
    drain_delay_seconds: float = Field(
        0.0,
        ge=0,
        description="On SIGTERM, how long to keep serving while reporting not ready, so load "
        "balancers stop sending calls first.",
    )
    log_level: str = Field("info", description="Logging level: debug, info, warning, error.")
    allow_private_urls: bool = Field(
        False,
        description="Let inputs be fetched from loopback and private addresses (local use, tests).",
    )
    url_allow_list: tuple[str, ...] = Field(
        (),
        description="Hosts or CIDR networks inputs may be fetched from even when private "
        "(JSON list in the environment).",
    )
    fetch_ca_certs: tuple[Path, ...] = Field(
        default_factory=standard_ca_locations,
        description="PEM files of CA certificates, or folders of them (hashed as by "
        "`openssl rehash`), that fetching https URLs trusts besides the public CA bundle "
        "(JSON list in the environment; default: SSL_CERT_FILE and SSL_CERT_DIR where set).",
    )
    public_url: str | None = Field(
        None,
        description="The HTTP base URL clients reach this server at, used in hosted image URLs "
        "(default: http(s)://HOST:HTTP_PORT).",
    )
    blob_grace_seconds: float = Field(
        600.0,
        ge=0,
        description="Blobs no input refers to are deleted once they are this old, in seconds.",
    )
    preload: tuple[str, ...] = Field(
        (),
        description="Models to load before the server reports ready (JSON list in the "
        "environment; --preload, repeatable, on the command line).",
    )
    inference_threads: int = Field(
        0,
        ge=0,
        description="Cores one model run uses (0: every core for a run alone, one each for "
        "runs that overlap, which serves a lone call soonest and the most calls a second "
        "under load).",
    )
    general_people_concepts: bool = Field(
        False,
        description="general-image-recognition also runs the face detector on each image and "
        "answers people, portrait and no person from it, as Clarifai's general model does; "
        "it costs one to six times the general network's time per image, so it is off.",
    )
    predict_threads: int = Field(
        0,
        ge=0,
        description="Threads that run predictions whose inputs come in the request (image "
        "bytes, text); 0: one more than the cores. Inputs by URL or input id wait on I/O and "
        "run on the server's call threads instead.",
    )
    predict_batch: int = Field(
        4,
        ge=1,
        le=64,
        description="Images of predictions waiting together for the compute threads that "
        "one model run takes, from several calls (each still answered, and failing, on its "
        "own); a call that finds a thread free runs at once, alone. 1: every call runs alone.",
    )
    video_max_seconds: float = Field(
        600.0,
        gt=0,
        description="Longest video accepted, in seconds; a longer one is refused with "
        "INPUT_VIDEO_OVER_LIMIT (31105) and nothing stored.",
    )
    video_max_pixels: int = Field(
        8_294_400, gt=0, description="Largest video frame accepted, in pixels (3840 x 2160)."
    )
    video_max_frames: int = Field(
        6000,
        gt=0,
        description="Most frames one video prediction samples (ten minutes at the 100 ms "
        "minimum step); more is refused with INPUT_VIDEO_OVER_LIMIT (31105).",
    )
    video_decode_seconds: float = Field(
        120.0,
        gt=0,
        description="Longest one video may take to decode, in seconds, so a hostile file "
        "cannot hold a worker.",
    )
    model_idle_seconds: float = Field(
        1800.0, ge=0, description="Unload a model unused this long, in seconds (0: never)."
    )
    request_timeout_seconds: float = Field(
        120.0,
        ge=0,
        description="Longest a call may take; a gRPC client's shorter deadline wins. Past it a "
        "call answers RPC_REQUEST_TIMEOUT (40032) (0: no server limit).",
    )
    auth_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="How long a server process trusts keys and apps it has read, that an "
        "app has no custom model of some id, and that a user is no collaborator on a public "
        "app they read; a key or app deleted, or a model created, through "
        "another process is seen within this (0: read on every call).",
    )
    rate_limit_per_key: float = Field(
        1000.0, ge=0, description="Calls a second one credential may make (0: no limit)."
    )
    rate_limit_per_app: float = Field(
        2000.0, ge=0, description="Calls a second one app may receive (0: no limit)."
    )
    rate_burst_seconds: float = Field(
        2.0, gt=0, description="A bucket holds this many seconds' worth of calls (the burst)."
    )
    max_expensive_calls: int = Field(
        32,
        ge=0,
        description=(
            "Predict, search, upload, dataset version and export calls run at once (0: no bound)."
        ),
    )
    max_waiting_calls: int = Field(
        256, ge=0, description="Such calls that may wait for a slot; more are refused (40030)."
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Connections each port (HTTP, gRPC) holds open at most. At the limit a new "
        "HTTP connection closes the one idle longest, or is closed itself when all are busy; "
        "gRPC refuses it. Keep it under the process's open-file limit.",
    )
    keep_alive_seconds: int = Field(
        5, ge=1, description="An HTTP connection idle this long after an answer is closed."
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Time an HTTP connection has, from opening (after an answer: from the next "
        "request's first byte), to send a whole request line and headers (a gRPC connection: "
        "its HTTP/2 handshake).",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest pause between two pieces of an HTTP request body; past it the "
        "connection is closed.",
    )
    max_header_bytes: int = Field(
        65536, ge=1024, description="Largest HTTP request line and headers; more answer 431."
    )
    grpc_idle_seconds: float = Field(
        300.0,
        gt=0,
        description="A gRPC connection with no call for this long is closed (clients reconnect "
        "when they next call).",
    )
    grpc_max_streams: int = Field(
        100, ge=1, description="Calls one gRPC connection may have open at once."
    )
    workers: int = Field(
        4, ge=0, description="Ingestion worker threads in the server (0: use `clarion worker`)."
    )
    ingest_batch: int = Field(
        8,
        ge=1,
        le=256,
        description="Inputs of one app a worker thread claims at once and ingests together: "
        "one transaction claims the batch, one stores its results and finishes its jobs.",
    )
    retention_seconds: float = Field(
        7 * 24 * 3600.0,
        ge=0,
        description="Finished jobs and index_log entries older than this are deleted (hourly, "
        "by each server); 0 keeps them forever.",
    )
    vector_index: Literal["auto", "embedded"] = Field(
        "auto",
        description="Where vectors are searched. auto: inside PostgreSQL when it has the "
        "pgvector extension (no API process keeps a copy), else in each process's memory; "
        "embedded: always in memory (SQLite always is).",
    )
    pgvector_type: Literal["halfvec", "vector"] = Field(
        "halfvec",
        description="pgvector's type for the vectors searched in PostgreSQL: halfvec (float16, "
        "as the embedded index stores its graph: half the disk, memory and index build time) or "
        "vector (float32). The exact float32 values are kept beside either for training. A "
        "server started with the other type converts the column and rebuilds the indexes.",
    )
    runner_python: Path | None = Field(
        None,
        description="The Python whose installed packages (the clarifai SDK, at least) an "
        "uploaded model's virtualenv sees beneath its own requirements; unset: this server's.",
    )
    runner_memory_bytes: int = Field(
        4 * 1024**3, ge=64 * 1024**2, description="RLIMIT_AS of an uploaded model's runner."
    )
    runner_cpu_seconds: int = Field(
        24 * 3600,
        ge=1,
        description="RLIMIT_CPU of an uploaded model's runner: CPU time over its whole life "
        "(the kernel kills it past that; restart the server to start it again).",
    )
    runner_open_files: int = Field(
        1024, ge=16, description="RLIMIT_NOFILE of an uploaded model's runner."
    )
    runner_build_seconds: float = Field(
        900, gt=0, description="Longest an uploaded model's requirements may take to install."
    )

    @field_validator("fetch_ca_certs")
    @classmethod
    def _ca_locations_exist(cls, locations: tuple[Path, ...]) -> tuple[Path, ...]:
        missing = [str(location) for location in locations if not location.exists()]
        if missing:
            raise ValueError(f"CA certificates not found: {', '.join(missing)}")
        return locations

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: the setting, or the SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'clarion.db'}"

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def max_http_body_bytes(self) -> int:
        """JSON carries bytes as base64 (4/3 larger); the rest is room for the JSON around them."""
        return self.max_request_bytes * 3 // 2
