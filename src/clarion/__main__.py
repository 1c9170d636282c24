"""``python -m clarion`` is the ``clarion`` command."""

from clarion.cli.main import main

main()
