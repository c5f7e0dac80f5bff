"""Take the README's and docs/export.md's pictures of an access package's index.html: the demo
subject's package, in headless Chromium at a desktop's and a phone's width (run after changing the page):

    python scripts/page_screenshots.py [--chromium /usr/bin/chromium]

Writes docs/img/export-index.png (1280 px wide) and docs/img/export-index-phone.png (390 px wide),
each the top of the page.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SHOTS = {"export-index.png": (1280, 1500), "export-index-phone.png": (390, 1500)}  # width, height kept


def demo_package(folder: Path) -> Path:
    """Alice's access package from the demo company, unzipped into `folder`; returns its index.html."""
    from dsarctl.demo import create_demo
    from dsarctl.export import write_package
    from dsarctl.identity import parse_identifier
    from dsarctl.inventory import load_inventory
    from dsarctl.search import find_subject

    shutil.copy(ROOT / "inventory.yaml", folder / "inventory.yaml")
    inventory = load_inventory(folder / "inventory.yaml")
    create_demo(inventory)
    result = find_subject(inventory, [parse_identifier("alice@example.com", inventory.identities)])
    target = folder / "access.zip"
    write_package(inventory, result, target, now=datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc),
                  request_id="R-2026-0007")
    with zipfile.ZipFile(target) as zf:
        zf.extractall(folder / "package")
    return folder / "package" / "index.html"


def main() -> None:
    from browser import Browser

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Browser(args.chromium) as browser:
        page = demo_package(Path(tmp))
        for name, (width, height) in SHOTS.items():
            browser.open(page.as_uri(), width=width)
            full = browser.evaluate("document.documentElement.scrollHeight")
            browser.screenshot(ROOT / "docs" / "img" / name, clip_height=min(height, full))
            print(f"docs/img/{name}: {width} x {min(height, full)} px")


if __name__ == "__main__":
    main()
