"""Atomic snapshots on disk: a data folder per save and a manifest that names the current one.

A save writes a fresh ``data-<random>/`` folder, syncs it, then replaces ``manifest.json``
with one rename. A reader follows the manifest, so it finds the old snapshot or the new one,
whole, even after a crash mid-save; folders no manifest names are deleted by the next save.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from clarion.search.base import FORMAT_VERSION, Manifest
from clarion.search.errors import IndexFormatError

MANIFEST_NAME = "manifest.json"
_FORMAT = "clarion-vector-index"
_DATA_PREFIX = "data-"


def read_manifest(directory: str | Path) -> Manifest | None:
    """The manifest of the index saved in ``directory``; ``None`` when none was saved there.

    Raises ``IndexFormatError`` when the manifest exists but cannot be read.
    """
    path = Path(directory) / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"cannot read {path}: {exc}") from exc
    return _parse(raw, path)


def _parse(raw: Any, path: Path) -> Manifest:
    if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
        raise IndexFormatError(f"{path} is not a Clarion vector index manifest")
    try:
        manifest = Manifest(
            kind=str(raw["kind"]),
            dim=int(raw["dim"]),
            count=int(raw["count"]),
            generation=raw["generation"],
            format_version=int(raw["format_version"]),
            params=dict(raw.get("params", {})),
            data=str(raw["data"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(f"{path} lacks a field or has a wrong one: {exc}") from exc
    if isinstance(manifest.generation, bool) or not isinstance(manifest.generation, int | str):
        raise IndexFormatError(f"{path}: generation must be an int or a string")
    return manifest


def open_snapshot(directory: str | Path, kind: str) -> tuple[Manifest, Path]:
    """The manifest and data folder of a saved ``kind`` index, checked before any file is read."""
    manifest = read_manifest(directory)
    if manifest is None:
        raise IndexFormatError(f"no saved index in {directory}")
    if manifest.format_version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{directory} holds format {manifest.format_version}, "
            f"but this Clarion reads format {FORMAT_VERSION}"
        )
    if manifest.kind != kind:
        raise IndexFormatError(f"{directory} holds a {manifest.kind!r} index, not {kind!r}")
    data = Path(directory) / manifest.data
    named = manifest.data.startswith(_DATA_PREFIX) and Path(manifest.data).name == manifest.data
    if not named or not data.is_dir():
        raise IndexFormatError(
            f"{directory}: the manifest names a missing folder {manifest.data!r}"
        )
    return manifest, data


def write_snapshot(
    directory: str | Path, manifest: Manifest, write_files: Callable[[Path], None]
) -> Manifest:
    """Save a snapshot: ``write_files`` fills a new data folder, then the manifest flips to it."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    data = root / f"{_DATA_PREFIX}{uuid.uuid4().hex}"
    data.mkdir()
    write_files(data)
    for path in data.iterdir():
        _fsync(path)
    _fsync(data)
    manifest = replace(manifest, data=data.name)
    _replace_manifest(root, manifest)
    _remove_stale(root, keep=data.name)
    return manifest


def _replace_manifest(root: Path, manifest: Manifest) -> None:
    body = {"format": _FORMAT, **asdict(manifest), "params": dict(manifest.params)}
    temporary = root / f".{MANIFEST_NAME}.{uuid.uuid4().hex}.tmp"
    with temporary.open("w", encoding="utf-8") as file:
        json.dump(body, file, indent=2, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, root / MANIFEST_NAME)
    _fsync(root)  # the rename itself is durable only once the folder is synced


def _remove_stale(root: Path, keep: str) -> None:
    for path in root.iterdir():
        if path.name.startswith(_DATA_PREFIX) and path.name != keep:
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(f".{MANIFEST_NAME}.") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
