"""The tournament service: participants upload predictions and fetch results over HTTP.

* :mod:`nmrstake.service.store`: uploads on disk by content hash, their log and receipts in SQLite;
* :mod:`nmrstake.service.intake`: the checks an upload passes before it is stored (signature,
  round open by chain time, the oracle's own file loader, size), shared by HTTP and local delivery;
* :mod:`nmrstake.service.app`: the FastAPI application (``/v1/...``, RFC 9457 problem details).

The participant's HTTP client is :mod:`nmrstake.client.http`, a layer below this package.
"""
