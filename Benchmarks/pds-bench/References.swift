import Foundation

/// Reference figures measured by other programs in the same run, so ratios compare like with like
/// on whatever machine (and whatever neighbours) the bench runs on.
enum References {
    /// Sign and verify rates of one reference, per second of CPU time and (when the reference
    /// reports it) per second of wall-clock time.
    struct Rates {
        var signPerCPUSecond: Double
        var verifyPerCPUSecond: Double
        var signPerSecond: Double?
        var verifyPerSecond: Double?
    }

    /// The package root, found from this source file's location (Benchmarks/pds-bench/…).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Compiles Benchmarks/c/secp256k1_bench.c with `cc -O2` into a temporary file; the caller
    /// removes it when done.
    static func compileSecp256k1Bench() -> Result<URL, ReferenceError> {
        let source = packageRoot.appendingPathComponent("Benchmarks/c/secp256k1_bench.c")
        guard FileManager.default.fileExists(atPath: source.path) else {
            return .failure(ReferenceError("C source not found at \(source.path)"))
        }
        let binary = FileManager.default.temporaryDirectory
            .appendingPathComponent("pds-bench-secp256k1-\(getpid())")
        let compile = run(["cc", "-O2", source.path, "-o", binary.path, "-lsecp256k1", "-lcrypto"])
        guard compile.status == 0 else {
            return .failure(ReferenceError("cc failed (is cc installed?): \(compile.output.prefix(300))"))
        }
        return .success(binary)
    }

    /// libsecp256k1 from C: runs the compiled reference on `message` (SHA-256 + sign + serialise,
    /// as K256PrivateKey.sign does; parse + SHA-256 + verify, as K256PublicKey.verify does).
    static func secp256k1FromC(binary: URL, message: [UInt8], seconds: Double) -> Result<Rates, ReferenceError> {
        let hex = message.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        let result = run([binary.path, hex, String(seconds)])
        guard result.status == 0 else { return .failure(ReferenceError("reference program failed: \(result.output)")) }
        // Lines: "sign_per_sec <wall> <cpu>", "verify_per_sec <wall> <cpu>".
        var sign: (Double, Double)?, verify: (Double, Double)?
        for line in result.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let wall = Double(fields[1]), let cpu = Double(fields[2]) else { continue }
            if fields[0] == "sign_per_sec" { sign = (wall, cpu) }
            if fields[0] == "verify_per_sec" { verify = (wall, cpu) }
        }
        guard let sign, let verify else { return .failure(ReferenceError("unexpected output: \(result.output)")) }
        return .success(Rates(
            signPerCPUSecond: sign.1, verifyPerCPUSecond: verify.1, signPerSecond: sign.0, verifyPerSecond: verify.0))
    }

    /// `openssl speed -seconds N ecdsap256`. Its summary line reads
    /// ` 256 bits ecdsa (nistp256)   0.0000s   0.0001s  38000.0  12000.0`; the last two fields
    /// are sign/s and verify/s per second of user CPU time (speed's default; `-elapsed` would
    /// divide by wall time). openssl signs a 20-byte buffer without hashing it, on one context
    /// initialised once.
    static func opensslSpeedP256(seconds: Int) -> Result<Rates, ReferenceError> {
        let result = run(["openssl", "speed", "-seconds", String(seconds), "ecdsap256"])
        guard result.status == 0 else { return .failure(ReferenceError("openssl speed failed: \(result.output.prefix(300))")) }
        guard let line = result.output.split(separator: "\n").last(where: { $0.contains("(nistp256)") }) else {
            return .failure(ReferenceError("no nistp256 line in openssl speed output"))
        }
        let numbers = line.split(separator: " ").compactMap { Double($0) }
        guard numbers.count >= 2 else { return .failure(ReferenceError("cannot parse: \(line)")) }
        return .success(Rates(signPerCPUSecond: numbers[numbers.count - 2], verifyPerCPUSecond: numbers[numbers.count - 1]))
    }

    /// Runs a command found on PATH; returns its exit status and standard output (standard error
    /// is appended when the command fails, for the message).
    private static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        do { try process.run() } catch { return (-1, "\(error)") }
        // Drain standard error on another thread while reading standard output here, so a chatty
        // child cannot block on a full pipe.
        let errorBox = DataBox()
        let errorDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errorBox.data = stderr.fileHandleForReading.readDataToEndOfFile()
            errorDone.signal()
        }
        let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errorDone.wait()
        let errorData = errorBox.data
        var output = String(decoding: outputData, as: UTF8.self)
        if process.terminationStatus != 0 { output += String(decoding: errorData, as: UTF8.self) }
        return (process.terminationStatus, output)
    }
}

/// Why a reference figure is missing.
struct ReferenceError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Carries bytes out of the reader thread; the semaphore orders the write before the read.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
