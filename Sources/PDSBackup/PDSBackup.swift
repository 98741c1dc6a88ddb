// PDSBackup: getting the data off the box and back onto it (docs/BACKUP.md).
//
// What it is: an S3 client with AWS Signature Version 4, the blob mirror service that drains the
// durable `blob_mirror_queue` into a bucket, its configuration (`PDS_BLOB_MIRROR_*`), and
// `pds restore` (Litestream for `pds.sqlite`, the bucket for blobs).
//
// What it is not: HTTP serving (no Hummingbird; the mirror is a plain swift-service-lifecycle
// `Service` the appliance adds to the server's services), SQL (the inventory a restore checks
// comes from a PDSStore method), or database replication (Litestream does that).
