"""The shared middle: what requests and jobs both need from two backends at once.

- ``model_resolver``: a model reference to its model and runner, the app's custom models
  first, then the built-in ones (inference + storage); the one place models are looked up,
  the read side (GetModel, ListModelVersions, evaluations) included;
- ``vector_indexes``: each app's live vector indexes, kept current with the database (search +
  storage);
- ``indexing``: an input through the app's base workflow into its embeddings and predicted
  concepts (inference + search storage);
- ``untrusted``: reading what callers send, through the guarded fetcher and the safe decoder
  (fetch + media).

Services call it while answering requests; ``clarion.jobs`` calls it from the workers. It
knows no protobuf, services or server.
"""
