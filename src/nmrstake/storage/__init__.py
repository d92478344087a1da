"""Where the service keeps its state beyond one process: files (blobs) and, beside them, the database."""
