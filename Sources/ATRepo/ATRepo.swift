// ATRepo: AT Protocol repositories (format version 3).
//
// What it is: the Merkle Search Tree, signed commits, CAR v1 reading and writing, and diffs with
// the sync 1.1 proofs that let a consumer invert a commit's operations.
//
// What it is not: storage (blocks come from and go to an injected block source), networking, or
// the firehose wire format.
