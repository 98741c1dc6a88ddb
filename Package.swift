// swift-tools-version:6.1
// The personal AT Protocol server appliance. See README.md and docs/ARCHITECTURE.md.
import PackageDescription
#if canImport(Glibc)
import Glibc
#endif

/// How the `pds` executable is linked on Linux: with lld and packed relative relocations
/// (DT_RELR). A Swift executable carries ~2.6 MB of relative relocations, which the dynamic
/// loader reads in full at every start and which then stay resident; packed, they are ~22 KB,
/// and idle RSS drops by ~3.5 MB (Benchmarks/server-bench.py). DT_RELR needs glibc 2.36 at run
/// time (Debian 12, Raspberry Pi OS bookworm, Ubuntu 24.04), so the flag is only used when the
/// building machine's own glibc has it: a binary built on an older system still runs there.
let pdsLinkerSettings: [LinkerSetting] = {
    #if canImport(Glibc)
    // confstr(_CS_GNU_LIBC_VERSION) answers "glibc 2.36".
    var buffer = [CChar](repeating: 0, count: 64)
    _ = confstr(Int32(_CS_GNU_LIBC_VERSION), &buffer, buffer.count)
    let version = String(cString: buffer).split(separator: " ").last?.split(separator: ".").compactMap { Int($0) } ?? []
    if version.count >= 2, (version[0], version[1]) >= (2, 36) {
        return [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"], .when(platforms: [.linux]))]
    }
    #endif
    return []
}()

let package = Package(
    name: "pds",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pds", targets: ["pds"]),
        .executable(name: "pds-bench", targets: ["pds-bench"]),
        .executable(name: "nio-floor", targets: ["nio-floor"]),
        // The parsers' modules as one library, for the fuzzing package in Fuzz/ (docs/FUZZING.md).
        .library(name: "PDSParsers", targets: [
            "Multiformats", "ATSyntax", "ATCrypto", "ATData", "ATRepo", "ATIdentity", "ATLexicon", "ATAuth", "OpenSSLNIO",
        ]),
    ],
    dependencies: [
        // `traits: []` keeps swift-configuration out of the graph; HummingbirdTLS/HummingbirdTesting
        // are never used because they compile BoringSSL (TLS here is the system OpenSSL).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", exact: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        // Already in the graph through Hummingbird; named here because OpenSSLNIO and ACME use it directly.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        // Already in the graph through Hummingbird; named here because PDSBackup's mirror is a `Service`.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
    ],
    targets: [
        // C system libraries. Only these, ATCrypto and OpenSSLNIO touch C pointers (and /metrics
        // reads malloc's counters through CMalloc).
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CSecp256k1", pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]),
        // glibc's malloc statistics (header only), for /metrics.
        .systemLibrary(name: "CMalloc"),

        // Pure protocol core: no I/O frameworks.
        .target(name: "Multiformats"),
        .target(name: "ATSyntax"),
        .target(name: "ATCrypto", dependencies: ["COpenSSL", "CSecp256k1", "Multiformats"]),
        .target(name: "ATData", dependencies: ["ATSyntax", "ATCrypto", "Multiformats"]),
        .target(name: "ATRepo", dependencies: ["ATSyntax", "ATData", "ATCrypto", "Multiformats"]),
        .target(name: "ATIdentity", dependencies: ["ATSyntax", "ATData", "ATCrypto", "Multiformats"]),
        .target(name: "ATLexicon", dependencies: ["ATSyntax", "ATData"]),
        .target(name: "ATAuth", dependencies: ["ATCrypto", "ATData", "ATSyntax", "Multiformats"]),
        .target(name: "ATSync", dependencies: ["ATData", "ATRepo"]),

        // TLS on the system OpenSSL for NIO and an HTTP/1.1 client over it (no Foundation, no
        // Hummingbird), and the ACME client.
        .target(
            name: "OpenSSLNIO",
            dependencies: [
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .target(
            name: "ACME",
            dependencies: [
                "OpenSSLNIO", "Multiformats",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),

        // What the server asks of other machines: outbound HTTP, identity resolution, PLC, relays,
        // SMTP submission.
        .target(
            name: "PDSNetwork",
            dependencies: [
                "ATSyntax", "ATData", "ATIdentity", "ATLexicon", "ATRepo", "ATCrypto", "Multiformats", "OpenSSLNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),

        // Storage: SQLite through GRDB (the only module that writes SQL), blobs on the filesystem.
        .target(
            name: "PDSStore",
            dependencies: [
                "ATSyntax", "ATData", "ATCrypto", "ATRepo", "ATSync", "Multiformats",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for reading a row's columns without GRDB's per-column `Data`.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]),
        // Backups: the S3 client and SigV4, the blob mirror service, `pds restore`. No Hummingbird.
        .target(
            name: "PDSBackup",
            dependencies: [
                "ATCrypto", "ATData", "Multiformats", "PDSStore", "PDSNetwork",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The domain layer: repo writer, firehose hub, sessions, identity, configuration, keys. No Hummingbird.
        .target(
            name: "PDSCore",
            dependencies: [
                "ATSyntax", "ATData", "ATCrypto", "ATRepo", "ATIdentity", "ATAuth", "ATSync", "PDSStore", "PDSNetwork",
                "PDSBackup", "OpenSSLNIO", "ACME",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .target(
            name: "PDSServer",
            dependencies: [
                "ATSyntax", "ATData", "ATCrypto", "ATRepo", "ATIdentity", "ATLexicon", "ATAuth", "ATSync", "PDSStore", "Multiformats",
                "OpenSSLNIO", "ACME", "PDSNetwork", "PDSBackup", "PDSCore", "CMalloc",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The appliance's commands above the server: init, doctor, key files and unlock, dev
        // bootstrap, account tokens, and starting the server as the configuration says.
        .target(
            name: "PDSAppliance",
            dependencies: [
                "ATCrypto", "ATIdentity", "ATSyntax", "Multiformats", "ACME", "OpenSSLNIO", "PDSStore", "PDSNetwork", "PDSBackup", "PDSCore", "PDSServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "pds",
            dependencies: [
                "PDSAppliance", "PDSServer", "PDSBackup", "PDSCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            linkerSettings: pdsLinkerSettings),

        .executableTarget(
            name: "pds-bench",
            dependencies: ["ATSyntax", "ATData", "ATCrypto", "ATRepo", "ATSync", "Multiformats", "PDSStore", "PDSCore", "PDSAppliance",
                           .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/pds-bench"),
        // A bare SwiftNIO HTTP/1.1 server answering `_health`: the per-connection floor (Benchmarks/connection-floor.py).
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/nio-floor"),

        // Tests: one target per module, plus a small helper library that finds ../shared.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "MultiformatsTests", dependencies: ["Multiformats", "TestSupport"]),
        .testTarget(name: "ATSyntaxTests", dependencies: ["ATSyntax", "TestSupport"]),
        .testTarget(name: "ATCryptoTests", dependencies: ["ATCrypto", "Multiformats", "TestSupport"]),
        .testTarget(name: "ATDataTests", dependencies: ["ATData", "ATCrypto", "Multiformats", "TestSupport"]),
        .testTarget(name: "PDSStoreTests", dependencies: ["PDSStore", "ATSync", "ATRepo", "ATCrypto", "TestSupport"]),
        .testTarget(name: "PDSServerTests", dependencies: ["PDSServer", "PDSAppliance", "PDSNetwork", "PDSStore", "PDSCore", "ATAuth", "TestSupport"]),
        .testTarget(name: "PDSCoreTests", dependencies: ["PDSCore", "PDSStore", "PDSNetwork", "ATAuth", "ATSync", "ATRepo", "ATData", "ATCrypto", "ATIdentity",
                                                   "ATSyntax", "TestSupport", "OpenSSLNIO", "Multiformats",
                                                   .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "PDSBackupTests", dependencies: ["PDSBackup", "PDSNetwork", "PDSStore", "ATData", "Multiformats", "TestSupport"]),
        .testTarget(name: "PDSApplianceTests", dependencies: ["PDSAppliance", "PDSServer", "PDSStore", "PDSCore", "ATRepo", "ATCrypto", "ATData", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ATLexiconTests", dependencies: ["ATLexicon", "ATData", "ATSyntax", "TestSupport"]),
        .testTarget(name: "ATIdentityTests", dependencies: ["ATIdentity", "ATData", "ATCrypto", "ATSyntax", "TestSupport"]),
        .testTarget(
            name: "OpenSSLNIOTests",
            dependencies: [
                "OpenSSLNIO", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(
            name: "ACMETests",
            dependencies: ["ACME", "OpenSSLNIO", "PDSServer", "TestSupport",
                           .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "ATAuthTests", dependencies: ["ATAuth", "ATCrypto", "ATData", "Multiformats", "TestSupport"]),
        .testTarget(name: "ATSyncTests", dependencies: ["ATSync", "ATRepo", "ATData", "ATCrypto"]),
        .testTarget(name: "ATRepoTests", dependencies: ["ATRepo", "ATData", "ATCrypto", "ATSyntax", "Multiformats", "TestSupport"]),
    ]
)
