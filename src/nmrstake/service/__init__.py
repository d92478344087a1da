"""The tournament service: participants upload predictions and fetch results over HTTP.

* :mod:`nmrstake.service.app`: the FastAPI application (``/v1/...``, RFC 9457 problem details);
* :mod:`nmrstake.service.routes`: its routes, one router per resource;
* :mod:`nmrstake.service.context`: what an app serves (ServiceContext);
* :mod:`nmrstake.service.upload`: an upload's body, read as it streams in.

Below this package: the checks an upload passes before it is stored (:mod:`nmrstake.intake`:
signature, round open by chain time, the oracle's own file loader, size; shared with the
operator's local delivery), the submission store it writes and the oracle reads
(:mod:`nmrstake.submissions`: uploads on disk by content hash, their log and receipts in SQLite)
and the participant's HTTP client (:mod:`nmrstake.client.http`).
"""
