"""BPv7 (RFC 9171) bundles built and parsed here with cbor2 and CRC code of
our own, straight from the RFC's parameters, independently of the C codec:
what the interop tests check the C side against.
"""
import io

import cbor2


# --- reference CRCs, bit by bit, straight from the parameters ---------------

def crc16_x25(data):
    """CRC-16/X.25: poly 0x1021 reflected, init 0xffff, xorout 0xffff."""
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
    return c ^ 0xFFFF


def crc32c(data):
    """CRC-32C (Castagnoli): poly 0x1edc6f41 reflected, init/xorout all ones."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


CRC_LEN = {0: 0, 1: 2, 2: 4}
CRC_FN = {1: crc16_x25, 2: crc32c}


def block_bytes(fields, crc_type):
    """Encode a block (a list) with its CRC computed over the zeroed field."""
    if crc_type == 0:
        return cbor2.dumps(fields)
    n = CRC_LEN[crc_type]
    enc = cbor2.dumps(fields + [bytes(n)])
    return enc[:-n] + CRC_FN[crc_type](enc).to_bytes(n, "big")


def crc_ok(raw, crc_type):
    """Check the CRC at the end of one encoded block (definite array)."""
    if crc_type == 0:
        return True
    n = CRC_LEN[crc_type]
    assert raw[-n - 1] == 0x40 + n
    return CRC_FN[crc_type](raw[:-n] + bytes(n)) == int.from_bytes(raw[-n:], "big")


def eid_cbor(text):
    if text == "dtn:none":
        return [1, 0]
    if text.startswith("dtn:"):
        return [1, text[4:]]
    node, service = text[4:].split(".")
    return [2, [int(node), int(service)]]


def eid_text(value):
    scheme, ssp = value
    if scheme == 1:
        return "dtn:none" if ssp == 0 else "dtn:" + ssp
    assert scheme == 2
    return "ipn:%d.%d" % tuple(ssp)


def make_bundle(dst, src, report_to="dtn:none", flags=0, crc=1, ctime=1000, seq=0,
                lifetime=3600000, fragment=None, blocks=(), payload=b"", payload_crc=0,
                payload_flags=0, definite=False):
    """A bundle built independently of the C code.  blocks: (type, number,
    flags, crc_type, data) for the extension blocks, in order."""
    prim = [7, flags, crc, eid_cbor(dst), eid_cbor(src), eid_cbor(report_to),
            [ctime, seq], lifetime]
    if fragment is not None:
        prim += list(fragment)
    parts = [block_bytes(prim, crc)]
    for t, num, fl, c, data in blocks:
        parts.append(block_bytes([t, num, fl, c, data], c))
    parts.append(block_bytes([1, 1, payload_flags, payload_crc, payload], payload_crc))
    if definite:
        assert len(parts) < 24
        return bytes([0x80 + len(parts)]) + b"".join(parts)
    return b"\x9f" + b"".join(parts) + b"\xff"


def parse_bundle(raw):
    """Decode a bundle here: the blocks as values and as raw bytes, every CRC
    checked."""
    assert raw[0] == 0x9F and raw[-1] == 0xFF, "our bundles use an indefinite outer array"
    fp = io.BytesIO(raw)
    fp.seek(1)
    dec = cbor2.CBORDecoder(fp)
    blocks = []
    while fp.tell() < len(raw) - 1:
        start = fp.tell()
        value = dec.decode()
        blocks.append((value, raw[start:fp.tell()]))
    assert fp.tell() == len(raw) - 1
    prim, prim_raw = blocks[0]
    assert prim[0] == 7
    assert crc_ok(prim_raw, prim[2]), "primary block CRC"
    for value, braw in blocks[1:]:
        assert crc_ok(braw, value[3]), "CRC of block %d" % value[1]
    assert cbor2.loads(raw) == [b for b, _ in blocks]
    return blocks
