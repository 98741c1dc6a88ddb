// PDSCore: the server's domain layer, below HTTP.
//
// What it is: the repository writer (the only path by which the repository changes), the
// firehose hub (fan-out of the event log to subscribers), the server's configuration and its
// in-memory keys. Domain code throws domain errors (e.g. `RepoWriteError`); nothing here knows
// about HTTP status codes.
//
// What it is not: HTTP or WebSocket serving (PDSServer maps domain errors to XRPC errors once,
// through `XRPCErrorConvertible`, and owns the `subscribeRepos` transport), storage (PDSStore) or
// the event wire format (ATSync).
