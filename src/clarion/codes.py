"""Clarifai's status codes that Clarion answers or reads, by their Clarifai names.

The one place they are declared. Plain ints, so every layer (storage, inference, the client)
can use them without protobuf; ``tests/unit/test_codes.py`` pins each to ``clarifai_grpc``'s
``status_code_pb2`` by name, so a value can be neither mistyped nor renamed apart from
Clarifai's.
"""

from __future__ import annotations

from typing import Final

# Whole calls.
SUCCESS: Final = 10000
MIXED_STATUS: Final = 10010
FAILURE: Final = 10020
NOT_IMPLEMENTED: Final = 10040

# Connection, credentials and requests.
CONN_TOKEN_INVALID: Final = 11001
CONN_CREDENTIALS_INVALID: Final = 11002
CONN_EXCEED_HOURLY_LIMIT: Final = 11003
CONN_EXCEED_MONTHLY_LIMIT: Final = 11004
CONN_THROTTLED: Final = 11005
CONN_EXCEEDS_LIMITS: Final = 11006
CONN_INSUFFICIENT_SCOPES: Final = 11007
CONN_KEY_INVALID: Final = 11008
CONN_KEY_NOT_FOUND: Final = 11009
CONN_BAD_REQUEST_FORMAT: Final = 11100
CONN_DOES_NOT_EXIST: Final = 11101
CONN_INVALID_REQUEST: Final = 11102
CONN_METHOD_NOT_ALLOWED: Final = 11103
CONN_AUTH_METHOD_DISABLED: Final = 11200

# Models, training and evaluation.
MODEL_TRAINED: Final = 21100
MODEL_TRAINING: Final = 21101
MODEL_UNTRAINED: Final = 21102
MODEL_QUEUED_FOR_TRAINING: Final = 21103
MODEL_TRAINING_FAILED: Final = 21106
# An uploaded model's folder (PostModelVersionsUpload): its environment and runner being made.
MODEL_BUILDING: Final = 21107
MODEL_BUILDING_FAILED: Final = 21108
MODEL_TRAINING_NO_DATA: Final = 21110
MODEL_TRAINING_NO_POSITIVES: Final = 21111
MODEL_DOES_NOT_EXIST: Final = 21200
MODEL_PERMISSION_DENIED: Final = 21201
MODEL_INVALID_ARGUMENT: Final = 21202
MODEL_EVALUATED: Final = 21300
MODEL_EVALUATING: Final = 21301
MODEL_NOT_EVALUATED: Final = 21302
MODEL_QUEUED_FOR_EVALUATION: Final = 21303
MODEL_EVALUATION_NEED_LABELS: Final = 21315
MODEL_EVALUATION_FAILED: Final = 21317
# A built-in model whose packages are not installed on this server (ListModels, GetModel).
MODEL_NOT_DEPLOYED: Final = 21353
EVALUATION_INVALID_ARGUMENT: Final = 43104
MODEL_EXPORTED: Final = 21500

# Workflows.
WORKFLOW_NO_MATCHING_INPUT: Final = 22001
WORKFLOW_REQUIRE_TRAINED_MODEL: Final = 22002
WORKFLOW_DOES_NOT_EXIST: Final = 22102
WORKFLOW_INVALID_ARGUMENT: Final = 22104
WORKFLOW_INVALID_GRAPH: Final = 22107

# Annotations.
ANNOTATION_SUCCESS: Final = 24150
ANNOTATION_PENDING: Final = 24151
ANNOTATION_AWAITING_REVIEW: Final = 24157
ANNOTATION_REVIEW_DENIED: Final = 24158

# Labelling tasks: where one input stands for one labeller.
TASK_ASSIGNMENT_SUCCESS: Final = 54200
TASK_ASSIGNMENT_PENDING: Final = 54201
TASK_ASSIGNMENT_AWAITING_REVIEW: Final = 54202
TASK_ASSIGNMENT_REJECTED: Final = 54204

# App duplications (PostAppDuplications).
APP_DUPLICATION_SUCCESS: Final = 25200
APP_DUPLICATION_FAILED: Final = 25201
APP_DUPLICATION_PENDING: Final = 25202
APP_DUPLICATION_IN_PROGRESS: Final = 25203
APP_DUPLICATION_INVALID_REQUEST: Final = 25204
# Bulk operations: their states, and a request refused.
BULK_OPERATION_SUCCESS: Final = 25400
BULK_OPERATION_FAILED: Final = 25401
BULK_OPERATION_PENDING: Final = 25402
BULK_OPERATION_IN_PROGRESS: Final = 25403
BULK_OPERATION_INVALID_REQUEST: Final = 25404
BULK_OPERATION_CANCELLED: Final = 25405

# Inputs: their ingestion states, and why one is refused.
INPUT_DOWNLOAD_SUCCESS: Final = 30000
INPUT_DOWNLOAD_PENDING: Final = 30001
INPUT_DOWNLOAD_FAILED: Final = 30002
INPUT_DOWNLOAD_IN_PROGRESS: Final = 30003
INPUT_DUPLICATE: Final = 30100
INPUT_UNSUPPORTED_FORMAT: Final = 30101
INPUT_DOES_NOT_EXIST: Final = 30102
INPUT_INVALID_ARGUMENT: Final = 30104
INPUT_OVER_LIMIT: Final = 30105
INPUT_INVALID_URL: Final = 30106
INPUT_VIDEO_UNSUPPORTED_FORMAT: Final = 31101
INPUT_VIDEO_INVALID_ARGUMENT: Final = 31104
INPUT_VIDEO_OVER_LIMIT: Final = 31105

# Dataset versions and their exports.
DATASET_VERSION_READY: Final = 64015
DATASET_VERSION_EXPORT_SUCCESS: Final = 64200

# Search and the server's own state.
PREDICT_INVALID_REQUEST: Final = 40001
SEARCH_INVALID_REQUEST: Final = 40002
RPC_REQUEST_QUEUE_FULL: Final = 40030
RPC_SERVER_UNAVAILABLE: Final = 40031
RPC_REQUEST_TIMEOUT: Final = 40032
RPC_MAX_MESSAGE_SIZE_EXCEEDED: Final = 40033
# Runners and their compute records.
RUNNER_DOES_NOT_EXIST: Final = 25600
RUNNER_INVALID_REQUEST: Final = 25603
RUNNER_STREAM_START: Final = 25605
RUNNER_STREAM_END: Final = 25606
RUNNER_PROCESSING_FAILED: Final = 25608
NODEPOOL_DOES_NOT_EXIST: Final = 25700
COMPUTE_CLUSTER_DOES_NOT_EXIST: Final = 25800
DEPLOYMENT_DOES_NOT_EXIST: Final = 25900
INTERNAL_SERVER_ISSUE: Final = 98004
INTERNAL_UNCATEGORIZED: Final = 99009

# Durable jobs a client follows (extraction of archives into inputs).
JOB_QUEUED: Final = 64000
JOB_RUNNING: Final = 64001
JOB_COMPLETED: Final = 64002
JOB_FAILED: Final = 64003
JOB_CANCELLED: Final = 64004
ARCHIVE_EXTRACT_FAILED: Final = 67000

# Uploads in parts (PostUploads, PutUploadContentParts).
UPLOAD_IN_PROGRESS: Final = 68000
UPLOAD_DONE: Final = 68001
UPLOAD_EXPIRED: Final = 68004


_NAMES: Final = {
    value: name for name, value in globals().items() if name.isupper() and isinstance(value, int)
}


def name_of(code: int) -> str:
    """The Clarifai name of ``code``, for messages a person reads (the number if unknown)."""
    return _NAMES.get(code, str(code))
