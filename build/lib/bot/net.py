"""Small network helpers shared by the HTTP clients."""

from __future__ import annotations

from urllib.parse import urlparse


def is_loopback(url: str) -> bool:
    """A server on this machine (a local Bot API server, an inference server, a test server): such
    requests must not go through an HTTP proxy."""
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
