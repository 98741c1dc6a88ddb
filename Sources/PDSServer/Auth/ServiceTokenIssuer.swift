import ATData
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension PDSServerState {
    /// `com.atproto.server.*` methods.
    func registerServerMethods(on router: inout XRPCRouter) {
        router.query("com.atproto.server.describeServer") { [self] _, _ in
            var object: JSONObject = [
                "did": .string(config.serviceDID),
                "availableUserDomains": [.string("." + config.hostname)],
                "inviteCodeRequired": true,
                "phoneVerificationRequired": false,
                "blobUploadLimit": .number(JSONNumber(config.blobUploadLimit)),
            ]
            var links = JSONObject()
            if let url = config.privacyPolicyURL { links["privacyPolicy"] = .string(url) }
            if let url = config.termsOfServiceURL { links["termsOfService"] = .string(url) }
            if !links.isEmpty { object["links"] = .object(links) }
            if let email = config.contactEmail { object["contact"] = ["email": .string(email)] }
            return jsonResponse(.object(object))
        }
        registerSessionMethods(on: &router)
        registerRepoMethods(on: &router)
        registerSyncMethods(on: &router)
    }
}
