"""What the dashboard tests serve and log in as: hostile feeds (text that must stay text
on every page) and the simple auth manager's users."""

from __future__ import annotations

import html
import os
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Response

#: role -> (user name, password)
USERS = {"admin": ("admin", "admin-pw-1"), "viewer": ("viewer", "viewer-pw-1")}
SCRIPT_TITLE = "<script>document.title='owned'</script>Harbour <b>news</b> & views"
LONG_TITLE = "Long " * 20_000  # 100 KB
LONG_PATH = "/" + "very-long-path-" * 100  # a 1,500-character URL that fails
MARKUP_HEADER = "<img src=x onerror=alert(1)>"


def hostile_feeds(server: HTTPServer) -> str:
    """A feed whose text is all markup, one javascript: link and a 100 KB item title."""
    items = [
        ("javascript:alert(document.cookie)", "A link that is script"),
        (server.url_for(LONG_PATH), LONG_TITLE),
        (server.url_for("/gone"), "<script>alert(2)</script>"),
        (server.url_for("/story"), "A story"),
    ]
    body = "".join(
        f"<item><title><![CDATA[{t}]]></title><link>{u}</link><guid>{u}</guid></item>"
        for u, t in items
    )
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    server.expect_request("/hostile.xml").respond_with_data(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title><![CDATA[{SCRIPT_TITLE}]]>'
        f"</title><link>{server.url_for('/')}</link>{body}</channel></rss>",
        content_type="application/rss+xml",
    )
    server.expect_request(LONG_PATH).respond_with_data("<html><title>x</title></html>", status=503)
    server.expect_request("/gone").respond_with_data("gone", status=404)
    paragraphs = "".join(
        f"<p>The council met on day {i} and heard {i * 7} questions about the harbour wall, "
        "the ferry timetable and the library's opening hours before the vote.</p>"
        for i in range(8)
    )
    story_title = html.escape(f"{SCRIPT_TITLE} {LONG_TITLE}")
    server.expect_request("/story").respond_with_data(
        f"<html><head><title>{story_title}</title></head><body><article><h1>{story_title}</h1>"
        f"{paragraphs}</article></body></html>",
        content_type="text/html",
    )
    server.expect_request("/bad-encoding.xml").respond_with_response(
        Response(b"x", headers={"Content-Encoding": MARKUP_HEADER},
                 content_type="application/rss+xml")
    )  # fmt: skip
    return (
        f'[[feeds]]\nkey = "hostile"\nurl = "{server.url_for("/hostile.xml")}"\n'
        f'title = "{SCRIPT_TITLE}"\n\n'
        f'[[feeds]]\nkey = "bad-encoding"\nurl = "{server.url_for("/bad-encoding.xml")}"\n'
    )


def shot(page, name: str) -> None:
    """With ``UI_SCREENSHOTS=<dir>``, keep a full-page screenshot of ``page`` there."""
    folder = os.environ.get("UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
