"""The asyncio client is the blocking one, call for call: a test keeps the twins in step.

``_async.py`` is written by hand beside ``_sync.py``. Read as syntax trees, with ``async`` and
``await`` taken out, docstrings dropped and the asyncio names mapped to their blocking twins,
the two modules must be the same code, except where a difference is listed here with its
reason. A change made to one twin and not the other fails this test, naming the function.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import clarion.client

CLIENT = Path(clarion.client.__file__).parent

# Names that differ only because one side is asyncio: async name -> blocking name.
TWIN_NAMES = {
    "AsyncCaller": "Caller",
    "AsyncTransport": "Transport",
    "AsyncIterator": "Iterator",
    "AsyncUploader": "SyncUploader",
    "make_async_transport": "make_transport",
    "aclose": "close",
    "anext": "next",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__anext__": "__next__",
    "__aiter__": "__iter__",
}
# Where the twins may differ, and why: the poll between training checks sleeps without
# blocking the event loop.
ALLOWED = {"asyncio.sleep": "time.sleep"}


def normalized(source: str) -> dict[str, str]:
    """Each top-level function and method (``Class.method``) as a canonical dump."""
    tree = _Blocking().visit(ast.parse(source))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[f"{node.name}.{item.name}"] = _dump(item)
            found[node.name] = _dump(ast.ClassDef(**{**vars(node), "body": []}))
        elif isinstance(node, ast.FunctionDef):
            found[node.name] = _dump(node)
    return found


def _dump(node: ast.AST) -> str:
    text = ast.dump(node, annotate_fields=False)
    for async_form, blocking_form in ALLOWED.items():
        module, name = async_form.split(".")
        twin_module, twin_name = blocking_form.split(".")
        text = text.replace(
            f"Attribute(Name('{module}', Load()), '{name}', Load())",
            f"Attribute(Name('{twin_module}', Load()), '{twin_name}', Load())",
        )
    return text


class _Blocking(ast.NodeTransformer):
    """Turns asyncio code into the blocking code it twins."""

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        blocking = ast.FunctionDef(**{field: getattr(node, field) for field in node._fields})
        return self.visit_FunctionDef(blocking)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = _twin(node.name)
        node.body = _without_docstring(node.body)
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = _twin(node.name)
        node.body = _without_docstring(node.body)
        self.generic_visit(node)
        return node

    def visit_Await(self, node: ast.Await) -> Any:
        return self.visit(node.value)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> Any:
        return self.visit(ast.For(**{field: getattr(node, field) for field in node._fields}))

    def visit_AsyncWith(self, node: ast.AsyncWith) -> Any:
        return self.visit(ast.With(**{field: getattr(node, field) for field in node._fields}))

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = _twin(node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.attr = _twin(node.attr)
        self.generic_visit(node)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        # String annotations ("AsyncApp") name the twins too.
        if isinstance(node.value, str):
            node.value = re.sub(r"\bAsync(?=[A-Z])", "", node.value)
        return node


def _twin(name: str) -> str:
    if name in TWIN_NAMES:
        return TWIN_NAMES[name]
    return re.sub(r"^Async(?=[A-Z])", "", name)


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    is_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    return (body[1:] or [ast.Pass()]) if is_docstring else body


def test_the_async_client_is_the_blocking_client_call_for_call() -> None:
    sync = normalized((CLIENT / "_sync.py").read_text())
    twin = normalized((CLIENT / "_async.py").read_text())

    assert sorted(set(sync) ^ set(twin)) == [], "functions only one twin has"
    drifted = [name for name in sync if sync[name] != twin[name]]
    assert drifted == [], f"these differ between _sync.py and _async.py: {drifted}"


def test_the_check_sees_a_change_made_to_one_twin() -> None:
    """The comparison is not vacuous: one changed argument is found, by name."""
    source = (CLIENT / "_async.py").read_text()
    changed = source.replace("batch_size: int = 128", "batch_size: int = 64", 1)
    assert changed != source

    sync = normalized((CLIENT / "_sync.py").read_text())
    twin = normalized(changed)

    assert [name for name in sync if sync[name] != twin.get(name)] == ["Inputs.upload"]
