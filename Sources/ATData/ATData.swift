// ATData: the AT Protocol data model and its canonical binary encoding.
//
// What it is: the atproto value model, a strict DAG-CBOR (DRISL) encoder and decoder, CIDs, and the
// atproto JSON convention (`$link`, `$bytes`, blobs) with conversion to and from CBOR.
//
// What it is not: repositories (ATRepo), Lexicon schema validation (ATLexicon), or I/O.
