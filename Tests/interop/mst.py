"""A small, independent Merkle Search Tree for the interop tests (atproto repository format v3).

Written from the spec (../shared/spec/ATPROTO.md §4.3), not from the server's code:

  * key height = leading zero bits of SHA-256(key) // 2 (fanout 4);
  * node = {"l": link|null, "e": [{"p": shared-prefix length, "k": key suffix, "v": value, "t": link|null}]};
  * a node at layer L holds exactly the keys of height L, its subtrees are at layer L-1; empty
    intermediate nodes are kept, empty nodes are pruned at the top and at the bottom;
  * blocks are DAG-CBOR (libipld), CIDs are CIDv1 dag-cbor sha2-256.

Two implementations that share only the node encoding, so they check each other:

  * `build(items)`: the whole tree from a sorted key -> CID map (a pure function of the map);
  * `Tree`: a lazily loaded tree over a block map with `put` / `delete`, for applying a commit's
    operations to the previous root (and for inverting them from a commit's CAR slice alone).
    Reading a node that the block map lacks raises `MissingBlock`.

Keys are `bytes` (the UTF-8 path), values and links are binary CIDs (`bytes`, as libipld gives them).
"""

import bisect
import hashlib

import libipld

DAG_CBOR = 0x71
SHA2_256 = 0x12
CID_PREFIX = bytes([1, DAG_CBOR, SHA2_256, 32])
EMPTY_ROOT = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"


class MstError(AssertionError):
    """A structural rule of the MST does not hold."""


class MissingBlock(MstError):
    def __init__(self, cid):
        super().__init__(f"block {libipld.encode_cid(cid)} is not available")
        self.cid = cid


def cid_of(block):
    """The binary CIDv1 (dag-cbor, sha2-256) of a block."""
    return CID_PREFIX + hashlib.sha256(block).digest()


def as_key(key):
    return key.encode() if isinstance(key, str) else bytes(key)


_height_cache = {}


def key_height(key):
    key = as_key(key)
    height = _height_cache.get(key)
    if height is None:
        zeros = 0
        for byte in hashlib.sha256(key).digest():
            if byte == 0:
                zeros += 8
                continue
            zeros += 8 - byte.bit_length()
            break
        height = zeros // 2
        if len(_height_cache) < 1_000_000:
            _height_cache[key] = height
    return height


def _shared_prefix(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def encode_node(left, entries):
    """DAG-CBOR bytes of a node; `entries` = [(key, value CID, right link or None)] in key order."""
    out = []
    previous = b""
    for key, value, right in entries:
        p = _shared_prefix(previous, key)
        # libipld encodes a byte string that parses as a CID as a link; repository paths are printable
        # ASCII, so a key suffix never starts like a CID (0x01 or 0x12).
        if key[p:p + 1] in (b"\x01", b"\x12"):
            raise ValueError(f"key {key!r} cannot be encoded unambiguously with libipld")
        out.append({"k": key[p:], "p": p, "t": right, "v": value})
        previous = key
    return libipld.encode_dag_cbor({"e": out, "l": left})


def decode_node(block):
    """(left link, [(key, value, right link)]) of a node block, checking its shape and prefix encoding."""
    node = libipld.decode_dag_cbor(block)
    if not isinstance(node, dict) or set(node) != {"e", "l"}:
        raise MstError(f"MST node must have exactly the fields l and e: {node!r}")
    if not isinstance(node["e"], list):
        raise MstError("MST node `e` is not a list")
    _check_link(node["l"], "l")
    entries = []
    previous = b""
    for index, entry in enumerate(node["e"]):
        if not isinstance(entry, dict) or set(entry) != {"p", "k", "v", "t"}:
            raise MstError(f"MST entry must have exactly the fields p, k, v, t: {entry!r}")
        p, suffix = entry["p"], entry["k"]
        if not isinstance(p, int) or not isinstance(suffix, bytes):
            raise MstError(f"MST entry has a bad p or k: {entry!r}")
        if index == 0 and p != 0:
            raise MstError("the first entry of an MST node must have p = 0")
        if p > len(previous):
            raise MstError(f"prefix length {p} exceeds the previous key {previous!r}")
        key = previous[:p] + suffix
        if index > 0 and _shared_prefix(previous, key) != p:
            raise MstError(f"prefix compression of {key!r} after {previous!r} is not maximal (p={p})")
        if not isinstance(entry["v"], bytes):
            raise MstError(f"MST entry value is not a CID link: {entry!r}")
        _check_link(entry["t"], "t")
        entries.append((key, entry["v"], entry["t"]))
        previous = key
    return node["l"], entries


def _check_link(link, name):
    if link is not None and not (isinstance(link, bytes) and len(link) == 36 and link[:4] == CID_PREFIX):
        raise MstError(f"MST link `{name}` is not a CIDv1 dag-cbor sha2-256 link: {link!r}")


# --- full rebuild -----------------------------------------------------------------------------------

def build(items):
    """(root CID, {CID: block}) of the tree holding `items`: a mapping or (key, value CID) pairs."""
    if isinstance(items, dict):
        items = items.items()
    pairs = sorted((as_key(k), v) for k, v in items)
    for (a, _), (b, _) in zip(pairs, pairs[1:]):
        if a == b:
            raise ValueError(f"duplicate key {a!r}")
    blocks = {}
    if not pairs:
        block = encode_node(None, [])
        root = cid_of(block)
        blocks[root] = block
        return root, blocks
    heights = [key_height(k) for k, _ in pairs]
    root = _build_layer(pairs, heights, 0, len(pairs), max(heights), blocks)
    return root, blocks


def _build_layer(pairs, heights, lo, hi, layer, blocks):
    """The CID of the node at `layer` holding pairs[lo:hi] (all of height <= layer), or None if empty."""
    if lo == hi:
        return None
    entries = []
    left = None
    run_start = lo
    for i in range(lo, hi):
        if heights[i] == layer:
            subtree = _build_layer(pairs, heights, run_start, i, layer - 1, blocks)
            if entries:
                key, value, _ = entries[-1]
                entries[-1] = (key, value, subtree)
            else:
                left = subtree
            entries.append((pairs[i][0], pairs[i][1], None))
            run_start = i + 1
    subtree = _build_layer(pairs, heights, run_start, hi, layer - 1, blocks) if run_start < hi else None
    if entries:
        key, value, _ = entries[-1]
        entries[-1] = (key, value, subtree)
    else:
        left = subtree
    block = encode_node(left, entries)
    cid = cid_of(block)
    blocks[cid] = block
    return cid


# --- incremental tree -------------------------------------------------------------------------------

class _Node:
    __slots__ = ("layer", "left", "entries")

    def __init__(self, layer, left, entries):
        self.layer = layer
        self.left = left          # None | CID bytes (not loaded) | _Node
        self.entries = entries    # [[key, value, right]], right like left

    def keys(self):
        return [entry[0] for entry in self.entries]


class Tree:
    """A tree rooted at `root` (binary CID) whose nodes are read from `blocks` ({CID: bytes}) on demand.

    `put`, `delete` change it; `root_cid()` encodes the changed nodes (collected in `new_blocks`) and
    returns the new root. `read` holds the CIDs of every stored node that was loaded.
    """

    def __init__(self, root, blocks, verify=True):
        self.blocks = blocks
        self.verify = verify
        self.read = set()
        self.new_blocks = {}
        node = self._load(root, None)
        if node.entries:
            self.root, self.layer = node, node.layer
        elif node.left is None:
            self.root, self.layer = None, 0       # the empty tree
        else:
            raise MstError("the root node is empty but points down (must be pruned at the top)")

    @classmethod
    def empty(cls, blocks=None):
        block = encode_node(None, [])
        store = {} if blocks is None else blocks
        store.setdefault(cid_of(block), block)
        return cls(cid_of(block), store)

    # loading

    def _load(self, slot, layer):
        if slot is None or isinstance(slot, _Node):
            return slot
        block = self.blocks.get(slot)
        if block is None:
            raise MissingBlock(slot)
        if self.verify and cid_of(block) != slot:
            raise MstError(f"block {libipld.encode_cid(slot)} does not hash to its CID")
        self.read.add(slot)
        left, entries = decode_node(block)
        if layer is None:        # the root: its layer is the height of its keys
            layer = key_height(entries[0][0]) if entries else 0
        for key, _, _ in entries:
            if key_height(key) != layer:
                raise MstError(f"key {key!r} of height {key_height(key)} is in a node at layer {layer}")
        if layer == 0 and (left is not None or any(right is not None for _, _, right in entries)):
            raise MstError("a node at layer 0 has subtrees")
        if layer < 0:
            raise MstError("MST deeper than its key heights allow")
        return _Node(layer, left, [list(entry) for entry in entries])

    @staticmethod
    def _slot_before(node, index):
        return node.left if index == 0 else node.entries[index - 1][2]

    @staticmethod
    def _set_slot_before(node, index, value):
        if index == 0:
            node.left = value
        else:
            node.entries[index - 1][2] = value

    @staticmethod
    def _prune(node):
        return None if node is not None and not node.entries and node.left is None else node

    # reads

    def get(self, key):
        key = as_key(key)
        node = self._load(self.root, self.layer)
        while node is not None:
            keys = node.keys()
            index = bisect.bisect_left(keys, key)
            if index < len(keys) and keys[index] == key:
                return node.entries[index][1]
            child = self._load(self._slot_before(node, index), node.layer - 1)
            self._set_slot_before(node, index, child)
            node = child
        return None

    # writes

    def put(self, key, value):
        """Creates or replaces `key`."""
        key = as_key(key)
        height = key_height(key)
        if self.root is None:
            self.layer = height
        while height > self.layer:   # grow: the old root becomes the left side of new empty nodes
            self.layer += 1
            self.root = _Node(self.layer, self.root, [])
        self.root = self._put(self.root, self.layer, key, value, height)

    def _put(self, slot, layer, key, value, height):
        node = self._load(slot, layer) or _Node(layer, None, [])
        keys = node.keys()
        index = bisect.bisect_left(keys, key)
        if height == layer:
            if index < len(keys) and keys[index] == key:
                node.entries[index][1] = value
                return node
            left, right = self._split(self._slot_before(node, index), layer - 1, key)
            self._set_slot_before(node, index, left)
            node.entries.insert(index, [key, value, right])
            return node
        child = self._put(self._slot_before(node, index), layer - 1, key, value, height)
        self._set_slot_before(node, index, child)
        return node

    def _split(self, slot, layer, key):
        """The subtree at `slot` cut at `key` into (keys < key, keys > key)."""
        node = self._load(slot, layer)
        if node is None:
            return None, None
        keys = node.keys()
        index = bisect.bisect_left(keys, key)
        if index < len(keys) and keys[index] == key:
            raise MstError(f"key {key!r} found below its own layer")
        below_left, below_right = self._split(self._slot_before(node, index), layer - 1, key)
        if index == 0:
            left = _Node(layer, below_left, [])
        else:
            left = _Node(layer, node.left, [list(e) for e in node.entries[:index]])
            left.entries[-1][2] = below_left
        right = _Node(layer, below_right, [list(e) for e in node.entries[index:]])
        return self._prune(left), self._prune(right)

    def delete(self, key):
        """Removes `key`, which must be present."""
        key = as_key(key)
        height = key_height(key)
        if self.root is None or height > self.layer:
            raise KeyError(key)
        self.root = self._delete(self.root, self.layer, key, height)
        while True:   # trim empty nodes at the top
            node = self._load(self.root, self.layer)
            if node is None:
                self.root, self.layer = None, 0
                return
            if node.entries:
                self.root = node
                return
            self.root, self.layer = node.left, self.layer - 1

    def _delete(self, slot, layer, key, height):
        node = self._load(slot, layer)
        if node is None:
            raise KeyError(key)
        keys = node.keys()
        index = bisect.bisect_left(keys, key)
        if height == layer:
            if index == len(keys) or keys[index] != key:
                raise KeyError(key)
            merged = self._merge(self._slot_before(node, index), node.entries[index][2], layer - 1)
            del node.entries[index]
            self._set_slot_before(node, index, merged)
        else:
            child = self._delete(self._slot_before(node, index), layer - 1, key, height)
            self._set_slot_before(node, index, child)
        return self._prune(node)

    def _merge(self, a, b, layer):
        """Joins two adjacent subtrees at `layer` (all keys of `a` < all keys of `b`)."""
        if a is None:
            return b
        if b is None:
            return a
        left, right = self._load(a, layer), self._load(b, layer)
        if left.entries:
            last = left.entries[-1]
            last[2] = self._merge(last[2], right.left, layer - 1)
            left.entries.extend(right.entries)
            return left
        left.left = self._merge(left.left, right.left, layer - 1)
        left.entries = right.entries
        return self._prune(left)

    # encoding

    def root_cid(self):
        if self.root is None:
            block = encode_node(None, [])
            cid = cid_of(block)
            self.new_blocks[cid] = block
            return cid
        return self._encode(self.root)

    def _encode(self, slot):
        if slot is None or isinstance(slot, bytes):
            return slot
        left = self._encode(slot.left)
        entries = [(key, value, self._encode(right)) for key, value, right in slot.entries]
        block = encode_node(left, entries)
        cid = cid_of(block)
        self.new_blocks[cid] = block
        return cid


def walk(root, blocks):
    """Checks the whole stored tree at `root` and returns its [(key, value)] in order.

    Checks: every node is present and hashes to its CID, its fields and prefix compression, every key's
    height equals its node's layer, subtrees are one layer down, keys strictly increase, no empty
    node at the bottom, and the root is not an empty node pointing down.
    """
    out = []
    tree = Tree(root, blocks)   # checks the root node
    if tree.root is None:
        return out

    def visit(slot, layer, low, high):
        node = tree._load(slot, layer)
        if not node.entries and (node.left is None or layer == 0):
            raise MstError(f"empty MST node below the root at layer {layer}")
        keys = node.keys()
        bounds = [low] + keys + [high]
        slots = [node.left] + [right for _, _, right in node.entries]
        for index, child in enumerate(slots):
            if child is not None:
                visit(child, layer - 1, bounds[index], bounds[index + 1])
            if index < len(keys):
                key = keys[index]
                if (low is not None and key <= low) or (high is not None and key >= high):
                    raise MstError(f"MST key {key!r} is outside its subtree's range")
                out.append((key, node.entries[index][1]))

    visit(tree.root, tree.layer, None, None)
    for (a, _), (b, _) in zip(out, out[1:]):
        if a >= b:
            raise MstError(f"MST keys out of order: {b!r} after {a!r}")
    return out
