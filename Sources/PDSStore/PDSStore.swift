// PDSStore: everything the appliance keeps on disk.
//
// What it is: the one SQLite database (`pds.sqlite`, WAL, through GRDB on the system libsqlite3)
// holding the account, sessions, app passwords, repository blocks, the record index, blob
// metadata, the firehose event log, preferences and the outgoing e-mail queue (sealed bytes
// only); and the filesystem blob store.
//
// It is a closed layer: the database connections are internal, every transaction is a typed
// method of a store (`AccountStore`, `RepositoryStore`, `EventLogStore`, `BlobIndex`, …), and no
// other module writes SQL. `PDSDatabase.inMemory()` gives tests the same stores without files.
//
// What it is not: protocol logic (the AT* modules), domain rules (PDSCore), HTTP (PDSServer), or
// key storage (keys are age-encrypted files handled by PDSAppliance).
//
// Durability rules (docs/ARCHITECTURE.md, "Durability"): `synchronous=FULL` so an acknowledged
// write survives power loss; `busy_timeout` on every connection because Litestream takes short
// write locks; never an explicit FULL/RESTART/TRUNCATE checkpoint or an in-place VACUUM, which
// would break Litestream's page tracking; one repository commit = one transaction.
