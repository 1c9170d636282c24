"""The client commands of ``clarion``: predict, search, inputs, apps, keys and models, on
``Client``.

Tables for people, ``--json`` for scripts. Exit codes: 0 success, 1 the server refused the
call or some items failed, 2 a usage error, 3 the server could not be reached (or timed out).
Connection options come from ``CLARIFAI_*`` variables when not given.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from clarion.client import Client, Hit, Prediction, Retry, Status, UploadReport
from clarion.client._sources import walk
from clarion.errors import ApiError, TransportError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
_BATCH = 128
_PIPE_WIDTH = 1000


def _connection_options(func: F) -> F:
    options = [
        click.option(
            "--base",
            envvar="CLARIFAI_API_BASE",
            default="http://127.0.0.1:8080",
            show_default=True,
            help="Server URL: http(s):// for HTTP+JSON, grpc(s):// for gRPC "
            "[env CLARIFAI_API_BASE].",
        ),
        click.option(
            "--pat", envvar="CLARIFAI_PAT", help="Personal access token [env CLARIFAI_PAT]."
        ),
        click.option(
            "--api-key", envvar="CLARIFAI_API_KEY", help="App API key [env CLARIFAI_API_KEY]."
        ),
        click.option("--app", envvar="CLARIFAI_APP_ID", help="App id [env CLARIFAI_APP_ID]."),
        click.option(
            "--user",
            envvar="CLARIFAI_USER_ID",
            help="User id, default 'me' [env CLARIFAI_USER_ID].",
        ),
        click.option(
            "--transport",
            type=click.Choice(["grpc", "http"]),
            help="Override the transport the URL scheme implies.",
        ),
        click.option(
            "--root-certificates",
            envvar="CLARIFAI_ROOT_CERTIFICATES_PATH",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="PEM CA to trust for TLS [env CLARIFAI_ROOT_CERTIFICATES_PATH].",
        ),
        click.option(
            "--timeout", type=float, default=60.0, show_default=True, help="Seconds per call."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclasses.dataclass(frozen=True)
class _Context:
    client: Client
    as_json: bool


@contextmanager
def _connected(options: dict[str, Any]) -> Iterator[_Context]:
    """A client from the connection options; API and transport errors become exit codes."""
    try:
        client = Client(
            options.pop("base"),
            pat=options.pop("pat"),
            api_key=options.pop("api_key"),
            app_id=options.pop("app"),
            user_id=options.pop("user"),
            transport=options.pop("transport"),
            root_certificates=options.pop("root_certificates"),
            timeout=options.pop("timeout"),
            retry=Retry(attempts=3),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        with client:
            yield _Context(client, options.pop("as_json"))
    except ApiError as error:
        _fail(f"{error.description} ({_code_name(error.code)}, req_id {error.req_id or '-'})")
    except TransportError as error:
        _fail(f"Cannot reach the server: {error.description}", EXIT_UNREACHABLE)
    except OSError as error:  # a file to send that cannot be read
        _fail(str(error))


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _code_name(code: int) -> str:
    name = Status(code).name
    return str(code) if name == str(code) else f"{name} {code}"


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as objects without their ``proto``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.name != "proto"
        }
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _print_json(value: Any) -> None:
    click.echo(json.dumps(_plain(value), indent=2))


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    # Piped output keeps whole values (ids, paths); a terminal gets a table that fits it.
    Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH).print(table)


# predict


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", "model_id", default="general-image-recognition", show_default=True)
@click.option("--version", "version_id", default="", help="Model version (default: latest).")
@click.option("--model-app", help="App the model is in (default: the public clarifai/main).")
@click.option("--max-concepts", type=int, default=5, show_default=True)
@click.option("--min-value", type=float, help="Leave out concepts below this value.")
@_connection_options
def predict(
    images: tuple[str, ...],
    model_id: str,
    version_id: str,
    model_app: str | None,
    max_concepts: int,
    min_value: float | None,
    **options: Any,
) -> None:
    """Predict on IMAGES (files, folders or URLs) with a model."""
    sources = walk(images)
    with _connected(options) as ctx:
        model = ctx.client.model(model_id, version_id=version_id, app_id=model_app)
        predictions: list[Prediction] = []
        for start in range(0, len(sources), _BATCH):
            predictions += model.predict_many(
                sources[start : start + _BATCH], max_concepts=max_concepts, min_value=min_value
            )
    if ctx.as_json:
        _print_json([{"source": s, **_plain(p)} for s, p in zip(sources, predictions, strict=True)])
    else:
        _table(
            f"Predictions of {model_id}", ["input", "result", "value"], _rows(sources, predictions)
        )
    if not all(prediction.ok for prediction in predictions):
        sys.exit(EXIT_FAILED)


def _rows(sources: Sequence[str], predictions: Sequence[Prediction]) -> list[list[object]]:
    rows: list[list[object]] = []
    for source, prediction in zip(sources, predictions, strict=True):
        rows += [[source, *cells] for cells in _cells(prediction)] or [[source, "", ""]]
    return rows


def _cells(prediction: Prediction) -> list[list[object]]:
    if not prediction.ok:
        return [[f"failed: {prediction.status.description}", prediction.status.name]]
    cells: list[list[object]] = [[c.name, f"{c.value:.3f}"] for c in prediction.concepts]
    cells += [
        [f"{len(r.concepts) and r.concepts[0].name} (region)", f"{r.value:.3f}"]
        for r in prediction.regions
    ]
    cells += [[f"embedding, {e.num_dimensions} dimensions", ""] for e in prediction.embeddings]
    cells += [[f"{c.hex} {c.name}", f"{c.value:.3f}"] for c in prediction.colors]
    if prediction.text:
        cells.append([prediction.text, ""])
    return cells


# search


@click.command()
@click.option("--image", help="Rank by looks like this image: a file or an http(s) URL.")
@click.option(
    "--concept", "concepts", multiple=True, help="Rank by this predicted concept (repeatable)."
)
@click.option("--text", help="Rank by closeness in meaning to this text.")
@click.option("--input-id", "like_input", help="Rank by looks like this input.")
@click.option("--metadata", help="Keep inputs whose metadata contains this JSON object.")
@click.option(
    "--filter-concept",
    "filter_concepts",
    multiple=True,
    help="Keep inputs annotated with this concept id (repeatable).",
)
@click.option("--min-value", type=float, help="Leave out hits scoring below this.")
@click.option("--per-page", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option(
    "--limit", type=int, default=20, show_default=True, help="At most this many (0: all)."
)
@click.option("--count", "only_count", is_flag=True, help="Print how many inputs match.")
@_connection_options
def search(
    image: str | None,
    concepts: tuple[str, ...],
    text: str | None,
    like_input: str | None,
    metadata: str | None,
    filter_concepts: tuple[str, ...],
    min_value: float | None,
    per_page: int,
    limit: int,
    only_count: bool,
    **options: Any,
) -> None:
    """Search the app's inputs by image, concept or text, and filter them; best hits first."""
    wanted = _metadata(metadata)
    if not (image or concepts or text or like_input or wanted or filter_concepts):
        raise click.UsageError(
            "Say what to search for: --image, --concept, --text, --input-id, --metadata "
            "or --filter-concept"
        )
    with _connected(options) as ctx:
        try:
            results = ctx.client.app().search(
                image,
                concepts=concepts or None,
                text=text,
                input_id=like_input,
                metadata=wanted,
                filter_concepts=filter_concepts or None,
                min_value=min_value,
                per_page=per_page,
                limit=limit or None,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        total = results.count() if only_count else None
        hits = [] if only_count else list(results)
    if total is not None:
        _done(ctx, {"count": total}, str(total))
    elif ctx.as_json:
        _print_json(hits)
    else:
        _table("Search hits", ["score", "input", "concepts"], _hit_rows(hits))


def _hit_rows(hits: Sequence[Hit]) -> list[list[object]]:
    return [
        [f"{hit.score:.3f}", hit.input.id, ", ".join(c.name for c in hit.input.concepts)]
        for hit in hits
    ]


# inputs


@click.group()
def inputs() -> None:
    """Upload, list and delete an app's inputs."""


@inputs.command("upload")
@click.argument("paths", nargs=-1, required=True)
@click.option("--concept", "concepts", multiple=True, help="Concept present in every input.")
@click.option("--metadata", help="JSON object of metadata for every input.")
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Wait until each is ingested."
)
@click.option("--wait-timeout", type=float, default=600.0, show_default=True)
@click.option("--allow-duplicate-urls", is_flag=True, help="Add URLs the app already has.")
@click.option("--batch-size", type=click.IntRange(1, 128), default=128, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: on a tty].")
@_connection_options
def inputs_upload(
    paths: tuple[str, ...],
    concepts: tuple[str, ...],
    metadata: str | None,
    wait: bool,
    wait_timeout: float,
    allow_duplicate_urls: bool,
    batch_size: int,
    concurrency: int,
    progress: bool | None,
    **options: Any,
) -> None:
    """Upload PATHS (files, folders walked for images and .txt files, or URLs)."""
    as_json = bool(options["as_json"])
    with _connected(options) as ctx:
        # upload walks the folders itself.
        report = ctx.client.app().inputs.upload(
            list(paths),
            concepts=concepts,
            metadata=_metadata(metadata),
            allow_duplicate_urls=allow_duplicate_urls,
            wait=wait,
            wait_timeout=wait_timeout,
            batch_size=batch_size,
            concurrency=concurrency,
            progress=_progress(progress, as_json),
            # The CLI prints the report, so a file it cannot read is a line in it.
            on_unreadable="report",
        )
    _show_report(report, as_json)
    if not report.succeeded:
        sys.exit(EXIT_FAILED)


def _metadata(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from exc
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--metadata")
    return value


def _progress(wanted: bool | None, as_json: bool) -> bool:
    """A progress bar (on stderr), by default only when stderr is a terminal."""
    if wanted is None:
        return not as_json and sys.stderr.isatty()
    return wanted


def _show_report(report: UploadReport, as_json: bool) -> None:
    if as_json:
        _print_json({"ok": len(report.ok), "failed": len(report.failed), "items": report.items})
        return
    click.echo(
        f"{len(report.ok)} ok, {len(report.failed)} failed, {len(report.pending)} pending "
        f"of {len(report.items)}"
    )
    problems = [item for item in report.items if not item.ok]
    if problems:
        _table(
            "Not uploaded",
            ["source", "state", "code", "why"],
            [[i.source, i.state, _code_name(i.code), i.description] for i in problems],
        )


@inputs.command("list")
@click.option("--per-page", type=click.IntRange(1, 1000), default=128, show_default=True)
@click.option(
    "--limit", type=int, default=100, show_default=True, help="At most this many (0: all)."
)
@_connection_options
def inputs_list(per_page: int, limit: int, **options: Any) -> None:
    """List the app's inputs."""
    with _connected(options) as ctx:
        found = list(ctx.client.app().inputs.list(per_page=per_page, limit=limit or None))
    if ctx.as_json:
        _print_json(found)
        return
    rows = [
        [i.id, i.status.name, i.url or i.text[:40], ", ".join(c.name for c in i.concepts)]
        for i in found
    ]
    _table("Inputs", ["id", "status", "content", "concepts"], rows)


@inputs.command("get")
@click.argument("input_id")
@_connection_options
def inputs_get(input_id: str, **options: Any) -> None:
    """Show one input."""
    with _connected(options) as ctx:
        found = ctx.client.app().inputs.get(input_id)
    _print_json(found)  # an input is nested data: JSON shows it best, for people too


@inputs.command("delete")
@click.argument("input_ids", nargs=-1, required=True)
@_connection_options
def inputs_delete(input_ids: tuple[str, ...], **options: Any) -> None:
    """Delete inputs by id."""
    with _connected(options) as ctx:
        ctx.client.app().inputs.delete(list(input_ids))
    _done(ctx, {"deleted": list(input_ids)}, f"Deleted {len(input_ids)} input(s)")


@inputs.command("count")
@_connection_options
def inputs_count(**options: Any) -> None:
    """Count the app's inputs by ingestion state."""
    with _connected(options) as ctx:
        counts = ctx.client.app().inputs.count()
    if ctx.as_json:
        _print_json(counts)
        return
    rows = [["processed", counts.processed], ["to process", counts.to_process]]
    rows += [["processing", counts.processing], ["errors", counts.errors]]
    _table("Inputs", ["state", "count"], rows)


def _done(ctx: _Context, data: dict[str, Any], message: str) -> None:
    if ctx.as_json:
        _print_json(data)
    else:
        click.echo(message)


# apps


@click.group()
def apps() -> None:
    """Create, list and delete applications (needs a PAT)."""


@apps.command("list")
@click.option("--limit", type=int, default=0, help="At most this many (0: all).")
@_connection_options
def apps_list(limit: int, **options: Any) -> None:
    """List your apps."""
    with _connected(options) as ctx:
        found = list(ctx.client.apps.list(limit=limit or None))
    if ctx.as_json:
        _print_json(found)
        return
    rows = [[a.id, a.name, a.description, _date(a.created_at)] for a in found]
    _table("Apps", ["id", "name", "description", "created"], rows)


@apps.command("create")
@click.argument("app_id")
@click.option("--name", default="", help="Display name (default: the id).")
@click.option("--description", default="")
@_connection_options
def apps_create(app_id: str, name: str, description: str, **options: Any) -> None:
    """Create APP_ID."""
    with _connected(options) as ctx:
        created = ctx.client.apps.create(app_id, name=name, description=description)
    _done(ctx, _plain(created), f"Created app {created.id}")


@apps.command("get")
@click.argument("app_id")
@_connection_options
def apps_get(app_id: str, **options: Any) -> None:
    """Show APP_ID."""
    with _connected(options) as ctx:
        found = ctx.client.apps.get(app_id)
    if ctx.as_json:
        _print_json(found)
        return
    rows = [["id", found.id], ["user", found.user_id], ["name", found.name]]
    rows += [["description", found.description], ["created", _date(found.created_at)]]
    _table(f"App {found.id}", ["field", "value"], rows)


@apps.command("delete")
@click.argument("app_id")
@_connection_options
def apps_delete(app_id: str, **options: Any) -> None:
    """Delete APP_ID and everything in it."""
    with _connected(options) as ctx:
        ctx.client.apps.delete(app_id)
    _done(ctx, {"deleted": app_id}, f"Deleted app {app_id}")


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


# keys


@click.group()
def keys() -> None:
    """Create, list and delete API keys (needs a PAT)."""


@keys.command("list")
@_connection_options
def keys_list(**options: Any) -> None:
    """List your keys and PATs (by reference; tokens are shown only at creation)."""
    with _connected(options) as ctx:
        found = list(ctx.client.keys.list())
    if ctx.as_json:
        _print_json(found)
        return
    rows = [[k.id, k.type, ", ".join(k.app_ids), ", ".join(k.scopes), k.description] for k in found]
    _table("Keys", ["id", "type", "apps", "scopes", "description"], rows)


@keys.command("create")
@click.argument("key_app", metavar="APP_ID")
@click.option("--scope", "scopes", multiple=True, help="Scope to grant (repeatable) [All].")
@click.option("--description", default="")
@_connection_options
def keys_create(key_app: str, scopes: tuple[str, ...], description: str, **options: Any) -> None:
    """Create an API key for APP_ID; the token is the last word printed."""
    with _connected(options) as ctx:
        created = ctx.client.keys.create(
            key_app, scopes=scopes or ("All",), description=description
        )
    _done(ctx, _plain(created), f"Created API key for app {key_app}: {created.id}")


@keys.command("delete")
@click.argument("key_id")
@_connection_options
def keys_delete(key_id: str, **options: Any) -> None:
    """Delete a key by the id ``keys list`` shows."""
    with _connected(options) as ctx:
        ctx.client.keys.delete(key_id)
    _done(ctx, {"deleted": key_id}, f"Deleted key {key_id}")


# models


@click.group()
def models() -> None:
    """List models, show one and train your own."""


@models.command("list")
@click.option("--model-app", help="App to list (default: the public clarifai/main).")
@_connection_options
def models_list(model_app: str | None, **options: Any) -> None:
    """List models."""
    with _connected(options) as ctx:
        app = ctx.client.app(model_app) if model_app else ctx.client.app("main", user_id="clarifai")
        found = list(app.models.list())
    if ctx.as_json:
        _print_json(found)
        return
    rows = [[m.id, m.model_type_id, m.version_id, m.name] for m in found]
    _table("Models", ["id", "type", "version", "name"], rows)


@models.command("get")
@click.argument("model_id")
@click.option("--model-app", help="App the model is in (default: the public clarifai/main).")
@_connection_options
def models_get(model_id: str, model_app: str | None, **options: Any) -> None:
    """Show a model and the concepts it knows."""
    with _connected(options) as ctx:
        found = ctx.client.model(model_id, app_id=model_app).info()
    if ctx.as_json:
        _print_json(found)
        return
    rows: list[list[object]] = [["id", found.id], ["type", found.model_type_id]]
    rows += [["version", found.version_id], ["name", found.name]]
    rows += [["concepts", len(found.concepts)]]
    _table(f"Model {found.id}", ["field", "value"], rows)


@models.command("train")
@click.argument("model_id")
@click.option(
    "--concept", "concepts", multiple=True, required=True, help="Concept id (repeatable)."
)
@click.option("--create", is_flag=True, help="Create the model first (an embedding-classifier).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for training to end.")
@click.option(
    "--wait-timeout", type=float, default=600.0, show_default=True, help="Seconds to wait."
)
@_connection_options
def models_train(
    model_id: str,
    concepts: tuple[str, ...],
    create: bool,
    wait: bool,
    wait_timeout: float,
    **options: Any,
) -> None:
    """Train a new version of MODEL_ID in the app on its annotated inputs.

    Exits 1 when training fails (no annotated inputs, no positives, ...).
    """
    with _connected(options) as ctx:
        app = ctx.client.app()
        if create:
            app.models.create(model_id, concepts=concepts)
        version = app.model(model_id).train(concepts=concepts, wait=wait, wait_timeout=wait_timeout)
    if ctx.as_json:
        _print_json({"model_id": model_id, **_plain(version)})
        return
    state = "training" if version.training else version.status.name
    rows: list[list[object]] = [["model", model_id], ["version", version.id]]
    rows += [["status", f"{state} ({version.status.code})"]]
    rows += [["concepts", ", ".join(c.id for c in version.concepts) or ", ".join(concepts)]]
    _table(f"Model {model_id}", ["field", "value"], rows)
