"""A deterministic, generated fake news site served over loopback HTTP for demos and tests."""

from ingest.demosite.content import BadLink, DemoArticle, DemoFeed, DemoSite
from ingest.demosite.server import build_site, serve

__all__ = ["BadLink", "DemoArticle", "DemoFeed", "DemoSite", "build_site", "serve"]
