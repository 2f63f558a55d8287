"""Printing results for people (tables) or for scripts (`--json`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from services.common.settings import default_address


def service_address(service: str) -> str:
    """`<NAME>_ADDR` as the services use it, else the local default port."""
    return os.environ.get(f"{service.upper()}_ADDR") or default_address(service)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(header), *(len(row[i]) for row in cells)) if cells else len(header) for i, header in enumerate(headers)]
    line = "  ".join(header.ljust(width) for header, width in zip(headers, widths))
    print(line)
    print("  ".join("-" * width for width in widths))
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


def add_address_option(parser: argparse.ArgumentParser, service: str, flag: str = "--addr") -> None:
    parser.add_argument(
        flag,
        default=service_address(service),
        help=f"{service} service host:port (default: ${service.upper()}_ADDR or {service_address(service)})",
    )


def add_common_options(parser: argparse.ArgumentParser, timeout: float) -> None:
    parser.add_argument("--timeout", type=float, default=timeout, help="deadline in seconds")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
