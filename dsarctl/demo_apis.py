"""`dsarctl demo --apis`: the demo company's SaaS tools (Mailchimp, HubSpot, Zendesk, Stripe, Google
Analytics) as local fakes on 127.0.0.1, holding the demo people's records, and an inventory
(`inventory-apis.yaml`, next to the demo inventory) that is the demo inventory plus five `http` systems
pointing at them, so that a newcomer can try find / export / erase against APIs without any account.

The people are the demo's (dsarctl/demo.py): Alice is in every tool; Bob has an open Zendesk ticket (so
Zendesk refuses to delete his user until the ticket is erased too); Zoe sits next to her look-alike
xzoe@example.org.uk; Erin is a HubSpot lead and a newsletter subscriber. Analytics ids reach Google Analytics the way they do in
practice: the shop keeps, per account, the analytics client id of the browser it signed in from and sends
its customer id as the Analytics user id (`demo/analytics-ids.csv`).

Nothing here is imported by the other commands. The fakes (dsarctl/fakes/) ship with dsarctl and need only
the standard library, so the demo runs from an installed dsarctl as from a source checkout.
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError

DEFAULT_PORT = 8741  # the first of five consecutive ports (dsarctl's fakes take theirs among them)
INVENTORY_NAME = "inventory-apis.yaml"
IDS_FILE = "demo/analytics-ids.csv"
PROPERTY_ID = "318000000"
TOKENS = {"hubspot": "pat-demo-hubspot", "zendesk": "zd-demo-token", "google-analytics": "ya29.demo-token",
          "mailchimp": "0123456789abcdef0123456789abcdef-us21", "stripe": "sk_test_51FakeDsarctlKey0123456789abcdef"}
ZENDESK_AGENT = "agent@northwind.example"

# customer id, e-mail, analytics client id of the browser the account signed in from
ANALYTICS_IDS = [
    ("1042", "alice@example.com", "1789012345.1700000000"),
    ("1043", "bob@example.net", "1122334455.1690000000"),
    ("1044", "zoe@example.org", "1555666777.1710000000"),
    ("1047", "xzoe@example.org.uk", "1888999000.1720000000"),
]


@dataclass
class DemoApi:
    name: str  # the definition's name, and the system's in inventory-apis.yaml
    system: str
    env: str  # the variable holding its base URL
    make: Callable[[], Any]  # a seeded FakeApi


def hubspot() -> Any:
    from .fakes.hubspot import HubSpotFake

    api = HubSpotFake(token=TOKENS["hubspot"])
    alice = api.add("contacts", {"email": "alice@example.com", "firstname": "Alice", "lastname": "Example",
                                 "phone": "+44 20 7946 0958", "company": "Example Ltd", "jobtitle": "CTO",
                                 "lifecyclestage": "customer"})
    api.add("tickets", {"subject": "Licence key NW-ALICE-0001 invalid", "content": "Activation fails.",
                        "hs_pipeline_stage": "4"}, associations=[("contacts", alice)])
    api.add("deals", {"dealname": "Northwind Desktop upgrade", "amount": "99.00", "dealstage": "closedwon"},
            associations=[("contacts", alice)])
    bob = api.add("contacts", {"email": "bob@example.net", "firstname": "Bob", "lastname": "Builder",
                               "lifecyclestage": "customer"})
    api.add("deals", {"dealname": "Northwind Desktop (1 seat)", "amount": "49.00", "dealstage": "closedwon"},
            associations=[("contacts", bob)])
    api.add("contacts", {"email": "zoe@example.org", "firstname": "Zoe", "lastname": "Zed"})
    api.add("contacts", {"email": "xzoe@example.org.uk", "firstname": "Xavier", "lastname": "Zoe"})
    api.add("contacts", {"email": "erin@example.com", "firstname": "Erin", "lifecyclestage": "lead"})
    return api


def zendesk() -> Any:
    from .fakes.zendesk import ZendeskFake

    api = ZendeskFake(agent=ZENDESK_AGENT, api_token=TOKENS["zendesk"])
    alice = api.add_user("Alice Example", "alice@example.com", phone="+442079460958",
                         notes="Prefers e-mail. Licence NW-ALICE-0001.")
    agent = api.add_user("Sam Support", ZENDESK_AGENT, role="agent")
    licence = api.add_ticket(alice, "Cannot activate licence", ["My key NW-ALICE-0001 says invalid."], status="closed")
    api.add_comment(licence, agent, "We have reissued your key.")  # an agent's reply: the ticket is still hers alone
    api.add_comment(licence, alice, "Fixed, thank you!")
    api.add_ticket(alice, "Refund for order 5002", ["Refund for order 5002 please."], status="solved")
    bob = api.add_user("Bob Builder", "bob@example.net")
    api.add_ticket(bob, "Invoice address", ["Please change my invoice address."], status="open")
    api.add_user("Zoe Zed", "zoe@example.org")
    xzoe = api.add_user("Xavier Zoe", "xzoe@example.org.uk")
    api.add_ticket(xzoe, "Account merge", ["Please merge me with zoe@example.org's team account."], status="closed")
    return api


def google_analytics() -> Any:
    from .fakes.google_analytics import GoogleAnalyticsFake

    api = GoogleAnalyticsFake(token=TOKENS["google-analytics"])
    for customer_id, _, client_id in ANALYTICS_IDS:
        api.add_user(PROPERTY_ID, "CLIENT_ID", client_id, events=25)
        api.add_user(PROPERTY_ID, "USER_ID", customer_id, events=10)
    return api


def mailchimp() -> Any:
    from .fakes.mailchimp import Mailchimp

    api = Mailchimp(api_key=TOKENS["mailchimp"])
    api.add_list("nw0news01", "Northwind newsletter")
    api.add_list("nw0beta01", "Beta testers")
    api.add_member("nw0news01", "alice@example.com", first="Alice", last="Example", activity=3)
    api.add_member("nw0beta01", "Alice@Example.COM", first="Alice", last="Example", activity=1)
    api.add_member("nw0news01", "bob@example.net", first="Bob", last="Builder", status="unsubscribed")
    api.add_member("nw0news01", "erin@example.com", first="Erin", activity=2)
    api.add_member("nw0news01", "zoe@example.org.au", first="Zoey")
    return api


def stripe() -> Any:
    from .fakes.stripe import Stripe

    api = Stripe(secret_key=TOKENS["stripe"])
    alice = api.add_customer("alice@example.com", "Alice Example", description="customer 1042")["id"]
    api.add_charge(alice, 4900)
    api.add_charge(alice, 9900)
    api.add_invoice(alice, 9900)
    bob = api.add_customer("bob@example.net", "Bob Builder", description="customer 1043")["id"]
    api.add_charge(bob, 4900)
    api.add_customer("zoe@example.org", "Zoe Zed", description="customer 1044")
    api.add_customer("xzoe@example.org.uk", "Xavier Zoe", description="customer 1047")
    return api


def usable(definition: str) -> bool:
    """Whether the installed http source can load the built-in `definition` (an engine without a feature
    the definition needs refuses it: the demo then runs the fake but leaves the system out)."""
    from .connectors.http import definition as definitions
    from .errors import DsarError

    try:
        definitions.load(definitions.resolve(definition, Path(".")))
    except (DsarError, OSError):
        return False
    return True


def apis() -> list[DemoApi]:
    """The demo's APIs, in port order."""
    known = [("mailchimp", "newsletter_api", "DEMO_MAILCHIMP_URL", mailchimp),
             ("hubspot", "crm_api", "DEMO_HUBSPOT_URL", hubspot),
             ("zendesk", "helpdesk_api", "DEMO_ZENDESK_URL", zendesk),
             ("stripe", "payments_api", "DEMO_STRIPE_URL", stripe),
             ("google-analytics", "web_analytics_api", "DEMO_GA_URL", google_analytics)]
    return [DemoApi(name, system, env, make) for name, system, env, make in known]


def start(port: int = DEFAULT_PORT, *, latency: float = 0.0) -> dict[str, Any]:
    """Start every demo API on 127.0.0.1, on `port`, `port + 1`, ... (0: free ports); name -> FakeServer."""
    from .fakes.server import FakeServer

    servers: dict[str, Any] = {}
    try:
        for offset, api in enumerate(apis()):
            try:
                servers[api.name] = FakeServer(api.make(), latency=latency, port=port + offset if port else 0).start()
            except OSError as exc:
                raise UsageError(f"--port: cannot listen on 127.0.0.1:{port + offset} for the {api.name} fake "
                                 f"({exc.strerror or exc}); choose another with --port") from None
    except BaseException:
        stop(servers)
        raise
    return servers


def stop(servers: dict[str, Any]) -> None:
    for server in servers.values():
        server.stop()


def environment(servers: dict[str, Any]) -> dict[str, str]:
    """The variables inventory-apis.yaml reads: each fake's URL and the demo credentials."""
    env = {api.env: servers[api.name].url for api in apis() if api.name in servers}
    env.update({"DEMO_HUBSPOT_TOKEN": TOKENS["hubspot"], "DEMO_ZENDESK_TOKEN": TOKENS["zendesk"],
                "DEMO_GA_TOKEN": TOKENS["google-analytics"], "DEMO_MAILCHIMP_KEY": TOKENS["mailchimp"],
                "DEMO_STRIPE_KEY": TOKENS["stripe"]})
    return env


SYSTEMS = {
    "mailchimp": """\
  {system}:
    description: Newsletter audience in Mailchimp (demo fake on localhost)
    owner: marketing@northwind.example
    connector: http
    definition: mailchimp
    base_url: ${{DEMO_MAILCHIMP_URL:-{url}}}/3.0
    auth:
      api_key: ${{DEMO_MAILCHIMP_KEY:-{token}}}
    purposes: [product and marketing newsletters]
    lawful_basis: consent
    recipients: [The Rocket Science Group LLC (Mailchimp), processor]
    erase: delete
""",
    "hubspot": """\
  {system}:
    description: Sales CRM in HubSpot (demo fake on localhost)
    owner: sales@northwind.example
    connector: http
    definition: hubspot
    base_url: ${{DEMO_HUBSPOT_URL:-{url}}}
    auth:
      bearer: ${{DEMO_HUBSPOT_TOKEN:-{token}}}
    purposes: [sales and account management]
    lawful_basis: legitimate interests
    recipients: [HubSpot Ireland Ltd, processor]
    erase: delete
    collections:
      tickets: {{erase: delete}}      # else retained: the GDPR delete only unlinks them
""",
    "zendesk": """\
  {system}:
    description: Help desk in Zendesk (demo fake on localhost)
    owner: support-lead@northwind.example
    connector: http
    definition: zendesk
    base_url: ${{DEMO_ZENDESK_URL:-{url}}}
    auth:
      basic:
        username: {agent}/token
        password: ${{DEMO_ZENDESK_TOKEN:-{token}}}
    purposes: [customer support]
    lawful_basis: legitimate interests (answering the people who write to us)
    recipients: [Zendesk Inc., processor]
    collections:
      tickets: {{erase: delete}}
      users: {{erase: delete}}
""",
    "stripe": """\
  {system}:
    description: Payments in Stripe (demo fake on localhost)
    owner: finance@northwind.example
    connector: http
    definition: stripe
    base_url: ${{DEMO_STRIPE_URL:-{url}}}
    auth:
      bearer: ${{DEMO_STRIPE_KEY:-{token}}}
    purposes: [payments]
    lawful_basis: contract; legal obligation (tax records)
    recipients: [Stripe Payments Europe Ltd (payment processor)]
    collections:
      customers: {{erase: delete}}    # charges and invoices: retained, as the definition says
""",
    "google-analytics": """\
  {system}:
    description: Web analytics in Google Analytics 4 (demo fake on localhost); deletion by the ids the shop keeps
    owner: marketing@northwind.example
    connector: http
    definition: google-analytics
    base_url: ${{DEMO_GA_URL:-{url}}}
    auth:
      bearer: ${{DEMO_GA_TOKEN:-{token}}}
    params: {{property_id: "{property}"}}
    purposes: [understanding how the website is used]
    lawful_basis: consent (cookie banner)
    retention: 14 months (the property's data-retention setting)
    recipients: [Google Ireland Ltd (Google Analytics), processor]
    erase: delete
""",
}

IDS_SYSTEM = """\
  analytics_ids:
    description: The shop's record of each account's analytics client id (written by `dsarctl demo --apis`)
    owner: web-team@northwind.example
    connector: csv
    path: {path}
    identities: {{customer_id: customer_id, email: email, ga_client_id: ga_client_id, ga_user_id: ga_user_id}}
    purposes: [website analytics]
    lawful_basis: consent (analytics cookies)
    erase: delete
"""

KINDS = ("  ga_client_id: {type: string}\n"  # the shop's file carries them, with or without the GA system
         "  ga_user_id: {type: string}\n")


def write_inventory(inventory_path: Path, servers: dict[str, Any]) -> Path:
    """`inventory-apis.yaml` beside `inventory_path`: its text, the identity kinds the definitions use, the
    API systems, and `demo/analytics-ids.csv` that links accounts to analytics ids. Written whole (aside,
    then renamed); returns its path."""
    text = inventory_path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    try:
        at = next(i for i, line in enumerate(lines) if line.rstrip() == "identities:")
    except StopIteration:
        raise UsageError(f"{inventory_path}: no top-level 'identities:' — `demo --apis` needs the demo "
                         f"inventory.yaml") from None
    if not text.rstrip().splitlines() or not any(line.rstrip() == "systems:" for line in lines):
        raise UsageError(f"{inventory_path}: no top-level 'systems:' — `demo --apis` needs the demo inventory.yaml")
    lines.insert(at + 1, KINDS)
    if "google-analytics" in servers and usable("google-analytics"):
        lines = _without_system(lines, "analytics")  # the manual task the API system replaces
    blocks = ["\n  # -- optional API systems: `dsarctl demo --apis` runs their fakes on localhost --------\n"]
    for api in apis():
        if api.name in servers and usable(api.name):
            blocks.append(SYSTEMS[api.name].format(system=api.system, url=servers[api.name].url,
                                                   token=TOKENS[api.name], agent=ZENDESK_AGENT,
                                                   property=PROPERTY_ID) + "\n")
    blocks.append(IDS_SYSTEM.format(path=IDS_FILE))
    body = "".join(lines).rstrip("\n") + "\n" + "".join(blocks)
    target = inventory_path.with_name(INVENTORY_NAME)
    _write_aside(target, body)
    ids = inventory_path.parent / IDS_FILE
    ids.parent.mkdir(parents=True, exist_ok=True)
    _write_ids(ids)
    return target


def _without_system(lines: list[str], name: str) -> list[str]:
    """`lines` of an inventory without the system `name` (its block under `systems:`, up to the next line
    indented two spaces or less that is not blank)."""
    try:
        start = lines.index(f"  {name}:\n")
    except ValueError:
        return lines
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith("   ")):
        end += 1
    return lines[:start] + lines[end:]


def _write_ids(path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp-demo")
    with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "email", "ga_client_id", "ga_user_id"])
        for customer_id, email, client_id in ANALYTICS_IDS:
            writer.writerow([customer_id, email, client_id, customer_id])
    os.replace(tmp, path)


def _write_aside(target: Path, text: str) -> None:
    tmp = target.with_name(target.name + ".tmp-demo")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


STANDALONE = """\
version: 1
controller:
  name: Northwind Software Ltd
  contact: privacy@northwind.example
  timezone: Europe/London
audit:
  path: .dsarctl/audit.db
identities:
  email: {type: email}
  phone: {type: phone, region: GB}
  customer_id: {type: string, unique: true}
"""


def write_api_inventory(folder: Path, servers: dict[str, Any]) -> Path:
    """An inventory in `folder` holding only the API systems (and the analytics-id links): what the
    benchmark and the tests search. `servers`: name -> a server (its `.url`) or the URL. Returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    urls = {name: getattr(server, "url", server) for name, server in servers.items()}
    text = STANDALONE.replace("identities:\n", "identities:\n" + KINDS) + "systems:\n"
    for api in apis():
        if api.name in urls and usable(api.name):
            text += SYSTEMS[api.name].format(system=api.system, url=urls[api.name], token=TOKENS[api.name],
                                             agent=ZENDESK_AGENT, property=PROPERTY_ID) + "\n"
    text += IDS_SYSTEM.format(path=IDS_FILE)
    (folder / IDS_FILE).parent.mkdir(parents=True, exist_ok=True)
    _write_ids(folder / IDS_FILE)
    target = folder / "inventory.yaml"
    _write_aside(target, text)
    return target


def serve_over_pipe(port: int = 0, latency: float = 0.0) -> None:
    """Run the demo APIs in this process for another one (the benchmark), talking over stdin/stdout in
    JSON lines: first `{"urls": {...}}`; then for each line read, `clear` empties the request logs and
    `log` answers `{"log": {name: [[method, path, started, ended], ...]}}` (time.monotonic, which is one
    clock for every process of the machine). Ends when stdin closes."""
    import json

    servers = start(port, latency=latency)
    try:
        print(json.dumps({"urls": {name: server.url for name, server in servers.items()}}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "clear":
                for server in servers.values():
                    server.requests.clear()
                print(json.dumps({"cleared": True}), flush=True)
            elif command == "log":
                print(json.dumps({"log": {name: [[r.method, r.path, getattr(r, "started", None),
                                                  getattr(r, "ended", None)] for r in server.requests]
                                          for name, server in servers.items()}}), flush=True)
    finally:
        stop(servers)


class RemoteServers:
    """The demo APIs in a child process (`serve_over_pipe`), seen through FakeServer's `url` and logs."""

    def __init__(self, latency: float = 0.0):
        import json
        import subprocess

        self._json = json
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from dsarctl.demo_apis import serve_over_pipe; serve_over_pipe(0, {latency!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.urls: dict[str, str] = self._read()["urls"]

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the demo APIs' process ended")
        return self._json.loads(line)

    def _ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def clear(self) -> None:
        self._ask("clear")

    def log(self) -> dict[str, list[list]]:
        return self._ask("log")["log"]

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
