// Helpers shared by the fuzz targets: input bytes, a byte reader for structured inputs, and
// generated seeds written where run-all.sh asks (FUZZ_SEED_DIR).
import CLibFuzzer
#if canImport(Glibc)
import Glibc
#endif

/// Runs libFuzzer with the process's arguments and `test` as LLVMFuzzerTestOneInput; exits with
/// libFuzzer's status. Each target's `main`.
public func runFuzzer(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// The fuzzer's input as an array.
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Fails the run (libFuzzer records the input) when an invariant does not hold.
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        let text = Array("fuzz invariant failed: \(message())\n".utf8)
        _ = text.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
        abort()
    }
}

/// Reads small control values off the front of an input (mode bytes, chunk sizes).
public struct ByteCursor {
    public private(set) var bytes: ArraySlice<UInt8>

    public init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    public mutating func byte() -> UInt8 {
        guard let first = bytes.first else { return 0 }
        bytes = bytes.dropFirst()
        return first
    }

    public var rest: [UInt8] { Array(bytes) }
}

/// Writes `seeds` (name, bytes) into `$FUZZ_SEED_DIR` when it is set; once per process.
public func writeSeeds(_ seeds: () -> [(String, [UInt8])]) {
    guard let directory = getenv("FUZZ_SEED_DIR").map({ String(cString: $0) }), !directory.isEmpty else { return }
    for (name, bytes) in seeds() {
        let path = directory + "/gen-" + name
        guard let file = fopen(path, "wb") else { continue }
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
}

/// The contents of a file, or nil.
public func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBufferPointer { fread($0.baseAddress, 1, $0.count, file) }
        if count <= 0 { break }
        result += buffer[0..<count]
    }
    return result
}

/// An environment variable's value, or nil when unset or empty.
public func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let string = String(cString: value)
    return string.isEmpty ? nil : string
}
