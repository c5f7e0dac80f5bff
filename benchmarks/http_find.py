"""`find` across the demo's five SaaS APIs with injected latency, against the longest chain of dependent
requests (the floor: no client can answer faster than the requests that wait on each other's answers).

    python benchmarks/http_find.py --latency 100 --runs 5 --save benchmarks/results/http_find.json

Each fake (dsarctl/fakes/, all five on one base, seeded as `dsarctl demo --apis` seeds them) waits
`--latency` ms before every answer. The fakes run in a child process (`dsarctl.demo_apis.serve_over_pipe`), as a vendor's servers
are not in dsarctl's process; `--in-process` runs them beside dsarctl (sharing its GIL: slower, noisier). `find SUBJECT` runs in this process through the library (`dsarctl.search.find_subject`) on an
inventory holding only the API systems (and the shop's analytics-id links, a local CSV), after one
warm-up run; the median wall time of `--runs` runs is kept. The target is a median at most
1.3 x chain x latency, where the chain is the longest run of requests one system must send one after
another for this subject (below). Every fake also logs its requests' arrival and answer times, so the
run reports the chain the client *actually* waited through per system (`observed depth`) and the total
number of requests: a client that sent independent requests one after another would show a deeper
observed chain than the dependency chain, and a slower time.

The dependency chain per system, for a subject found everywhere (alice@example.com):
  mailchimp         1: search-members by e-mail
  hubspot           2: contact and logged-e-mail searches by e-mail -> tickets and deals by the contact's id
  zendesk           2: user search by e-mail -> the tickets the user requested (comments: export only)
  stripe            2: customer search by e-mail -> charges and invoices by the customer's id
  google-analytics  0: nothing to read: its records are the ids found in a local file (a deletion request
                       is erase's)
The e-mail search of every system is in the first round; identity expansion adds the second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHAIN = {"mailchimp": 1, "hubspot": 2, "zendesk": 2, "stripe": 2, "google-analytics": 0}
TARGET = 1.3


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _depth(entries: list[list]) -> int | None:
    """The sequential depth of one fake's log ([method, path, started, ended]); None without times."""
    from dsarctl.fakes.server import FakeRequest, sequential_depth

    if any(e[2] is None for e in entries):
        return None
    return sequential_depth([FakeRequest(m, p, {}, {}, b"", started=s, ended=e) for m, p, s, e in entries])


def run(subject: str, latency_ms: int, runs: int, in_process: bool = False) -> dict:
    from dsarctl import demo_apis
    from dsarctl.identity import parse_identifier
    from dsarctl.inventory import load_inventory
    from dsarctl.search import find_subject

    if in_process:  # the fakes share this process (and its GIL) with dsarctl: a harsher, noisier setting
        servers = demo_apis.start(0, latency=latency_ms / 1000)

        def clear() -> None:
            for server in servers.values():
                server.clear() if hasattr(server, "clear") else server.requests.clear()

        def log() -> dict:
            return {name: [[r.method, r.path, getattr(r, "started", None), getattr(r, "ended", None)]
                           for r in server.requests] for name, server in servers.items()}

        urls, stop = servers, lambda: demo_apis.stop(servers)
    else:  # the fakes in a process of their own, as a vendor's servers are not in dsarctl's process
        remote = demo_apis.RemoteServers(latency=latency_ms / 1000)
        urls, clear, log, stop = remote.urls, remote.clear, remote.log, remote.stop
    try:
        with tempfile.TemporaryDirectory(prefix="dsarctl-http-bench-") as folder:
            inventory = load_inventory(demo_apis.write_api_inventory(Path(folder), urls))
            systems = sorted(n for n in urls if demo_apis.usable(n))
            wanted = [parse_identifier(subject, inventory.identities)]
            find_subject(inventory, wanted, contents=False)  # warm-up: imports, definitions parsed
            times, depths, counts, failures, total = [], {}, {}, [], 0
            for _ in range(runs):
                clear()
                started = time.perf_counter()
                result = find_subject(inventory, wanted, contents=False)  # as `dsarctl find`: no export reads
                times.append(time.perf_counter() - started)
                failures = [str(f) for f in result.failures]
                total = len(list(result.records()))
                for name, entries in log().items():
                    depth = _depth(entries)
                    depths[name] = depth if depth is None else max(depths.get(name) or 0, depth)
                    counts[name] = len(entries)
    finally:
        stop()
    chain = max(CHAIN[name] for name in systems)
    floor = chain * latency_ms / 1000
    median = statistics.median(times)
    return {
        "benchmark": "http_find", "subject": subject, "latency_ms": latency_ms, "runs": runs,
        "fakes": "in this process" if in_process else "in a child process",
        "systems": systems, "records_found": total, "failures": failures,
        "times_s": [round(t, 4) for t in times], "median_s": round(median, 4),
        "chain": {name: CHAIN[name] for name in systems}, "longest_chain": chain, "floor_s": floor,
        "observed_depth": depths, "requests": counts, "requests_total": sum(counts.values()),
        "sum_of_requests_s": round(sum(counts.values()) * latency_ms / 1000, 3),
        "ratio": round(median / floor, 3) if floor else None, "target": TARGET,
        "met": bool(floor) and median <= TARGET * floor and not failures,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average": load_average()},
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subject", default="alice@example.com")
    parser.add_argument("--latency", type=int, default=100, help="milliseconds per request (default 100)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--save", type=Path, help="write the result as JSON here")
    parser.add_argument("--in-process", action="store_true",
                        help="run the fakes in this process (default: a child process, as remote servers are)")
    args = parser.parse_args(argv)
    log(f"load average before: {load_average()}")
    result = run(args.subject, args.latency, args.runs, args.in_process)
    print(f"find {result['subject']} across {', '.join(result['systems'])} (fakes {result['fakes']}) "
          f"({result['records_found']} records, {result['requests_total']} requests)")
    print(f"  latency per request   {args.latency} ms")
    print(f"  longest chain         {result['longest_chain']} requests = {result['floor_s']:.3f} s")
    print(f"  sum of all requests   {result['sum_of_requests_s']:.3f} s")
    print(f"  find (median of {args.runs})   {result['median_s']:.3f} s")
    print(f"  ratio                 {result['ratio']}x (target <= {TARGET}x): {'met' if result['met'] else 'NOT met'}")
    print(f"  observed depth        {result['observed_depth']}")
    if result["failures"]:
        print(f"  failures              {result['failures']}")
    print(f"  load average          {result['machine']['load_average']}")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"saved {args.save}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
