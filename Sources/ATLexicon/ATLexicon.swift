// ATLexicon: Lexicon schemas (schema language v1) and validation of record data against them.
//
// What it is: a schema model (`LexiconType`, `LexiconDocument`), a strict parser from Lexicon JSON
// documents, a `LexiconCatalog` that resolves refs across documents, record validation with the
// rules of the Lexicon spec (https://atproto.com/specs/lexicon), and the built-in catalog of the record types the
// Bluesky app writes (`LexiconCatalog.builtIn`), which the PDS checks on createRecord/putRecord/
// applyWrites.
//
// What it is not: XRPC parameter or body validation, Lexicon resolution over the network (DNS
// `_lexicon` + `com.atproto.lexicon.schema` records), code generation, or I/O. Descriptions,
// `knownValues` and `default`s are not kept: they never make data invalid (defaults are not applied,
// records are stored as written).
