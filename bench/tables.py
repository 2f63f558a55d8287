"""Markdown tables, the one format every benchmark prints (pasted as is into the README)."""

from __future__ import annotations


def print_header(headers: list[str]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|", flush=True)


def print_row(row: list[str]) -> None:
    print("| " + " | ".join(row) + " |", flush=True)
