// swift-tools-version:6.1
// libFuzzer targets for the appliance's parsers (docs/FUZZING.md). A package of its own so that
// its sanitizer build (`run-all.sh`) never touches the main package's `.build`.
import Foundation
import PackageDescription

/// A path dependency's identity is its directory's name (`main`, `wt-fuzz`, a CI clone's name).
let parent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

/// One executable per fuzz target: `fuzz-<name>` from `Targets/<name>/<name>.swift`.
let fuzzTargets: [(name: String, nio: Bool)] = [
    ("dagcbor", false), ("car", false), ("json", false), ("jwt", false), ("syntax", false),
    ("lexicon", false), ("age", false), ("mst", false), ("dns", false), ("http-response", true),
    ("xrpc-query", false),
]

let parsers = Target.Dependency.product(name: "PDSParsers", package: parent)
let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOEmbedded", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
]

let package = Package(
    name: "pds-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
    ],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer", parsers]),
    ] + fuzzTargets.map { target in
        .executableTarget(
            name: "fuzz-\(target.name)",
            dependencies: ["FuzzSupport", parsers] + (target.nio ? nio : []),
            path: "Targets/\(target.name)")
    }
)
