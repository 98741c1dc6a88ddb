import ATAuth
import ATData
import Foundation
import Hummingbird
import PDSStore

/// `app.bsky.actor.getPreferences` / `putPreferences`, served here rather than by the AppView
/// (the reference PDS): preferences are private account state the PDS keeps.
struct PreferenceEndpoints: Sendable {
    let accounts: AccountStore
    /// Calls for another service than the configured AppView go there.
    let proxy: ServiceProxy

    static let preferenceNamespace = "app.bsky"
    /// Only full sessions see or write it (it holds the birth date).
    static let personalDetailsPref = "app.bsky.actor.defs#personalDetailsPref"
    /// Read-only and derived by the reference; never stored from clients.
    static let declaredAgePref = "app.bsky.actor.defs#declaredAgePref"

    func register(on router: inout XRPCRouter) {
        router.query("app.bsky.actor.getPreferences", auth: .session) { request, context, auth in
            // Answered locally only on behalf of the configured AppView; another target gets the call.
            guard proxy.isForDefaultAppView(request) else { return try await proxy.proxy(request, context: context, nsid: "app.bsky.actor.getPreferences") }
            var preferences: [JSONValue] = []
            for stored in try accounts.preferences() where stored.name.hasPrefix(Self.preferenceNamespace + ".") {
                if stored.name == Self.personalDetailsPref && !auth.isFull { continue }
                guard let value = try? JSONValue.parse(stored.json) else { continue }
                preferences.append(value)
            }
            return jsonResponse(["preferences": .array(preferences)])
        }

        // A deactivated account may write them: an account moving here brings its preferences
        // before it is activated (the reference checks takedowns only here).
        router.procedure("app.bsky.actor.putPreferences", auth: .session) { request, context, auth in
            guard proxy.isForDefaultAppView(request) else { return try await proxy.proxy(request, context: context, nsid: "app.bsky.actor.putPreferences") }
            let input = try await request.jsonObject(context: context, limit: 1_000_000)
            guard let list = input.object["preferences"]?.arrayValue else {
                throw XRPCError.invalidRequest("Input must have the property \"preferences\"")
            }
            var stored: [(name: String, json: String)] = []
            for (index, item) in list.enumerated() {
                guard let object = item.objectValue else { throw XRPCError.invalidRequest("Input/preferences/\(index) must be an object") }
                guard let type = object["$type"]?.stringValue, !type.isEmpty else {
                    throw XRPCError.invalidRequest("Preference is missing a $type")
                }
                guard type.hasPrefix(Self.preferenceNamespace + ".") else {
                    throw XRPCError.invalidRequest("Some preferences are not in the \(Self.preferenceNamespace) namespace")
                }
                if type == Self.declaredAgePref { continue }
                if type == Self.personalDetailsPref && !auth.isFull {
                    throw XRPCError.invalidRequest("Do not have authorization to set preferences.")
                }
                // Stored exactly as sent (it is the client's data), after a data-model check.
                do { _ = try DataValue(json: item) } catch { throw XRPCError.invalidRequest("Input/preferences/\(index): \(error)") }
                stored.append((type, item.serializedString))
            }
            if !auth.isFull {
                // A session that cannot see the personal details must not erase them either.
                stored += try accounts.preferences().filter { $0.name == Self.personalDetailsPref }
            }
            try accounts.replacePreferences(namespace: Self.preferenceNamespace + ".", with: stored)
            return Response(status: .ok)
        }
    }
}
