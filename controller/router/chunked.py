"""A chunked request body checked against the limits as it arrives, not once it is complete.

httptools reports where chunks start and end (on_chunk_header, on_chunk_complete) but not their
sizes, so the size line of a chunk is read back from the bytes just fed: a chunk declared over
the body limit is refused at its size line, and the trailer section that follows the last chunk
is counted like a head.
"""

from __future__ import annotations

from typing import Protocol

_LF = 10


class ChunkedBodyOwner(Protocol):
    """The connection reading the body: told what the size lines say."""

    def trailers_began(self, received: int) -> None: ...

    def body_too_large(self) -> None: ...


class ChunkFraming:
    """Where one chunked body's reading is: the chunk open, and a size line split over reads."""

    def __init__(self) -> None:
        self.mark = 0  # body bytes before the current chunk
        self.fresh = False  # a chunk size line was parsed in the current read
        self.open = False  # inside a chunk's data (or the trailers, after the last)
        self.size_pending = True  # between chunks: the next bytes are a size line
        self.size_prefix = b""  # the start of a size line that began in an earlier read

    def chunk_started(self, body_size: int) -> None:
        self.mark = body_size
        self.fresh = True
        self.open = True
        self.size_pending = False

    def chunk_ended(self) -> None:
        self.open = False
        self.size_pending = True
        self.size_prefix = b""

    def pending(self) -> bool:
        """Whether the read just fed must be looked at (a size line in it, or one to come)."""
        return self.fresh or self.size_pending

    def after_read(self, data: bytes, body_size: int, max_body_bytes: int,
                   owner: ChunkedBodyOwner) -> None:
        if self.fresh:
            self.fresh = False
            if self.open:
                self._check_chunk(data, body_size, max_body_bytes, owner)
        if self.size_pending:
            # A size line follows the last LF (chunk data ends with CRLF, a size line has no
            # LF): keep what arrived of it, 64 bytes are plenty for its hex digits.
            lf = data.rfind(b"\n")
            start = data[lf + 1:] if lf >= 0 else self.size_prefix + data
            self.size_prefix = start[:64]

    def _check_chunk(self, data: bytes, body_size: int, max_body_bytes: int,
                     owner: ChunkedBodyOwner) -> None:
        """A chunk size line was parsed in `data` and its chunk is still open: its size.

        After that line the read holds `delivered` bytes of the chunk's data (on_body), then
        possibly the CR of the CRLF that ends a complete chunk; after the line of the last
        chunk (size 0) come trailer bytes instead.  So the line ends `delivered` bytes before
        the end, and starts after the LF before it, or began in the previous read."""
        delivered = body_size - self.mark
        end = len(data) - delivered
        if end <= 0:
            return
        if data[end - 1] != _LF:
            if not delivered:
                owner.trailers_began(0)  # the last chunk, then the start of a trailer line
            return  # all of the chunk arrived, and the CR after it: nothing is pending
        lf = data.rfind(b"\n", 0, end - 1)
        line = data[lf + 1:end] if lf >= 0 else self.size_prefix + data[:end]
        digits = len(line) - len(line.lstrip(b"0123456789abcdefABCDEF"))
        if not digits or line[digits:digits + 1] not in (b";", b"\r"):
            if not delivered:
                owner.trailers_began(0)  # a complete trailer line, not a size line
            return
        size = 1 << 64 if digits > 16 else int(line[:digits], 16)
        if not size:
            owner.trailers_began(len(data) - end)
        elif self.mark + size > max_body_bytes:
            owner.body_too_large()
