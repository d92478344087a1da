"""The service's storage beyond one machine: its metadata database (and, beside it, its blobs)."""
