#!/usr/bin/env python3
"""An engine in Python that quotes through haltd: every order it sends is haltd's order, written
ahead in haltd's log, held to its gate, its limits and its kill switch, and cancelled by haltd's
shutdowns.

Each round it reads the mark, cancels its last quotes, and quotes a bid and an ask around the mark
(post-only); every few rounds it takes a little liquidity with a market order, so fills come back
on its stream. It resends one submit on purpose, as a retry after a timeout would, to show that a
retry never makes a second order. At the end it cancels everything it has and prints a summary.

    python3 quoting_engine.py --socket /var/lib/haltd/entry.sock --token "$HALTD_ENGINE_TOKEN" \\
        --venue binance-sim --symbol BTC/USDT:USDT --rounds 10
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from haltd_client import HaltdClient, HaltdError  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="haltd's order-entry Unix socket (orderEntry.socketPath)")
    where.add_argument("--url", help="haltd's admin listener, e.g. http://127.0.0.1:7707")
    p.add_argument("--token", default=os.environ.get("HALTD_ENGINE_TOKEN"), help="an engine's token (default: $HALTD_ENGINE_TOKEN)")
    p.add_argument("--venue", required=True)
    p.add_argument("--symbol", default="BTC/USDT:USDT")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--amount", type=float, default=0.001)
    p.add_argument("--spread-bps", type=float, default=20.0)
    p.add_argument("--interval", type=float, default=0.2, help="seconds between rounds")
    p.add_argument("--run", default=str(int(time.time())), help="a tag that keeps this run's client order ids apart")
    args = p.parse_args()

    client = HaltdClient(url=args.url, socket_path=args.socket, token=args.token)
    updates = []
    if args.url:
        # HTTP: the stream is its own long request, read on a thread
        def follow():
            for u in HaltdClient(url=args.url, token=args.token).updates():
                updates.append(u)

        threading.Thread(target=follow, daemon=True).start()
    else:
        client._t.call("subscribe")

    summary = {"rounds": 0, "quotes": 0, "takes": 0, "duplicates": 0, "refused": [], "fills": 0}
    last = wait_for_mark(client, args)
    live = []
    for n in range(1, args.rounds + 1):
        last = client.ticker(args.symbol, venue=args.venue)["last"] or last
        for coid in live:
            try:
                client.cancel(client_order_id=coid, venue=args.venue)
            except HaltdError as e:
                if e.status != 404:
                    raise
        live = []
        half = last * args.spread_bps / 20000.0
        for side, price in (("buy", last - half), ("sell", last + half)):
            coid = "qe-%s-%d-%s" % (args.run, n, side[0])
            answer = client.submit(args.symbol, "limit", side, args.amount, price=round(price, 1), post_only=True, client_order_id=coid, venue=args.venue)
            if answer["outcome"] == "accepted":
                summary["quotes"] += 1
                live.append(coid)
            else:
                summary["refused"].append(answer.get("reason"))
        if n == 1:
            # a retry of the first bid, as after a timeout: haltd answers with the same order
            again = client.submit(args.symbol, "limit", "buy", args.amount, price=round(last - half, 1), post_only=True, client_order_id="qe-%s-1-b" % args.run, venue=args.venue)
            summary["duplicates"] += 1 if again["duplicate"] else 0
        if n % 3 == 0:
            take = client.submit(args.symbol, "market", "buy" if n % 2 else "sell", args.amount, client_order_id="qe-%s-%d-t" % (args.run, n), venue=args.venue)
            summary["takes"] += 1 if take["outcome"] == "accepted" else 0
        summary["rounds"] = n
        time.sleep(args.interval)

    client.cancel_all(venue=args.venue)
    time.sleep(0.3)
    summary["open_after"] = len(client.open_orders(venue=args.venue))
    if args.socket:
        updates.extend(client._t.pending_updates())
    summary["fills"] = sum(1 for u in updates if u["type"] == "fill")
    summary["updates"] = len(updates)
    print(json.dumps(summary))
    client.close()
    return 0


def wait_for_mark(client, args, timeout=10.0):
    until = time.time() + timeout
    while time.time() < until:
        last = client.ticker(args.symbol, venue=args.venue)["last"]
        if last:
            return last
        time.sleep(0.1)
    raise SystemExit("no mark for %s on %s within %ss" % (args.symbol, args.venue, timeout))


if __name__ == "__main__":
    sys.exit(main())
