"""`dsarctl demo`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import Command, JsonOpt, examples, state
from .output import Output


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("demo", cls=Command, epilog=examples(
    ("Create the demo sources next to the inventory, then try a search", "dsarctl demo && dsarctl find alice@example.com"),
    ("Start again from fresh demo data", "dsarctl demo --force"),
    ("Also run the SaaS APIs' fakes on localhost (Ctrl-C stops them), as over a slow network",
     "dsarctl demo --apis --latency 100"),
))
def demo(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Recreate the demo sources even if they exist.")] = False,
    apis: Annotated[bool, typer.Option(
        "--apis", help="Also run fakes of the demo's SaaS tools (Mailchimp, HubSpot, Zendesk, Stripe, Google "
                       "Analytics) on localhost and write inventory-apis.yaml pointing at them; runs until "
                       "Ctrl-C.")] = False,
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="With --apis: the first of five ports on 127.0.0.1 "
                                                     "(0: any free ports).", min=0, max=65530)] = 8741,
    latency: Annotated[int, typer.Option("--latency", metavar="MS", help="With --apis: milliseconds each fake waits before "
                                                           "answering (a slow network).", min=0)] = 0,
    json_: JsonOpt = False,
) -> None:
    """Create the demo company's data sources that the inventory points at (in demo/)."""
    import os

    from ..demo import create_demo

    out = Output(json_)
    inventory = state(ctx).inventory()
    written = create_demo(inventory, force=force)
    paths = [os.path.relpath(p, inventory.base_dir) for p in written]
    if apis:
        return _serve_apis(out, inventory, paths, port, latency / 1000)
    out.emit({"created": paths, "inventory": str(inventory.path)},
             lambda console, d: console.print(
                 "\n".join(f"created {p}" for p in d["created"])
                 or "demo sources already exist (use --force to recreate them)", markup=False))


def _serve_apis(out: Output, inventory, paths: list[str], port: int, latency: float) -> None:
    import os
    import signal
    import sys
    import threading

    from .. import demo_apis

    servers = demo_apis.start(port, latency=latency)
    try:
        written = demo_apis.write_inventory(inventory.path, servers)
        env = demo_apis.environment(servers)
        relative = os.path.relpath(written, os.getcwd())
        left_out = sorted(n for n in servers if not demo_apis.usable(n))
        document = {"created": paths, "inventory": str(written), "apis": {n: s.url for n, s in servers.items()},
                    "left_out": left_out, "env": env, "stop": "Ctrl-C"}

        def show(console, d):
            lines = [f"created {p}" for p in d["created"]]
            lines += [f"{name:<17} {url}" for name, url in d["apis"].items()]
            lines += [f"{name}: its fake runs, but this dsarctl cannot load its definition: left out of {relative}"
                      for name in d["left_out"]]
            lines += [f"wrote {relative}: the demo inventory plus these API systems",
                      f"try:  dsarctl -i {relative} find alice@example.com",
                      "fakes running; Ctrl-C stops them"]
            console.print("\n".join(lines), markup=False)

        out.emit(document, show)
        sys.stdout.flush()
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            while not stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        demo_apis.stop(servers)
    print("fakes stopped", file=sys.stderr)
