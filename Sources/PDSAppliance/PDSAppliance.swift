// PDSAppliance: the box around the server, for the `pds` command line.
//
// What it is: `pds init` (keys, config, account), `pds doctor`, the age-encrypted key files and
// how they are unlocked, the dev server's first-start bootstrap, one-time account tokens issued
// on the box, and starting the server as its configuration says (TLS, blob mirror).
//
// What it is not: HTTP handling (PDSServer), argument parsing (the `pds` executable), storage
// (PDSStore) or backups (PDSBackup).
