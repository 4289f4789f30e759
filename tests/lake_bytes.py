"""Search every stored byte for a pseudonym, in each encoding a file could hold it in."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path


def encodings(key: int) -> dict[str, bytes]:
    """Decimal text, hex text (either case), and the 8 bytes big- and little-endian."""
    unsigned = key & (2**64 - 1)
    return {
        "decimal": str(key).encode(),
        "hex": format(unsigned, "x").encode(),
        "HEX": format(unsigned, "X").encode(),
        "big-endian": struct.pack(">q", key),
        "little-endian": struct.pack("<q", key),
    }


def holding(files: Iterable[tuple[str, bytes]], key: int) -> list[tuple[str, str]]:
    """(name, encoding) for each file whose bytes hold the key."""
    needles = encodings(key)
    return [(name, how) for name, data in files for how, n in needles.items() if n in data]


def local_files(root: Path) -> Iterable[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(root)), path.read_bytes()
