// ATSyntax: the AT Protocol's identifier grammar.
//
// What it is: validated value types for DID, handle, NSID, AT-URI, TID (with a monotonic clock),
// record key, datetime, language tag, at-identifier and CID strings, each parsed strictly per the
// atproto specs (Lexicon string formats) and normalised where the spec says so.
//
// What it is not: resolution of identifiers (ATIdentity does that), CID decoding (ATData), or
// anything that does I/O.
