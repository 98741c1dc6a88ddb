import Foundation
@testable import PDSBackup
import PDSNetwork
import TestSupport

/// A real S3-compatible server for a test: moto via `Tests/tools/s3-local` on a free loopback
/// port, with one bucket, an IAM user allowed `s3:*`, and then **signature checking switched on**
/// (moto's `/moto-api/reset-auth 0`), so a request with a wrong SigV4 signature is refused with
/// 403 `SignatureDoesNotMatch` exactly as AWS would. Use `S3TestServer.with { s3 in … }`.
struct S3TestServer {
    let endpoint: URL
    let bucket: String
    let credentials: S3Credentials
    let python: String
    let stateDirectory: String
    let port: Int

    /// Runs `body` against a fresh server, stopping it afterwards.
    static func with<T>(bucket: String = "pds-backup-test", _ body: (S3TestServer) async throws -> T) async throws -> T {
        let server = try start(bucket: bucket)
        defer { server.stop() }
        return try await body(server)
    }

    static func start(bucket: String) throws -> S3TestServer {
        let s3Local = TestTools.script("s3-local")
        let venv = try TestTools.venv()
        let python = venv + "/bin/python"
        let port = try Int(run(python, ["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
            .trimmingCharacters(in: .whitespacesAndNewlines))!
        let stateDirectory = NSTemporaryDirectory() + "pds-s3-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let environment = ["STATE_DIR": stateDirectory, "VENV": venv]
        let output = try run(s3Local, ["start", String(port), bucket], environment: environment)
        guard output.contains("AWS_ENDPOINT_URL=http://127.0.0.1:\(port)") else {
            throw Failure(description: "s3-local did not start: \(output)")
        }
        let endpoint = "http://127.0.0.1:\(port)"
        let keys: [String]
        do {
            keys = try run(python, ["-c", Self.iamSetup, endpoint]).split(separator: " ").map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard keys.count == 2 else { throw Failure(description: "IAM setup printed \(keys)") }
        } catch {
            _ = try? run(s3Local, ["stop", String(port)], environment: environment)
            throw error
        }
        return S3TestServer(endpoint: URL(string: endpoint)!, bucket: bucket,
                            credentials: S3Credentials(accessKeyID: keys[0], secretAccessKey: keys[1]),
                            python: python, stateDirectory: stateDirectory, port: port)
    }

    func stop() {
        _ = try? Self.run(TestTools.script("s3-local"), ["stop", String(port)], environment: ["STATE_DIR": stateDirectory])
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }

    /// A blob mirror configuration for this server.
    func mirrorConfig(prefix: String = "blobs/", deleteDelay: TimeInterval = 0) -> BlobMirrorConfig {
        BlobMirrorConfig(endpoint: endpoint, bucket: bucket, region: "us-east-1", prefix: prefix, credentials: credentials,
                         deleteDelay: deleteDelay)
    }

    /// The bucket's keys and object bytes as boto3 (an independent S3 client) sees them.
    func objects() throws -> [String: [UInt8]] {
        let script = """
            import base64, boto3, json, sys
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                              aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
            out = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2]):
                for item in page.get("Contents", []):
                    out[item["Key"]] = base64.b64encode(s3.get_object(Bucket=sys.argv[2], Key=item["Key"])["Body"].read()).decode()
            print(json.dumps(out))
            """
        let text = try Self.run(python, ["-c", script, endpoint.absoluteString, bucket, credentials.accessKeyID, credentials.secretAccessKey])
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] ?? [:]
        return object.mapValues { [UInt8](Data(base64Encoded: $0) ?? Data()) }
    }

    /// Creates an IAM user with an s3:* policy and an access key, then turns signature checks on.
    static let iamSetup = """
        import json, sys, urllib.request, boto3
        endpoint = sys.argv[1]
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        iam.create_user(UserName="pds")
        iam.put_user_policy(UserName="pds", PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="pds")["AccessKey"]
        # text/plain: with a form content type Flask would consume the body before moto reads it.
        urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                                      headers={"Content-Type": "text/plain"}), timeout=10).read()
        print(key["AccessKeyId"], key["SecretAccessKey"])
        """

    /// Runs a program to completion (killed after 60 s by coreutils `timeout`) and returns its
    /// output. Through `ChildProcess` (posix_spawn + waitpid), not Foundation's `Process`, whose
    /// exit monitoring can hang when parallel tests start processes at once.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "AWS_CA_BUNDLE")
        for (key, value) in environment { merged[key] = value }
        let outputPath = NSTemporaryDirectory() + "pds-s3-test-\(UUID().uuidString).out"
        let errorPath = outputPath + ".err"
        defer { for path in [outputPath, errorPath] { try? FileManager.default.removeItem(atPath: path) } }
        let status = try ChildProcess.run("/usr/bin/timeout", ["60", executable] + arguments, environment: merged,
                                          outputPath: outputPath, errorPath: errorPath)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            throw Failure(description: "\(executable) \(arguments.prefix(2)) exited \(status): \(errors.suffix(1500))")
        }
        return output
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }
}
