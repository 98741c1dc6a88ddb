import Foundation

// pds-bench: figures for the PDS's hot paths.
//
//   pds-bench                 lists the suites
//   pds-bench <suite> [--duration MS] [--rounds N] [--no-reference]
//   pds-bench bulk-repo --data DIR [--records N]   fills a stopped `pds dev` repository (server-bench.py)
//
// Build with `-c release`; debug figures are meaningless. Benchmarks/run-core.sh builds and runs
// core; Benchmarks/run-all.sh builds once and runs every suite.

/// Settings every suite receives.
struct SuiteOptions {
    /// Timing parameters.
    var harness = Harness()
    /// Whether to run the external reference programs (cc, openssl speed).
    var references = true
    /// `core`: how many times references and our measurements alternate. `repo`: how many times
    /// each 100,000-key tree build runs (best and median are reported).
    var rounds = 3
}

/// A named group of benchmarks.
struct Suite {
    var name: String
    var summary: String
    /// nil while the code it measures has not landed yet.
    var run: ((SuiteOptions) throws -> Void)?
}

/// Every suite, in the order `pds-bench` lists them. Add new suites here.
let suites: [Suite] = [
    Suite(
        name: "core",
        summary: "DAG-CBOR/JSON codecs, CIDs, K-256/P-256 sign & verify vs libsecp256k1-from-C and openssl speed",
        run: CoreSuite.run),
    Suite(
        name: "repo",
        summary: "100k-key MST build, one commit on a 100k-record tree, repository CAR write/read/verify",
        run: RepoSuite.run),
    Suite(
        name: "storage",
        summary: "100k creates, 10k updates, 10k deletes via RepoWriter on disk: write CPU, database vs getRepo CAR size, event pruning",
        run: StorageSuite.run),
]

@MainActor func usage() {
    print("usage: pds-bench <suite> [--duration MS] [--rounds N] [--no-reference]")
    print("")
    print("suites:")
    for suite in suites { print("  " + Report.pad(suite.name, 8) + suite.summary) }
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first else {
    usage()
    exit(0)
}
arguments.removeFirst()
// A tool rather than a suite: fills a stopped dev server's repository (Benchmarks/server-bench.py).
if name == "bulk-repo" {
    do { try BulkRepository.run(arguments) } catch {
        print("pds-bench bulk-repo: \(error)")
        exit(1)
    }
    exit(0)
}
guard let suite = suites.first(where: { $0.name == name }) else {
    print("pds-bench: unknown suite '\(name)'")
    usage()
    exit(2)
}

var options = SuiteOptions()
while let flag = arguments.first {
    arguments.removeFirst()
    switch flag {
    case "--duration":
        guard let text = arguments.first, let milliseconds = Int(text), milliseconds > 0 else {
            print("pds-bench: --duration needs a positive number of milliseconds")
            exit(2)
        }
        arguments.removeFirst()
        options.harness.duration = .milliseconds(milliseconds)
    case "--rounds":
        guard let text = arguments.first, let rounds = Int(text), rounds > 0 else {
            print("pds-bench: --rounds needs a positive number")
            exit(2)
        }
        arguments.removeFirst()
        options.rounds = rounds
    case "--no-reference":
        options.references = false
    default:
        print("pds-bench: unknown option '\(flag)'")
        usage()
        exit(2)
    }
}

guard let run = suite.run else {
    print("pds-bench: suite '\(suite.name)' is not available yet: \(suite.summary)")
    exit(2)
}

#if DEBUG
print("warning: this is a debug build; figures are not representative (use swift run -c release)")
#endif
print("pds-bench \(suite.name)  (MB = 10⁶ bytes; rates are per second on one thread; median and best of ~40 ms batches)")
ProcessStats.printLoad("at start")
do {
    try run(options)
} catch {
    print("pds-bench: \(error)")
    exit(1)
}
ProcessStats.printResidentSet()
ProcessStats.printLoad("at end")
