import ATData
import Synchronization

/// A bounded set of decoded MST nodes, by CID, shared by the loads of one long-lived tree (the
/// server's repository writer).
///
/// The writer keeps only its tree's root in memory (`MST.releaseLoadedNodes`) and reads the rest
/// from its block source on demand; this cache keeps the recently used nodes (the path that
/// TID-ordered writes keep touching) decoded, so a write at a million records costs about what it
/// costs at a thousand while memory stays bounded by `capacity`, not by the repository's size.
///
/// Two generations approximate least-recently-used order without per-hit bookkeeping: inserts
/// and hits go to the current one; when it holds half the capacity it becomes the previous one
/// and the old previous generation is dropped. Cached nodes hold stubs only (never in-memory
/// children, which would keep whole subtrees alive), and they are shared: an edit copies a node
/// it does not own alone, so the cache never sees a node change.
public final class MSTNodeCache: Sendable {
    struct Generations {
        var current: [CID: MSTNode] = [:]
        var previous: [CID: MSTNode] = [:]
    }

    /// Most nodes held.
    public let capacity: Int
    let generations: Mutex<Generations>

    /// A cache holding at most `capacity` nodes (at least 2).
    public init(capacity: Int = 4096) {
        self.capacity = max(2, capacity)
        generations = Mutex(Generations())
    }

    /// Nodes held now.
    public var count: Int { generations.withLock { $0.current.count + $0.previous.count } }

    func node(_ cid: CID) -> MSTNode? {
        generations.withLock { state in
            if let node = state.current[cid] { return node }
            guard let node = state.previous.removeValue(forKey: cid) else { return nil }
            Self.insert(node, cid: cid, into: &state, half: capacity / 2)
            return node
        }
    }

    /// Adds a hashed node whose links are all stubs.
    func insert(_ node: MSTNode) {
        guard let cid = node.cid else { return }
        generations.withLock { Self.insert(node, cid: cid, into: &$0, half: capacity / 2) }
    }

    private static func insert(_ node: MSTNode, cid: CID, into state: inout Generations, half: Int) {
        if state.current.count >= half {
            state.previous = state.current
            state.current = [:]
            state.current.reserveCapacity(half)
        }
        state.current[cid] = node
    }
}

extension MST {
    /// Replaces every in-memory subtree by a stub, handing the nodes to `cache` (their stubbed
    /// copies), so the tree value holds its root only. The tree must be finalized (every node
    /// hashed); without a cache nothing changes. The cost is proportional to the nodes held in
    /// memory, i.e. to what the writes since the last call touched.
    public mutating func releaseLoadedNodes() {
        guard let cache, let current = root, current.cid != nil else { return }
        root = MST.stubbed(current, cache: cache)
    }

    /// A copy of `node` (same CID) whose in-memory children are replaced by stubs, their own
    /// stubbed copies going to `cache`.
    static func stubbed(_ node: MSTNode, cache: MSTNodeCache) -> MSTNode {
        func release(_ link: MSTLink?) -> MSTLink? {
            guard case .node(let child)? = link else { return link }
            guard let cid = child.cid else { preconditionFailure("MST node released before it was hashed") }
            cache.insert(stubbed(child, cache: cache))
            return .stub(cid)
        }
        var entries = node.entries
        for index in entries.indices { entries[index].right = release(entries[index].right) }
        return MSTNode(layer: node.layer, left: release(node.left), entries: entries, cid: node.cid)
    }
}
