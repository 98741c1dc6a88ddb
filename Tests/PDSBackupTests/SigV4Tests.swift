import ATCrypto
import Foundation
import Multiformats
@testable import PDSBackup
import PDSNetwork
import Testing

/// SigV4 against the worked examples AWS publishes for S3 ("Examples: Signature Calculations in
/// AWS Signature Version 4", header-based auth, bucket `examplebucket`, 2013-05-24) and the
/// signing-key example of the general SigV4 docs; the live check is `S3MirrorTests` (moto with
/// signature verification on).
@Suite struct SigV4Tests {
    static let credentials = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let signer = SigV4Signer(credentials: credentials, region: "us-east-1")
    /// 2013-05-24T00:00:00Z.
    static let date = Date(timeIntervalSince1970: 1_369_353_600)
    static let host = "examplebucket.s3.amazonaws.com"

    @Test func getObjectWithRangeMatchesTheAWSExample() {
        let request = SigV4Signer.Request(method: "GET", host: Self.host, path: "/test.txt", headers: [("Range", "bytes=0-9")])
        let signed = Self.signer.sign(request, date: Self.date)
        #expect(signed.canonicalRequest == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signed.stringToSign == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObjectEncodesThePathAndSignsThePayloadHash() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let hash = Base16.encode(SHA256.hash(body))
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let request = SigV4Signer.Request(
            method: "PUT", host: Self.host, path: "/test$file.text",
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")], payloadHash: hash)
        let signed = Self.signer.sign(request, date: Self.date)
        #expect(signed.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"))
        #expect(signed.signedHeaders == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class")
        #expect(signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        // The payload hash travels as a header too.
        #expect(signed.headers.contains { $0.name == "x-amz-content-sha256" && $0.value == hash })
    }

    @Test func queryParametersAreSortedAndEncoded() {
        let lifecycle = Self.signer.sign(SigV4Signer.Request(method: "GET", host: Self.host, path: "/", query: [("lifecycle", "")]), date: Self.date)
        #expect(lifecycle.canonicalRequest.hasPrefix("GET\n/\nlifecycle=\nhost:"))
        #expect(lifecycle.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")

        // Given out of order: the canonical query sorts them.
        let list = Self.signer.sign(SigV4Signer.Request(method: "GET", host: Self.host, path: "/",
                                                        query: [("prefix", "J"), ("max-keys", "2")]), date: Self.date)
        #expect(list.canonicalRequest.hasPrefix("GET\n/\nmax-keys=2&prefix=J\n"))
        #expect(list.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")

        #expect(SigV4Signer.canonicalQuery([("prefix", "blobs/a b"), ("continuation-token", "x+y=="), ("list-type", "2")])
            == "continuation-token=x%2By%3D%3D&list-type=2&prefix=blobs%2Fa%20b")
    }

    @Test func signingKeyDerivationMatchesTheAWSExample() {
        let key = SigV4Signer.signingKey(secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", day: "20120215", region: "us-east-1", service: "iam")
        #expect(Base16.encode(key) == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test func encodingAndHeaderCanonicalisation() {
        #expect(SigV4Signer.encode("AZaz09-_.~") == "AZaz09-_.~")
        #expect(SigV4Signer.encode("a b/c") == "a%20b%2Fc")
        #expect(SigV4Signer.encodePath("/bucket/blobs/a b+ü") == "/bucket/blobs/a%20b%2B%C3%BC")
        #expect(SigV4Signer.encodePath("") == "/")
        let headers = SigV4Signer.canonicalHeaders([("X-Amz-Meta-A", "  two   spaces  "), ("x-amz-meta-a", "again"), ("Host", "h")])
        #expect(headers.map(\.name) == ["host", "x-amz-meta-a"])
        #expect(headers.last?.value == "two spaces,again")
        #expect(SigV4Signer.timestamps(Date(timeIntervalSince1970: 1_796_174_335)) == ("20261202T011855Z", "20261202"))
    }

    @Test func secretsStayOutOfDescriptions() throws {
        let credentials = S3Credentials(accessKeyID: "AKIDPUBLIC", secretAccessKey: "super-secret-value")
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in ["\(credentials)", String(reflecting: credentials), dumped] {
            #expect(!text.contains("super-secret-value"), "\(text)")
        }
        let config = try #require(try BlobMirrorConfig.load(from: Self.mirrorKeys(["PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY": "super-secret-value"])))
        var dumpedConfig = ""
        dump(config, to: &dumpedConfig)
        #expect(!"\(config)".contains("super-secret-value"))
        #expect(!dumpedConfig.contains("super-secret-value"))
    }

    // MARK: Configuration

    static func mirrorKeys(_ overrides: [String: String] = [:]) -> [String: String] {
        var keys = [
            "PDS_BLOB_MIRROR_S3_ENDPOINT": "http://127.0.0.1:9000",
            "PDS_BLOB_MIRROR_S3_BUCKET": "pds-backup",
            "PDS_BLOB_MIRROR_S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY": "secret-value-123",
        ]
        for (key, value) in overrides { keys[key] = value }
        return keys.filter { !$0.value.isEmpty }
    }

    @Test func mirrorConfigDefaultsAndOff() throws {
        #expect(try BlobMirrorConfig.load(from: ["PDS_HOSTNAME": "pds.example.com"]) == nil)
        let config = try #require(try BlobMirrorConfig.load(from: Self.mirrorKeys()))
        #expect(config.endpoint.absoluteString == "http://127.0.0.1:9000")
        #expect(config.bucket == "pds-backup")
        #expect(config.region == "us-east-1")
        #expect(config.prefix == "blobs/")
        #expect(config.key(for: "bafkrei") == "blobs/bafkrei")
        #expect(config.deleteDelay == 24 * 3600)
        #expect(config.credentials.secretAccessKey == "secret-value-123")

        let custom = try #require(try BlobMirrorConfig.load(from: Self.mirrorKeys([
            "PDS_BLOB_MIRROR_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com:443/",
            "PDS_BLOB_MIRROR_S3_REGION": "eu-west-1", "PDS_BLOB_MIRROR_S3_PREFIX": "/alice/blobs",
            "PDS_BLOB_MIRROR_DELETE_DELAY_HOURS": "0",
        ])))
        #expect(custom.endpoint.absoluteString == "https://s3.eu-west-1.amazonaws.com")
        #expect(custom.region == "eu-west-1")
        #expect(custom.prefix == "alice/blobs/")
        #expect(custom.deleteDelay == 0)
        let atRoot = try #require(try BlobMirrorConfig.load(from: Self.mirrorKeys()
            .merging(["PDS_BLOB_MIRROR_S3_PREFIX": ""]) { $1 }))
        #expect(atRoot.prefix == "")
    }

    @Test func secretFromAFileOrCredentialsDirectory() throws {
        let directory = NSTemporaryDirectory() + "pds-secret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "from-a-file\n".write(toFile: directory + "/s3-secret", atomically: true, encoding: .utf8)

        let absolute = try #require(try BlobMirrorConfig.load(from: Self.mirrorKeys([
            "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY": "", "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE": directory + "/s3-secret",
        ]), credentialsDirectory: nil))
        #expect(absolute.credentials.secretAccessKey == "from-a-file")
        // systemd LoadCredential=: a relative name is looked up in $CREDENTIALS_DIRECTORY.
        let credential = try #require(try BlobMirrorConfig.load(from: Self.mirrorKeys([
            "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY": "", "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE": "s3-secret",
        ]), credentialsDirectory: directory))
        #expect(credential.credentials.secretAccessKey == "from-a-file")
    }

    /// Every command loads the configuration, but a `LoadCredential=` secret exists only inside the
    /// service: outside it the file is located, not read, until the server starts.
    @Test func secretFileIsReadOnlyWhenTheMirrorIsUsed() throws {
        let directory = NSTemporaryDirectory() + "pds-secret-\(UUID().uuidString)"
        let keys = Self.mirrorKeys([
            "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY": "", "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE": "s3-secret",
        ])
        let located = try #require(try BlobMirrorConfig.load(from: keys, credentialsDirectory: directory, readingSecretFile: false))
        #expect(located.unreadSecretFile == directory + "/s3-secret")
        #expect(located.credentials.secretAccessKey.isEmpty)
        #expect(throws: BlobMirrorConfig.Invalid.self) { try located.withSecret() }

        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "from-a-file\n".write(toFile: directory + "/s3-secret", atomically: true, encoding: .utf8)
        let read = try located.withSecret()
        #expect(read.credentials.secretAccessKey == "from-a-file")
        #expect(read.unreadSecretFile == nil)
    }

    @Test(arguments: [
        (["PDS_BLOB_MIRROR_S3_BUCKET": ""], "PDS_BLOB_MIRROR_S3_BUCKET is not set"),
        (["PDS_BLOB_MIRROR_S3_ENDPOINT": ""], "PDS_BLOB_MIRROR_S3_ENDPOINT is not set"),
        (["PDS_BLOB_MIRROR_S3_ACCESS_KEY_ID": ""], "PDS_BLOB_MIRROR_S3_ACCESS_KEY_ID is not set"),
        (["PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY": ""], "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY or PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE is not set"),
        (["PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE": "/nonexistent/secret"], "set only one of"),
        (["PDS_BLOB_MIRROR_S3_ENDPOINT": "ftp://example.com"], "must be http(s)://host[:port]"),
        (["PDS_BLOB_MIRROR_S3_ENDPOINT": "https://s3.example.com/bucket"], "must be http(s)://host[:port]"),
        (["PDS_BLOB_MIRROR_S3_BUCKET": "Not_A_Bucket"], "is not a bucket name"),
        (["PDS_BLOB_MIRROR_DELETE_DELAY_HOURS": "-1"], "PDS_BLOB_MIRROR_DELETE_DELAY_HOURS=-1"),
    ])
    func halfConfiguredMirrorIsOneClearError(overrides: [String: String], message: String) {
        do {
            _ = try BlobMirrorConfig.load(from: Self.mirrorKeys(overrides), credentialsDirectory: nil)
            Issue.record("accepted \(overrides)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
            #expect(!"\(error)".contains("secret-value-123"), "the secret leaked into: \(error)")
        }
    }

    @Test func missingSecretFileNamesThePath() {
        #expect(throws: BlobMirrorConfig.Invalid.self) {
            try BlobMirrorConfig.load(from: Self.mirrorKeys([
                "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY": "", "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE": "/nonexistent/secret",
            ]), credentialsDirectory: nil)
        }
    }

    @Test func listObjectsXMLIsDecoded() {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>blobs/</Prefix>
            <Contents><Key>blobs/a&amp;b</Key><Size>12</Size></Contents><Contents><Key>blobs/c&#x26;&#38;d</Key><Size>3</Size></Contents>
            <IsTruncated>true</IsTruncated><NextContinuationToken>tok&lt;1&gt;</NextContinuationToken></ListBucketResult>
            """
        let contents = MiniXML.elements("Contents", in: xml)
        #expect(contents.count == 2)
        #expect(contents.map { MiniXML.firstText("Key", in: $0) } == ["blobs/a&b", "blobs/c&&d"])
        #expect(MiniXML.firstText("NextContinuationToken", in: xml) == "tok<1>")
        #expect(MiniXML.decodeEntities("no entities & stray") == "no entities & stray")
    }
}
