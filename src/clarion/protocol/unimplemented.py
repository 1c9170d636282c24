"""The V2 methods Clarion does not implement: why, and what to use instead.

One table, ``UNBUILT``, names every method that has no handler, grouped by the reason it has
none. The dispatcher answers such a method ``NOT_IMPLEMENTED`` with ``description_for``'s
sentence, on both transports, so a script that reaches one learns why and where to go. A test
holds the table to exactly the methods without a handler: a handler added without its row
removed fails it, and so does a method left with neither.

``methods_section`` renders the README's "Methods" section from this table and the handler
registry (``tools/methods_section.py`` writes it; a test checks the README matches).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

GENERIC_DESCRIPTION = "{method} is not implemented by this Clarion server"


@dataclass(frozen=True, slots=True)
class Unbuilt:
    """Methods left out for one reason: ``why`` they are, and ``instead`` what a user can
    call (None: nothing in Clarion does that job)."""

    group: str
    why: str
    instead: str | None
    methods: tuple[str, ...]


UNBUILT: tuple[Unbuilt, ...] = (
    Unbuilt(
        "Pipelines",
        "pipelines run on Clarifai's hosted orchestration (Argo workflows on its managed "
        "compute), which a self-hosted Clarion does not have",
        "chain models with a workflow (PostWorkflows, PostWorkflowResults), and run "
        "multi-step jobs as your own scripts against this API",
        (
            "PostPipelines",
            "GetPipeline",
            "ListPipelines",
            "PatchPipelines",
            "DeletePipelines",
            "PostPipelineSteps",
            "GetPipelineStep",
            "ListPipelineSteps",
            "DeletePipelineSteps",
            "PostPipelineStepVersionsUpload",
            "GetPipelineStepVersion",
            "ListPipelineStepVersions",
            "DeletePipelineStepVersions",
            "GetPipelineVersion",
            "ListPipelineVersions",
            "PatchPipelineVersions",
            "DeletePipelineVersions",
            "PostPipelineVersionRuns",
            "PostPipelineVersionRunFromTemplate",
            "GetPipelineVersionRun",
            "ListPipelineVersionRuns",
            "PatchPipelineVersionRuns",
            "ListPipelineVersionRunStatusLogs",
            "ListPipelineTemplates",
        ),
    ),
    Unbuilt(
        "Artifacts",
        "artifacts are the files Clarifai's pipelines keep in its cloud registry, and "
        "Clarion has no pipelines to produce them",
        "store large files with PostUploads and PutUploadContentParts, or in your own storage",
        (
            "PostArtifacts",
            "GetArtifact",
            "ListArtifacts",
            "DeleteArtifact",
            "PostArtifactVersionsUpload",
            "GetArtifactVersion",
            "ListArtifactVersions",
            "DeleteArtifactVersion",
        ),
    ),
    Unbuilt(
        "Secrets",
        "secrets are Clarifai's cloud vault for values its hosted pipelines and models read; "
        "Clarion runs no code of yours that could read them",
        "start your runner (declared with PostRunners) with its secrets in its own "
        "environment: it runs on your machine",
        ("PostSecrets", "GetSecret", "ListSecrets", "PatchSecrets", "DeleteSecrets"),
    ),
    Unbuilt(
        "Managed compute telemetry and logs",
        "these carry reports from the agents of Clarifai's managed compute planes (node "
        "status, replica metrics, runner logs), which a self-hosted Clarion does not run",
        "read Clarion's Prometheus metrics at GET /metrics (clarion_runners among them) and "
        "your runner's own output on the machine it runs on",
        (
            "PostComputePlaneMetrics",
            "PostNodepoolStatus",
            "PostRunnerReplicaTaskMetrics",
            "PostLogEntries",
            "ListLogEntries",
            "StreamLogEntries",
        ),
    ),
    Unbuilt(
        "Model migration",
        "a migration moves a model between the forms of Clarifai's cloud deployment; "
        "Clarion's models have one form",
        None,
        ("PostModelMigration", "DeleteModelMigration"),
    ),
    Unbuilt(
        "Label orders",
        "label orders hand labelling to Clarifai's paid workforce, which a self-hosted "
        "Clarion does not have",
        "create a task with PostTasks and name your own labellers in worker.user_ids",
        (
            "PostLabelOrders",
            "GetLabelOrder",
            "ListLabelOrders",
            "PatchLabelOrders",
            "DeleteLabelOrders",
        ),
    ),
    Unbuilt(
        "Task input samples",
        "Clarion's labelling draws no samples of a task's labelled inputs for review",
        "list a task's annotations with ListAnnotations (task_id) or read its counts with "
        "GetTaskAnnotationCount",
        ("GetInputSamples",),
    ),
    Unbuilt(
        "Video tracks and streams",
        "Clarion stores a video as frames sampled once a second, with no object tracks "
        "across frames, no adaptive-streaming manifest and no live streams",
        "predict on a video with PostModelOutputs (answered frame by frame in data.frames) "
        "and keep what you need as annotations (PostAnnotations, ListAnnotations)",
        (
            "PostAnnotationTracks",
            "ListAnnotationTracks",
            "PatchAnnotationTracks",
            "DeleteAnnotationTracks",
            "PostTrackAnnotationsSearches",
            "StreamAnnotations",
            "StreamLivestreamAnnotations",
            "GetInputVideoManifest",
        ),
    ),
    Unbuilt(
        "Workflow version evaluations",
        "these score a workflow version with Clarifai's hosted evaluation templates (LLM "
        "judges and datasets it keeps), which Clarion does not have",
        "evaluate each model of the workflow with PostModelVersionEvaluations and read the "
        "results with GetModelVersionEvaluation",
        (
            "PostWorkflowVersionEvaluations",
            "GetWorkflowVersionEvaluation",
            "ListWorkflowVersionEvaluations",
            "PatchWorkflowVersionEvaluations",
            "PostWorkflowVersionEvaluationData",
            "ListWorkflowVersionEvaluationData",
            "ListWorkflowEvaluationTemplates",
        ),
    ),
    Unbuilt(
        "Deprecated model inputs",
        "Clarifai deprecated ListModelInputs (the inputs a model was trained on) and Clarion "
        "records no per-model input list",
        "list the training data's inputs with ListDatasetInputs, or freeze them first with "
        "PostDatasetVersions and train from that version",
        ("ListModelInputs",),
    ),
    Unbuilt(
        "Password validation",
        "Clarion has no passwords: users reach it with personal access tokens and app keys",
        "create a token with PostKeys",
        ("PostValidatePassword",),
    ),
)


@cache
def unbuilt_by_method() -> dict[str, Unbuilt]:
    """Each left-out method's row; a method named twice is a mistake in the table."""
    rows: dict[str, Unbuilt] = {}
    for row in UNBUILT:
        for method in row.methods:
            if method in rows:
                raise ValueError(f"{method} is in two rows of UNBUILT")
            rows[method] = row
    return rows


def description_for(method: str) -> str:
    """The NOT_IMPLEMENTED description for ``method``: why it is left out, and what to use
    instead; the generic sentence for a method the table does not name."""
    row = unbuilt_by_method().get(method)
    if row is None:
        return GENERIC_DESCRIPTION.format(method=method)
    alternative = (
        f"Instead, {row.instead}." if row.instead else "Clarion has no alternative to offer."
    )
    return f"{method} is not implemented by Clarion: {row.why}. {alternative}"


# The README's groups of methods by resource: a method belongs to the first group with a
# fragment in its name (so the specific groups come before the broad ones).
RESOURCE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Pipelines", ("Pipeline",)),
    ("Artifacts", ("Artifact",)),
    ("Secrets", ("Secret",)),
    (
        "Compute: clusters, nodepools, deployments, runners, logs",
        (
            "ComputeCluster",
            "ComputePlane",
            "Nodepool",
            "Deployment",
            "Runner",
            "CloudProvider",
            "CloudRegion",
            "InstanceType",
            "LogEntries",
        ),
    ),
    ("Workflows, workflow versions and their evaluations", ("Workflow",)),
    ("Model evaluations", ("Evaluation",)),
    (
        "Labelling: tasks, assignments, label orders",
        ("Task", "LabelOrder", "AnnotationWorkers", "AnnotationsStatus", "InputSamples"),
    ),
    (
        "Video tracks and streams",
        ("AnnotationTrack", "TrackAnnotations", "StreamAnnotations", "Livestream", "Manifest"),
    ),
    ("Annotation filters", ("AnnotationFilter",)),
    ("Annotations", ("Annotation",)),
    ("Dataset versions and exports", ("DatasetVersion",)),
    ("Datasets and their inputs", ("Dataset",)),
    ("Bulk operations", ("BulkOperation",)),
    ("Concepts: relations, languages, knowledge graphs", ("Concept", "KnowledgeGraph")),
    ("Models, model versions, types and exports", ("Model",)),
    ("Audit log and usage metrics", ("AuditLog", "Metric")),
    ("Uploads, archives and extraction jobs", ("Upload", "DataSources", "ExtractionJob")),
    ("Searches", ("Search",)),
    ("Inputs", ("Input",)),
    ("Apps, duplications, collaborators", ("App", "Collaborat")),
    ("Users, keys and scopes", ("User", "Key", "Scope", "Password")),
    ("Reference: status codes, resource counts, licences", ("StatusCode", "Resource", "Licens")),
)


def resource_group(method: str) -> str:
    for group, fragments in RESOURCE_GROUPS:
        if any(fragment in method for fragment in fragments):
            return group
    raise ValueError(f"{method} is in none of RESOURCE_GROUPS: add a fragment that names it")


README_START = "<!-- methods:start: generated by tools/methods_section.py, do not edit -->"
README_END = "<!-- methods:end -->"


def methods_section(methods: Iterable[str], implemented: Iterable[str]) -> str:
    """The README's table of every method group with its state, then each left-out group
    of methods with its reason (markdown, between ``README_START`` and ``README_END``)."""
    every = sorted(methods)
    answered = set(implemented) & set(every)
    left_out = set(every) - answered
    lines = [
        README_START,
        f"Clarion answers {len(answered)} of the {len(every)} methods of `clarifai.api.V2`, "
        "on gRPC and HTTP+JSON alike. By resource:",
        "",
        "| Methods of | Answered |",
        "|---|---|",
    ]
    for group, _ in RESOURCE_GROUPS:
        members = [method for method in every if resource_group(method) == group]
        count = sum(method in answered for method in members)
        if members:
            lines.append(f"| {group} | {count} of {len(members)} |")
    lines += [
        "",
        "Each method not implemented answers `NOT_IMPLEMENTED` (10040) saying why and what to "
        "use instead:",
        "",
    ]
    for row in UNBUILT:
        names = [method for method in row.methods if method in left_out]
        if names:
            instead = f" Instead: {row.instead}." if row.instead else " No alternative."
            listed = ", ".join(f"`{method}`" for method in names)
            lines.append(f"- **{row.group}**: {listed}. Why: {row.why}.{instead}")
    unlisted = sorted(left_out - set(unbuilt_by_method()))
    if unlisted:
        listed = ", ".join(f"`{method}`" for method in unlisted)
        lines.append(f"- **Not built yet**: {listed}. These answer the generic sentence.")
    lines.append(README_END)
    return "\n".join(lines) + "\n"
