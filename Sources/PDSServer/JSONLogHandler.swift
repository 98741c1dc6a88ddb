import ATData
import Foundation
import Logging
import PDSStore

/// One JSON object per line on standard error (`{"time","level","label","message",…metadata}`),
/// for journald and log shippers. `pds serve` uses it unless standard error is a terminal, where
/// swift-log's readable lines are kinder. Callers never put secrets in messages or metadata.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the line with the server's own JSON writer, keys sorted. It was Foundation's
    /// `JSONSerialization` (`[String: Any]`, sorted keys through locale-aware `NSString`
    /// comparison): ~1 M instructions per line, more than a whole createRecord, and every request
    /// logs one line at `info` (docs/ARCHITECTURE.md, "Where the time goes").
    public func log(event: LogEvent) {
        var fields: [String: JSONValue] = [
            "time": .string(AccountStore.timestamp()),
            "level": .string(event.level.rawValue), "label": .string(label), "message": .string(event.message.description),
        ]
        if let error = event.error { fields["error"] = .string("\(error)") }
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) where fields[key] == nil {
            fields[key] = Self.plain(value)
        }
        var line = JSONValue.object(Self.sorted(fields)).serialized()
        line.append(0x0a)
        try? FileHandle.standardError.write(contentsOf: Data(line))
    }

    static func sorted(_ fields: [String: JSONValue]) -> JSONObject {
        JSONObject(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    static func plain(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let array): .array(array.map(plain))
        case .dictionary(let dictionary): .object(sorted(dictionary.mapValues(plain)))
        }
    }

    /// Installs JSON lines or readable text for the whole process (`format` nil: JSON unless
    /// standard error is a terminal), logging `level` and above (`PDS_LOG_FORMAT`, `PDS_LOG_LEVEL`).
    public static func bootstrap(format: String?, level: String = "info") {
        let json = format.map { $0 == "json" } ?? (isatty(STDERR_FILENO) != 1)
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
