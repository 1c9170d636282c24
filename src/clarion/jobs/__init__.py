"""Background work: the durable job queue and the workers that run ingestion."""
