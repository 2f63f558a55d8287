"""Running blocking engines (model inference, vendor SDK streams) without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


async def iterate_in_thread(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Pull each item of a blocking iterator in a worker thread, so other calls keep being served."""
    while True:
        item = await asyncio.to_thread(next, iterator, _DONE)
        if item is _DONE:
            return
        yield item  # type: ignore[misc]
