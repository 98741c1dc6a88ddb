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

    public func log(event: LogEvent) {
        var object: [String: Any] = [
            "time": AccountStore.timestamp(),
            "level": event.level.rawValue, "label": label, "message": event.message.description,
        ]
        if let error = event.error { object["error"] = "\(error)" }
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) where object[key] == nil {
            object[key] = Self.plain(value)
        }
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0a)
        FileHandle.standardError.write(data)
    }

    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let array): array.map(plain)
        case .dictionary(let dictionary): dictionary.mapValues(plain)
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
