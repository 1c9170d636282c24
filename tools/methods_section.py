"""Write the README's "Methods" section: every V2 method group with its state, and each method
Clarion does not implement with its reason (from ``clarion.protocol.unimplemented.UNBUILT`` and
the server's handler registry).

    PYTHONPATH=src python tools/methods_section.py           # rewrite README.md's section
    PYTHONPATH=src python tools/methods_section.py --check   # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from clarion.protocol.descriptor import v2_methods
from clarion.protocol.unimplemented import README_END, README_START, methods_section
from clarion.server.app import implemented_methods

README = Path(__file__).resolve().parents[1] / "README.md"


def generated_section() -> str:
    with tempfile.TemporaryDirectory(prefix="clarion-methods-") as data_dir:
        implemented = implemented_methods(Path(data_dir))
    return methods_section(v2_methods(), implemented)


def with_section(readme: str, section: str) -> str:
    """``readme`` with the text from README_START to README_END replaced by ``section``."""
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END) + 1
    return readme[:start] + section + readme[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args()
    readme = README.read_text("utf-8")
    updated = with_section(readme, generated_section())
    if args.check:
        if updated != readme:
            print("README.md's Methods section is out of date: run tools/methods_section.py")
            return 1
        return 0
    README.write_text(updated, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
