import Foundation

/// Where the server mirrors blob files: an S3-compatible bucket (`PDS_BLOB_MIRROR_S3_*` keys,
/// docs/BACKUP.md). Parsed from the same merged key/value map as `PDSConfig.load`.
///
/// The database is not mirrored by the server: Litestream replicates `pds.sqlite`. Blob bytes
/// live outside the database, so the server uploads each permanent blob itself.
public struct BlobMirrorConfig: Sendable, CustomStringConvertible {
    /// `scheme://host[:port]` of the S3 API (AWS: `https://s3.<region>.amazonaws.com`). Requests
    /// use path-style URLs: `<endpoint>/<bucket>/<key>`.
    public var endpoint: URL
    public var bucket: String
    public var region: String
    /// Key prefix for blob objects (`blobs/` by default; always empty or ending in `/`). The
    /// object for a blob is `<prefix><cid>`.
    public private(set) var prefix: String
    public var credentials: S3Credentials
    /// How long a deleted blob's object is kept before it is deleted from the bucket
    /// (`PDS_BLOB_MIRROR_DELETE_DELAY_HOURS`, default 24: Litestream's default retention, so a
    /// point-in-time database restore within that window still finds its blobs). 0 deletes at once.
    public var deleteDelay: TimeInterval = 24 * 3600
    /// The secret's file when it was configured by `PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE` and
    /// not read yet (`load(readingSecretFile: false)`); `withSecret()` reads it.
    public private(set) var unreadSecretFile: String?

    public init(endpoint: URL, bucket: String, region: String = "us-east-1", prefix: String = "blobs/",
                credentials: S3Credentials, deleteDelay: TimeInterval = 24 * 3600) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.prefix = Self.normalizedPrefix(prefix)
        self.credentials = credentials
        self.deleteDelay = deleteDelay
    }

    /// The object key for a blob.
    public func key(for cid: String) -> String { prefix + cid }

    /// Never includes the secret.
    public var description: String {
        "s3 \(endpoint.absoluteString)/\(bucket)/\(prefix) (region \(region))"
    }

    /// A mirror setting that cannot work, reported as one line before anything starts (as
    /// `PDSConfig.Invalid` is for the rest of the configuration).
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Every key this type reads.
    public static let keys = [
        "PDS_BLOB_MIRROR_S3_ENDPOINT", "PDS_BLOB_MIRROR_S3_BUCKET", "PDS_BLOB_MIRROR_S3_REGION", "PDS_BLOB_MIRROR_S3_PREFIX",
        "PDS_BLOB_MIRROR_S3_ACCESS_KEY_ID", "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY", "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE",
        "PDS_BLOB_MIRROR_DELETE_DELAY_HOURS",
    ]

    /// The mirror configuration in `merged` (pds.conf values overlaid with `PDS_*` environment
    /// variables), or nil when no `PDS_BLOB_MIRROR_*` key is set (mirroring off).
    ///
    /// A half-configured mirror is an error, so a typo cannot silently turn backups off. A relative
    /// `PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE` is looked up in `credentialsDirectory` (systemd's
    /// `$CREDENTIALS_DIRECTORY`, for `LoadCredential=`). Error messages never contain the secret.
    ///
    /// With `readingSecretFile: false` a secret file is only located, not read: every command loads
    /// the configuration, but only the server and `pds restore` talk to the bucket, and a file
    /// named relative to systemd's credentials directory exists only inside the service.
    public static func load(
        from merged: [String: String],
        credentialsDirectory: String? = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"],
        readingSecretFile: Bool = true
    ) throws -> BlobMirrorConfig? {
        func value(_ key: String) -> String? {
            guard let text = merged[key]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        guard keys.contains(where: { value($0) != nil }) else { return nil }
        func required(_ key: String, _ meaning: String) throws -> String {
            guard let text = value(key) else {
                throw Invalid(description: "\(key) is not set (\(meaning)); the blob mirror needs it, or remove every PDS_BLOB_MIRROR_* key to turn mirroring off")
            }
            return text
        }

        let endpointText = try required("PDS_BLOB_MIRROR_S3_ENDPOINT", "the S3 API URL, e.g. https://s3.us-east-1.amazonaws.com")
        let endpoint = try parseEndpoint(endpointText)
        let bucket = try required("PDS_BLOB_MIRROR_S3_BUCKET", "the bucket name")
        guard (3...63).contains(bucket.count),
              bucket.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") })
        else {
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_BUCKET=\(bucket) is not a bucket name (3-63 lowercase letters, digits, '.', '-')")
        }
        let region = value("PDS_BLOB_MIRROR_S3_REGION") ?? "us-east-1"
        guard region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_REGION=\(region) is not a region name")
        }
        let prefix = normalizedPrefix(merged["PDS_BLOB_MIRROR_S3_PREFIX"].map { $0.trimmingCharacters(in: .whitespaces) } ?? "blobs/")
        guard !prefix.contains("//"), prefix.utf8.count <= 512 else {
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_PREFIX=\(prefix) is not a usable key prefix")
        }
        let accessKeyID = try required("PDS_BLOB_MIRROR_S3_ACCESS_KEY_ID", "the access key ID")

        var secret = ""
        var unreadSecretFile: String?
        switch (value("PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY"), value("PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE")) {
        case (let inline?, nil):
            secret = inline
        case (nil, let file?):
            let path = resolvedSecretPath(file, credentialsDirectory: credentialsDirectory)
            if readingSecretFile { secret = try readSecret(path) } else { unreadSecretFile = path }
        case (nil, nil):
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY or PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE is not set (the secret access key)")
        case (_?, _?):
            throw Invalid(description: "set only one of PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY and PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE")
        }

        var deleteDelay: TimeInterval = 24 * 3600
        if let hours = value("PDS_BLOB_MIRROR_DELETE_DELAY_HOURS") {
            guard let number = Int(hours), (0...87_600).contains(number) else {
                throw Invalid(description: "PDS_BLOB_MIRROR_DELETE_DELAY_HOURS=\(hours) is not a number in 0...87600")
            }
            deleteDelay = TimeInterval(number * 3600)
        }
        var config = BlobMirrorConfig(endpoint: endpoint, bucket: bucket, region: region, prefix: prefix,
                                      credentials: S3Credentials(accessKeyID: accessKeyID, secretAccessKey: secret),
                                      deleteDelay: deleteDelay)
        config.unreadSecretFile = unreadSecretFile
        return config
    }

    /// This configuration with its secret read from the file `load(readingSecretFile: false)`
    /// only located; itself when the secret is already there.
    public func withSecret() throws -> BlobMirrorConfig {
        guard let file = unreadSecretFile else { return self }
        var config = self
        config.credentials.secretAccessKey = try Self.readSecret(file)
        config.unreadSecretFile = nil
        return config
    }

    /// Without leading `/`, with a trailing `/` unless empty: `alice/blobs` → `alice/blobs/`.
    static func normalizedPrefix(_ text: String) -> String {
        var prefix = text
        while prefix.hasPrefix("/") { prefix.removeFirst() }
        if !prefix.isEmpty, !prefix.hasSuffix("/") { prefix += "/" }
        return prefix
    }

    /// `http(s)://host[:port]` with no path, query or credentials; a default port is dropped so
    /// the signed `Host` matches what the HTTP client sends.
    static func parseEndpoint(_ text: String) throws -> URL {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard var components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
              components.path.isEmpty, components.query == nil, components.user == nil, components.password == nil
        else {
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_ENDPOINT=\(text) must be http(s)://host[:port] (path-style requests add /<bucket>/<key>)")
        }
        if (scheme == "http" && components.port == 80) || (scheme == "https" && components.port == 443) { components.port = nil }
        components.scheme = scheme
        guard let url = components.url else {
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_ENDPOINT=\(text) is not a URL")
        }
        return url
    }

    /// A relative path is looked up in systemd's credentials directory when there is one.
    static func resolvedSecretPath(_ path: String, credentialsDirectory: String?) -> String {
        if !path.hasPrefix("/"), let credentialsDirectory, !credentialsDirectory.isEmpty {
            return credentialsDirectory + "/" + path
        }
        return path
    }

    /// The first line of a secret file, without surrounding whitespace.
    static func readSecret(_ resolved: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: resolved) else {
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE: cannot read \(resolved)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let line = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !line.isEmpty else {
            throw Invalid(description: "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE: \(resolved) is empty")
        }
        return line
    }
}
