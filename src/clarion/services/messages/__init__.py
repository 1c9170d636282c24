"""Records and inference results -> protobuf messages: one module per resource, one place.

Every service builds its answers here, so a prediction and a workflow flow one way
(handler -> runtime/inference -> these builders) and no handler module imports another's
helpers. The modules, lowest first:

- ``values``: what every message uses: response ids, timestamps, statuses, structs.
- ``accounts``: users, apps (and their copies) and keys.
- ``data``: inputs (and their echo in outputs), annotations, annotation filters, datasets.
- ``concepts``: an app's concepts, a model's, and predicted concept scores.
- ``regions``: detected regions.
- ``outputs``: output settings, a prediction's output and data, a call's overall status.
- ``frames``: a video's answers frame by frame (``data.frames``), for outputs and workflows.
- ``legacy_types``: the retired ``output_info.type`` of models.
- ``evaluations``: evaluations and a version's evaluation metrics.
- ``models``: built-in and custom models and their versions (custom ones' labels too).
- ``workflows``: workflows, their versions and nodes, and a workflow's results.

They import storage records, inference values and ``protocol``, never a handler module (an
import contract in ``pyproject.toml`` says so).
"""
