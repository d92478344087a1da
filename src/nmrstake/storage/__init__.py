"""The service's storage beyond one machine: its metadata database and its blobs (the local disk or an S3 bucket).

The package itself imports nothing heavy: the participant's install (no SQLAlchemy, no boto3)
reads the data layout, which names these variables, without loading either."""

#: The environment variable of `--database-url` (the metadata database the replicas share).
DATABASE_URL_ENV = "NMRSTAKE_DATABASE_URL"
#: The environment variable of `--receipt-key-file` (the key every replica signs receipts with).
RECEIPT_KEY_FILE_ENV = "NMRSTAKE_RECEIPT_KEY_FILE"
