"""The service's storage beyond one machine: its metadata database and its blobs (the local disk or an S3 bucket)."""
