"""Print a BLP's assignments from a running `blp engine` as they come.

    python examples/stream_assignments.py --url http://127.0.0.1:8765 --key K --secret S
    BLP_URL=... BLP_KEY=... BLP_SECRET=... python examples/stream_assignments.py --from-seq 0

The stream resumes by itself after disconnects and engine restarts; pass `--from-seq` the last
seq you processed to continue from there after this script itself restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from blp_client.client import BLPClient
from blp_client.errors import AuthError


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=os.environ.get("BLP_URL", "http://127.0.0.1:8765"))
    p.add_argument("--key", default=os.environ.get("BLP_KEY"))
    p.add_argument("--secret", default=os.environ.get("BLP_SECRET"))
    p.add_argument("--from-seq", type=int, default=0, help="print assignments after this seq")
    p.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    args = p.parse_args(argv)
    if not args.key or not args.secret:
        p.error("give --key and --secret (or set BLP_KEY and BLP_SECRET)")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    async with BLPClient(args.url, args.key, args.secret) as client:
        profile = await client.profile()
        print(
            f"BLP account {profile.account_id}: minute rate {profile.minute_rate}, "
            f"hour rate {profile.hour_rate}, opted in: {profile.opted_in}",
            flush=True,
        )
        n = 0
        # closed on an early stop (--count), so its socket closes before the session does
        async with contextlib.aclosing(client.assignments(from_seq=args.from_seq)) as stream:
            async for a in stream:
                print(
                    f"#{a.seq} {a.symbol} {a.side} {a.qty} @ {a.price} "
                    f"(mark {a.mark_price}, {a.kind}, {a.discount_bps:+} bps) "
                    f"remaining minute={a.remaining.minute} hour={a.remaining.hour} "
                    f"threshold={a.remaining.threshold}",
                    flush=True,
                )
                n += 1
                if args.count and n >= args.count:
                    break
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except AuthError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
