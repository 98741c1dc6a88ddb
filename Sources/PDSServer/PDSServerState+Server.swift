import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension PDSServerState {
    /// `com.atproto.server.*` methods.
    func registerServerMethods(on router: inout XRPCRouter) {
        router.query("com.atproto.server.describeServer") { [self] _, _ in
            var object: [String: Any] = [
                "did": config.serviceDID,
                "availableUserDomains": ["." + config.hostname],
                "inviteCodeRequired": true,
                "phoneVerificationRequired": false,
                "blobUploadLimit": config.blobUploadLimit,
            ]
            var links: [String: String] = [:]
            if let url = config.privacyPolicyURL { links["privacyPolicy"] = url }
            if let url = config.termsOfServiceURL { links["termsOfService"] = url }
            if !links.isEmpty { object["links"] = links }
            if let email = config.contactEmail { object["contact"] = ["email": email] }
            return try jsonResponse(object)
        }
    }
}

/// A JSON response from Foundation property-list values (used until handlers move to ATData JSON).
func jsonResponse(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
