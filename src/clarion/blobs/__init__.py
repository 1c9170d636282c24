"""Content-addressed blob storage for image and file bytes."""
