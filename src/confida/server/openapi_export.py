"""Write, or check, the published OpenAPI document (``schemas/openapi.json``).

    python -m confida.server.openapi_export [--check] [--out PATH]

The document is what ``/openapi.json`` serves, generated from the code: the app is built against
a throwaway data directory (nothing is opened, nothing leaves the machine) and its document is
written pretty-printed with sorted keys, so that the same code gives the same bytes. ``make
openapi`` regenerates the committed file; ``--check`` exits 1 when it differs from the code
(``tests/test_openapi_spec.py`` does the same).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

DEFAULT_OUT = Path("schemas/openapi.json")


def generate() -> str:
    """The document as the code generates it, as the text of the published file."""
    from confida.config import Config
    from confida.server.app import create_app

    with tempfile.TemporaryDirectory(prefix="confida-openapi-") as tmp:
        doc = create_app(Config(data_dir=Path(tmp) / "data")).openapi()
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m confida.server.openapi_export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"the file to write or check (default: {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when the file differs from the code")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        try:
            current = args.out.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.out} is out of date with the code: run `make openapi` and commit it",
                  file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
