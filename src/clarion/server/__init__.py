"""The servers: gRPC and HTTP+JSON transports, auth, dispatch, and the composition root."""
