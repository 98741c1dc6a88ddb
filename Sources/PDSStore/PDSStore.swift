// PDSStore: everything the appliance keeps on disk.
//
// What it is: the one SQLite database (`pds.sqlite`, WAL, through GRDB on the system libsqlite3)
// holding the account, sessions, app passwords, repository blocks, the record index, blob
// metadata, the firehose event log and preferences; and the filesystem blob store.
//
// What it is not: protocol logic (the AT* modules), HTTP (PDSServer), or key storage (keys are
// age-encrypted files handled by the executable's key loader).
//
// Durability rules (docs/ARCHITECTURE.md, "Durability"): `synchronous=FULL` so an acknowledged
// write survives power loss; `busy_timeout` on every connection because Litestream takes short
// write locks; never an explicit FULL/RESTART/TRUNCATE checkpoint or an in-place VACUUM, which
// would break Litestream's page tracking; one repository commit = one transaction.
