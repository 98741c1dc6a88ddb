import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
@testable import PDSServer
import Testing

/// The response headers the middleware adds: HSTS only when this process serves TLS, and CSP,
/// frame denial and nosniff on every HTML response.
@Suite struct SecurityHeadersTests {
    static func respond(servesTLS: Bool, contentType: String, csp: String? = nil) async throws -> Response {
        let context = PDSRequestContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        let request = Request(head: HTTPRequest(method: .get, scheme: "https", authority: "pds.test", path: "/"),
                              body: .init(buffer: ByteBuffer()))
        return try await SecurityHeadersMiddleware(servesTLS: servesTLS).handle(request, context: context) { _, _ in
            var headers: HTTPFields = [.contentType: contentType]
            if let csp { headers[.contentSecurityPolicy] = csp }
            return Response(status: .ok, headers: headers)
        }
    }

    @Test func htmlIsFramedNowhereAndHSTSComesOnlyWithTLS() async throws {
        let page = try await Self.respond(servesTLS: true, contentType: "text/html; charset=utf-8")
        #expect(page.headers[.strictTransportSecurity] == "max-age=63072000")
        #expect(page.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none';") == true)
        #expect(page.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
        #expect(page.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
        #expect(page.headers[.xContentTypeOptions] == "nosniff")

        let plain = try await Self.respond(servesTLS: false, contentType: "text/html")
        #expect(plain.headers[.strictTransportSecurity] == nil)
        #expect(plain.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")

        let json = try await Self.respond(servesTLS: true, contentType: "application/json")
        #expect(json.headers[.strictTransportSecurity] == "max-age=63072000")
        #expect(json.headers[.contentSecurityPolicy] == nil && json.headers[HTTPField.Name("X-Frame-Options")!] == nil)

        // A page with its own policy keeps it.
        let own = try await Self.respond(servesTLS: true, contentType: "text/html", csp: "default-src 'self'")
        #expect(own.headers[.contentSecurityPolicy] == "default-src 'self'")
    }
}
