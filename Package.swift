// swift-tools-version:6.1
// The personal AT Protocol server appliance. See README.md and docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "pds",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pds-bench", targets: ["pds-bench"]),
    ],
    targets: [
        // C system libraries. Only these, ATCrypto (and later the TLS module) touch C pointers.
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CSecp256k1", pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]),

        // Pure protocol core: no I/O frameworks.
        .target(name: "Multiformats"),
        .target(name: "ATSyntax"),
        .target(name: "ATCrypto", dependencies: ["COpenSSL", "CSecp256k1", "Multiformats"]),
        .target(name: "ATData", dependencies: ["ATSyntax", "ATCrypto", "Multiformats"]),
        .target(name: "ATRepo", dependencies: ["ATSyntax", "ATData", "ATCrypto", "Multiformats"]),
        .target(name: "ATIdentity", dependencies: ["ATSyntax", "ATData", "ATCrypto", "Multiformats"]),

        .executableTarget(
            name: "pds-bench",
            dependencies: ["ATSyntax", "ATData", "ATCrypto", "ATRepo", "Multiformats"],
            path: "Benchmarks/pds-bench"),

        // Tests: one target per module, plus a small helper library that finds ../shared.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "MultiformatsTests", dependencies: ["Multiformats", "TestSupport"]),
        .testTarget(name: "ATSyntaxTests", dependencies: ["ATSyntax", "TestSupport"]),
        .testTarget(name: "ATCryptoTests", dependencies: ["ATCrypto", "Multiformats", "TestSupport"]),
        .testTarget(name: "ATDataTests", dependencies: ["ATData", "ATCrypto", "Multiformats", "TestSupport"]),
        .testTarget(name: "ATIdentityTests", dependencies: ["ATIdentity", "ATData", "ATCrypto", "ATSyntax", "TestSupport"]),
        .testTarget(name: "ATRepoTests", dependencies: ["ATRepo", "ATData", "ATCrypto", "ATSyntax", "Multiformats", "TestSupport"]),
    ]
)
