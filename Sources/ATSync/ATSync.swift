// ATSync: the wire format of `com.atproto.sync.subscribeRepos` (https://atproto.com/specs/event-stream,
// https://atproto.com/specs/sync).
//
// What it is: typed repository events (`RepoEvent`: #commit, #sync, #identity, #account) and the
// stream's control frames (`StreamFrame`: #info and error), each encoded to the exact frame bytes
// (a DAG-CBOR header followed by a DAG-CBOR body) and decoded back.
//
// What it is not: the event log (PDSStore appends frames inside each commit's transaction), the
// fan-out (PDSCore's FirehoseHub) or the WebSocket transport (PDSServer).
