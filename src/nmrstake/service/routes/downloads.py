"""File downloads of the routes (a submission's file, a published file): the response, with the
file's real media type, and the content the OpenAPI document declares for each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse

#: The media type of a file download, by its extension (published names and the store's carry the
#: format found in the content: `.parquet` for a Parquet file, `.csv` for text).
MEDIA_TYPES = {".csv": "text/csv", ".json": "application/json"}
#: A predictions file: CSV or Parquet.
PREDICTIONS_CONTENT: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}
#: A published file: the manifest or the tree (JSON), or a CSV or Parquet file.
PUBLISHED_CONTENT: dict[str, Any] = {
    "application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/Manifest"},
                                              {"$ref": "#/components/schemas/MerkleTreeDump"}]}},
    **PREDICTIONS_CONTENT,
}


def file_response(path: Path, *, filename: str | None = None) -> FileResponse:
    """A file download with its real media type: text/csv, application/json or application/octet-stream."""
    return FileResponse(path, filename=filename, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"))


__all__ = ["MEDIA_TYPES", "PREDICTIONS_CONTENT", "PUBLISHED_CONTENT", "file_response"]
