"""The cyclic garbage collector and the large read models.

Loading the working state or replaying the log builds hundreds of thousands of long-lived
objects (facts, periods, lines: plain values, no reference cycles). While they are built, the
collector's full passes walk all of them again every time enough new objects have survived, and
free nothing: a third of the working state's load and a tenth of a replay on the reference
dataset (docs/performance.md, session 7). Their memory is freed by reference counting as ever;
only the search for cycles is paused, and it runs again when the block ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block (as it was after it: a block inside another, or in
    another thread meanwhile, leaves it to the outermost to enable it again)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def keep_out_of_collections(collect_first: bool = False) -> None:
    """Every object alive now is left out of later collections (a long-running writer's working
    state, loaded once; a kept read model as of an instant: the full passes then walk only what
    came after). They are still freed by reference counting when dropped; only a cycle among
    them would never be (the models hold none). With `collect_first`, the cyclic garbage of the
    moment, of any thread, is collected first, so that it is not kept for ever: for a freeze
    in a serving process, where other requests run and a replay has just paused the collector."""
    if collect_first:
        gc.collect()
    gc.freeze()
