"""Atom 1.0 feeds (RFC 4287) of the alerts (:mod:`nmrstake.service.alerts`) of one model or one
address, for those who prefer a reader to a webhook.

The document is built with the standard library's ElementTree, which escapes every text and
attribute; a character XML 1.0 cannot hold at all (control characters: a model id on chain is
bytes its staker chose) is replaced by U+FFFD first, so that a hostile id never makes the feed
unreadable. Entries' ids are stable URNs of the deployment and the event's key.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from nmrstake.service.alerts import AlertEvent

ATOM = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
#: Entries in a feed, newest first.
MAX_ENTRIES = 200

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with the characters XML 1.0 cannot hold replaced by U+FFFD (escaping is ElementTree's)."""
    return _NOT_XML.sub("\ufffd", text)


def _time(ts: int) -> str:
    return dt.datetime.fromtimestamp(max(ts, 0), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(events: Sequence[AlertEvent], *, title: str, feed_id: str, self_url: str, chain_id: int,
              tournament: str) -> bytes:
    """The Atom document of `events` (the newest MAX_ENTRIES, newest first)."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: xml_text(v) for k, v in attrs.items()})
        if text is not None:
            el.text = xml_text(text)
        return el

    ordered = sorted(events, key=lambda e: (e.at, e.key), reverse=True)[:MAX_ENTRIES]
    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    sub(feed, "updated", _time(ordered[0].at if ordered else 0))
    sub(feed, "link", rel="self", href=self_url)
    author = sub(feed, "author")
    sub(author, "name", "nmrstake tournament service")
    for event in ordered:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:nmrstake:{chain_id}:{tournament.lower()}:{event.key}")
        sub(entry, "title", event.title())
        sub(entry, "updated", _time(event.at))
        sub(entry, "category", term=event.kind)
        sub(entry, "content", json.dumps(event.to_json(), sort_keys=True, indent=1), type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


__all__ = ["ATOM", "CONTENT_TYPE", "atom_feed", "xml_text"]
