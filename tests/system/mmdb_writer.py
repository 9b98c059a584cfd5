"""
A minimal MaxMind DB (.mmdb) writer for tests: an IPv6 search tree (IPv4
networks under ::/96, where libmaxminddb looks IPv4 addresses up) with
32-bit records, a data section of maps, strings, arrays and unsigned ints,
and the metadata block, per the MaxMind DB File Format Specification 2.0
(https://maxmind.github.io/MaxMind-DB/). Enough to give perfmark a
GeoIP2-City-shaped file with subdivisions; not a general writer (no
overlapping networks, no pointer compression).
"""
import ipaddress
import struct

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


def _ctrl(type_, size):
    """Control byte(s) for a value of `type_` (1-15) and payload size."""
    ext = b""
    if type_ > 7:
        ext = bytes([type_ - 7])
        type_ = 0
    if size < 29:
        return bytes([(type_ << 5) | size]) + ext
    if size < 29 + 256:
        return bytes([(type_ << 5) | 29]) + ext + bytes([size - 29])
    if size < 285 + 65536:
        return bytes([(type_ << 5) | 30]) + ext + struct.pack(">H", size - 285)
    return bytes([(type_ << 5) | 31]) + ext + struct.pack(">I", size - 65821)[1:]


class U:
    """An unsigned int of an explicit MaxMind type: 5 uint16, 6 uint32, 9 uint64
    (the metadata fields must have their specified types)."""
    def __init__(self, type_, value):
        self.type, self.value = type_, value


def encode(v):
    if isinstance(v, U):
        b = v.value.to_bytes((v.value.bit_length() + 7) // 8, "big") if v.value else b""
        return _ctrl(v.type, len(b)) + b
    if isinstance(v, str):
        b = v.encode()
        return _ctrl(2, len(b)) + b
    if isinstance(v, dict):
        out = _ctrl(7, len(v))
        for k, x in v.items():
            out += encode(k) + encode(x)
        return out
    if isinstance(v, list):
        out = _ctrl(11, len(v))
        for x in v:
            out += encode(x)
        return out
    if isinstance(v, int) and v >= 0:
        b = v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""
        t = 5 if v < 1 << 16 else 6 if v < 1 << 32 else 9
        return _ctrl(t, len(b)) + b
    raise TypeError(type(v))


class _Node:
    def __init__(self):
        self.kids = [None, None]   # None, _Node, or ("data", offset)


def write(path, networks, database_type="GeoIP2-City", build_epoch=1700000000):
    """networks: [("203.0.113.0/24", {...record...}), ...] (v4 or v6 CIDRs)."""
    data, offsets = b"", {}
    root = _Node()
    for cidr, record in networks:
        net = ipaddress.ip_network(cidr)
        bits, plen = int(net.network_address), net.prefixlen   # as a 128-bit number:
        if net.version == 4:
            plen += 96                     # ::a.b.c.d is the same integer
        key = repr(record)
        if key not in offsets:
            offsets[key] = len(data)
            data += encode(record)
        node = root
        for i in range(plen):
            bit = (bits >> (127 - i)) & 1
            if i == plen - 1:
                node.kids[bit] = ("data", offsets[key])
            else:
                if not isinstance(node.kids[bit], _Node):
                    node.kids[bit] = _Node()
                node = node.kids[bit]
    order, queue = [], [root]
    while queue:                           # breadth first: root is node 0
        n = queue.pop(0)
        order.append(n)
        queue.extend(k for k in n.kids if isinstance(k, _Node))
    ids = {id(n): i for i, n in enumerate(order)}
    count = len(order)
    tree = b""
    for n in order:
        for k in n.kids:
            if k is None:
                rec = count
            elif isinstance(k, _Node):
                rec = ids[id(k)]
            else:
                rec = count + 16 + k[1]
            tree += struct.pack(">I", rec)
    meta = {"node_count": U(6, count), "record_size": U(5, 32), "ip_version": U(5, 6),
            "database_type": database_type, "languages": ["en"], "binary_format_major_version": U(5, 2),
            "binary_format_minor_version": U(5, 0), "build_epoch": U(9, build_epoch),
            "description": {"en": "perfmark test database"}}
    with open(path, "wb") as f:
        f.write(tree + b"\0" * 16 + data + METADATA_MARKER + encode(meta))
