"""Clarion: the Clarifai API (gRPC and HTTP+JSON), self-hosted and offline."""

__version__ = "0.1.0"
