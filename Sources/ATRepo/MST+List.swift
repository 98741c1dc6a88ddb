import ATData

extension MST {
    /// Visits entries in key order (or reverse) restricted to keys strictly between `after` and
    /// `before` and starting with `prefix`; `body` returns false to stop early.
    ///
    /// Subtrees wholly outside the range are never loaded, so listing one collection, or paging
    /// from a cursor, reads only the nodes on the range's boundaries plus those inside it.
    public func forEach(prefix: String? = nil, after: String? = nil, before: String? = nil, reverse: Bool = false,
                        _ body: (_ path: String, _ cid: CID) throws -> Bool) throws {
        guard let root else { return }
        var lower = after.map { Array($0.utf8) }
        var lowerInclusive = false
        var upper = before.map { Array($0.utf8) }
        if let prefix {
            // Keys with the prefix are ≥ the prefix itself and < its successor.
            let start = Array(prefix.utf8)
            if lower.map({ compareKeys($0, start) < 0 }) ?? true { lower = start; lowerInclusive = true }
            if let end = MST.prefixEnd(start), upper.map({ compareKeys(end, $0) < 0 }) ?? true { upper = end }
        }
        let range = KeyRange(lower: lower, lowerInclusive: lowerInclusive, upper: upper)
        _ = try walk(root, range: range, bounds: (nil, nil), reverse: reverse, loader: loader, body)
    }

    /// Entries in the given range as `(path, cid)` pairs, at most `limit`.
    public func list(prefix: String? = nil, after: String? = nil, before: String? = nil, reverse: Bool = false,
                     limit: Int = .max) throws -> [(path: String, cid: CID)] {
        var result: [(path: String, cid: CID)] = []
        guard limit > 0 else { return result }
        try forEach(prefix: prefix, after: after, before: before, reverse: reverse) { path, cid in
            result.append((path, cid))
            return result.count < limit
        }
        return result
    }

    /// Every entry in key order.
    public func allEntries() throws -> [(path: String, cid: CID)] { try list() }

    /// Number of entries (walks the whole tree).
    public func count() throws -> Int {
        var count = 0
        try forEach { _, _ in count += 1; return true }
        return count
    }

    /// The smallest key greater than every key starting with `prefix` (nil if none exists).
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8]? {
        var end = prefix
        while let last = end.last {
            if last < 0xff { end[end.count - 1] = last + 1; return end }
            end.removeLast()
        }
        return nil
    }

    /// Keys between `lower` (exclusive unless `lowerInclusive`) and `upper` (exclusive).
    struct KeyRange {
        let lower: [UInt8]?
        let lowerInclusive: Bool
        let upper: [UInt8]?

        @inline(__always)
        func contains(_ key: [UInt8]) -> Bool {
            if let lower {
                let order = compareKeys(key, lower)
                if order < 0 || (order == 0 && !lowerInclusive) { return false }
            }
            if let upper, compareKeys(key, upper) >= 0 { return false }
            return true
        }
    }

    /// In-order walk with range pruning. Returns false when `body` asked to stop.
    ///
    /// `bounds` are the keys either side of this subtree in its ancestors. A node's own keys are
    /// checked in order when it is decoded, but only a walk knows where a subtree hangs, so a
    /// verifying tree checks here that every node's keys lie strictly inside its bounds: a tree
    /// whose blocks all hash and decode yet whose subtrees hold keys from elsewhere (found by the
    /// MST fuzz target) is not a valid MST, and lookups in it would miss keys a listing shows.
    private func walk(_ node: MSTNode, range: KeyRange, bounds: (lower: [UInt8]?, upper: [UInt8]?), reverse: Bool,
                      loader: MSTLoader, _ body: (String, CID) throws -> Bool) throws -> Bool {
        let count = node.entries.count
        if loader.verify, let first = node.entries.first, let last = node.entries.last {
            if let lower = bounds.lower, compareKeys(first.key, lower) <= 0 {
                throw RepoError.invalidNode("subtree key sorts before the key to its left in the parent")
            }
            if let upper = bounds.upper, compareKeys(last.key, upper) >= 0 {
                throw RepoError.invalidNode("subtree key sorts after the key to its right in the parent")
            }
        }
        // Slot i holds keys between entries[i-1] and entries[i]. It may contain keys in range
        // unless entries[i].key ≤ lower or entries[i-1].key ≥ upper.
        func slotMayIntersect(_ index: Int) -> Bool {
            // (Slot keys are strictly below entries[i], so this holds for either bound kind.)
            if let lower = range.lower, index < count, compareKeys(node.entries[index].key, lower) <= 0 { return false }
            if let upper = range.upper, index > 0, compareKeys(node.entries[index - 1].key, upper) >= 0 { return false }
            return true
        }
        func visitSlot(_ index: Int) throws -> Bool {
            guard let slot = node.slot(index), slotMayIntersect(index) else { return true }
            // Only a verifying walk carries bounds (the server's own trees skip the retains).
            let slotBounds: (lower: [UInt8]?, upper: [UInt8]?) = loader.verify
                ? (index > 0 ? node.entries[index - 1].key : bounds.lower, index < count ? node.entries[index].key : bounds.upper)
                : (nil, nil)
            return try walk(try loader.node(slot, layer: node.layer - 1), range: range, bounds: slotBounds,
                            reverse: reverse, loader: loader, body)
        }
        func visitEntry(_ index: Int) throws -> Bool {
            let entry = node.entries[index]
            guard range.contains(entry.key) else { return true }
            return try body(String(decoding: entry.key, as: UTF8.self), entry.value)
        }
        if reverse {
            guard try visitSlot(count) else { return false }
            for index in stride(from: count - 1, through: 0, by: -1) {
                guard try visitEntry(index), try visitSlot(index) else { return false }
            }
        } else {
            guard try visitSlot(0) else { return false }
            for index in 0..<count {
                guard try visitEntry(index), try visitSlot(index + 1) else { return false }
            }
        }
        return true
    }
}
