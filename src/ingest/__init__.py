"""news-ingest: RSS/Atom feeds to clean, deduplicated articles in a warehouse table."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("news-ingest")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

PIPELINE_VERSION = __version__

__all__ = ["PIPELINE_VERSION", "__version__"]
