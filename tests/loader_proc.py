"""A loader in its own process: stage articles [start, stop) for a run, then load them.

    python tests/loader_proc.py URL RUN_ID START STOP [--kill-after ROWS] [--go FILE]

``--kill-after`` SIGKILLs the process once that many rows are written inside the load
transaction (a crash mid-batch). ``--go`` waits for FILE to exist before loading, so
that two loaders start together.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))

from synthetic import synthetic

from helpers import faults_in_loads
from ingest import pipeline
from ingest.store import engine as db
from ingest.store import staging


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("run_id")
    parser.add_argument("start", type=int)
    parser.add_argument("stop", type=int)
    parser.add_argument("--kill-after", type=int)
    parser.add_argument("--go", type=Path)
    args = parser.parse_args()
    engine = db.make_engine(args.url)
    batch = [synthetic(i) for i in range(args.start, args.stop)]
    staging.stage_articles(
        engine, args.run_id, [(a.canonical_url, a) for a in batch], datetime.now(UTC)
    )
    if args.go:
        while not args.go.exists():
            time.sleep(0.01)

    def crash(_conn: object, written: int) -> None:
        if args.kill_after is not None and written >= args.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    with faults_in_loads(engine, crash):
        result = pipeline.load_run(engine, args.run_id)
    print(result.inserted, result.updated, result.skipped)


if __name__ == "__main__":
    main()
