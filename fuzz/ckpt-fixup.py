#!/usr/bin/env python3
"""Write the form of a checkpoint input that fuzz-ckpt's second pass loads:
the header's payload length set to (file size - 36) and the CRC-32 of the
payload recomputed. Use it on a fuzz-ckpt finding before committing it to
tests/reliability/regress/, so the regression test reaches the same code.

    fuzz/ckpt-fixup.py crash-XXXX tests/reliability/regress/ckpt-<what>
"""
import struct
import sys
import zlib

MAGIC = b"\x89VAE\r\n\x1a\n"


def fixup(data: bytes) -> bytes:
    if len(data) < 36 or data[:8] != MAGIC:
        return data  # fuzz-ckpt loads such inputs only as they are
    d = bytearray(data)
    d[24:32] = struct.pack("<Q", len(d) - 36)
    d[-4:] = struct.pack("<I", zlib.crc32(bytes(d[32:-4])))
    return bytes(d)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    with open(sys.argv[2], "wb") as f:
        f.write(fixup(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
