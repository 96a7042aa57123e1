"""Many fault-server hosts on loopback, served from a process of their own.

A benchmark that measures our CPU must not share its interpreter (its GIL) with the
servers it fetches from: :class:`HostFarm` starts ``python bench/hostfarm.py`` with N
:class:`faultserver.FaultServer` hosts on 127.x.y.z addresses and stops it on exit.

Two kinds of site:

- ``fault``: the fault server as it is (``/good/a/<n>.html`` articles of about 3 KB,
  ``/good/feed.xml?n=&start=`` feeds, ``/pages/...``);
- ``real``: ``/pages/<i>.html`` serves :mod:`pagegen` pages of real size (50-300 KB),
  unique per host, built before the farm says it is ready. With ``extras`` each host
  also has ``/bench/feed.xml``: its pages, one of them again under tracking parameters,
  one as a second URL of the same page (``/copy/<i>.html``), and on the first host a
  PDF and a 21 MB page (a story and an inline image): what a careless loop stores and we must not.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Self

HERE = Path(__file__).parent
BIG_PAGE_MB = 21


def address(index: int, net: int = 2) -> str:
    """The loopback address of host ``index`` (127.<net>.<hi>.<lo>, never .0 or .255)."""
    return f"127.{net}.{index // 250}.{index % 250 + 1}"


class HostFarm:
    """``hosts`` fault-server hosts in a child process; :attr:`bases` are their base URLs."""

    def __init__(
        self,
        hosts: int,
        pages: int,
        *,
        kind: str = "real",
        extras: bool = False,
        net: int = 2,
        latency_s: float = 0.0,
    ) -> None:
        self.argv = [
            sys.executable, str(Path(__file__).resolve()), "--hosts", str(hosts),
            "--pages", str(pages), "--kind", kind, "--net", str(net),
            "--latency", str(latency_s), *(["--extras"] if extras else []),
        ]  # fmt: skip
        self.bases: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            raise RuntimeError(f"host farm failed to start: {self.argv}")
        self.bases = json.loads(line)
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __exit__(self, *_exc: object) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _serve(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE.parent / "tools"))
    sys.path.insert(0, str(HERE))
    import faultserver  # noqa: PLC0415 - only in the farm's process

    import pagegen  # noqa: PLC0415

    class RealSite(faultserver.FaultServer):
        """The fault server, its ``/pages/<i>.html`` pages of real size."""

        def __init__(self, index: int, **kwargs: object) -> None:
            super().__init__(**kwargs)  # type: ignore[arg-type]
            self.index = index
            self.bodies: dict[int, bytes] = {}

        def _build_routes(self):  # type: ignore[no-untyped-def]  # noqa: ANN202
            base = self.base_url
            first = self.index * self.pages
            self.bodies = {
                i: pagegen.page(first + i, base)[1].encode() for i in range(1, self.pages + 1)
            }
            routes = super()._build_routes()
            if args.extras:
                routes.update(self._extras(base))
            return routes

        def _extras(self, base: str) -> dict[str, object]:
            response = faultserver._Response  # noqa: SLF001 - the farm extends the server
            links = [f"{base}/pages/{i}.html" for i in range(1, self.pages + 1)]
            links.append(f"{base}/pages/1.html?utm_source=rss&utm_medium=feed")
            links.append(f"{base}/copy/2.html")
            routes: dict[str, object] = {"/copy/2.html": response(200, self.bodies[2])}
            if self.index == 0:
                links += [f"{base}/bench/report.pdf", f"{base}/bench/big.html"]
                pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 400 + b"\n%%EOF\n"
                routes["/bench/report.pdf"] = response(200, pdf, "application/pdf")
                # 21 MB of inline image data around a story, as some pages carry
                story = pagegen.page(10**6, base)[1]
                rng = random.Random(BIG_PAGE_MB)  # noqa: S311 - seeded page content
                blob = base64.b64encode(rng.randbytes(16 * 1024 * 1024))
                big = story.replace(
                    "</article>", f'<img src="data:image/png;base64,{blob.decode()}"></article>', 1
                )
                routes["/bench/big.html"] = response(200, big.encode())
            items = [
                faultserver._item(  # noqa: SLF001
                    title=f"Story {k}",
                    link=link,
                    guid=link,
                    pub_date=faultserver._pub_date(k),  # noqa: SLF001
                )
                for k, link in enumerate(links)
            ]
            feed = faultserver._rss("Bench", base + "/", items)  # noqa: SLF001
            routes["/bench/feed.xml"] = response(200, feed.encode(), faultserver.RSS)
            return routes

        def _article_response(self, n: int, canonical: str):  # type: ignore[no-untyped-def]  # noqa: ANN202
            body = self.bodies.get(n)
            if body is None or "/pages/" not in canonical:
                return super()._article_response(n, canonical)
            return faultserver._Response(200, body)  # noqa: SLF001

    robots = "User-agent: *\nAllow: /\n"
    servers = []
    with contextlib.ExitStack() as stack:
        for i in range(args.hosts):
            kwargs = {
                "host": address(i, args.net), "latency_s": args.latency, "pages": args.pages,
                "robots": robots,
            }  # fmt: skip
            server = (
                RealSite(i, **kwargs) if args.kind == "real" else faultserver.FaultServer(**kwargs)  # type: ignore[arg-type]
            )
            servers.append(stack.enter_context(server))
        print(json.dumps([s.base_url for s in servers]), flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--kind", choices=("real", "fault"), default="real")
    parser.add_argument("--extras", action="store_true")
    parser.add_argument("--net", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.0)
    _serve(parser.parse_args())
