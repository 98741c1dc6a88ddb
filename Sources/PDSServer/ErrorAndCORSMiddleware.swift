import HTTPTypes
import Hummingbird
import Logging
import NIOHTTP1
import PDSStore

/// Turns every error into an XRPC error body and adds CORS headers to every response.
///
/// CORS follows the reference server (`cors()` defaults, the reference PDS): any origin, the
/// requested headers reflected on preflight (the web app sends `authorization`, `atproto-proxy`,
/// `atproto-accept-labelers`, `dpop`, `content-type`), a one-day preflight cache.
struct ErrorAndCORSMiddleware: RouterMiddleware {
    typealias Context = PDSRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .options {
            var headers: HTTPFields = [
                .accessControlAllowOrigin: "*",
                .accessControlAllowMethods: "GET,HEAD,PUT,PATCH,POST,DELETE",
                .accessControlMaxAge: "86400",
                .vary: "Access-Control-Request-Headers",
            ]
            if let requested = request.headers[.accessControlRequestHeaders] {
                headers[.accessControlAllowHeaders] = requested
            }
            return Response(status: .noContent, headers: headers)
        }
        var request = request
        let drain = RequestBodyDrain(wrapping: &request)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as XRPCError {
            response = try error.response(from: request, context: context)
        } catch let error as XRPCErrorConvertible where !(error is StorageFullError) {
            response = try error.xrpcError.response(from: request, context: context)
        } catch let error as HTTPParserError {
            // The body could not be read as HTTP/1.1 (a bad chunk, a body cut short): the
            // client's fault, never a 500.
            response = try XRPCError.invalidRequest("Malformed request body: \(error)").response(from: request, context: context)
        } catch let error as HTTPError {
            // Hummingbird's own errors (unknown route, body too large, bad method).
            let xrpc: XRPCError
            switch error.status {
            case .contentTooLarge: xrpc = .payloadTooLarge()
            case .notFound: xrpc = .notFound()
            case .methodNotAllowed: xrpc = .invalidRequest("Incorrect HTTP method (\(request.method))")
            default: xrpc = XRPCError(error.status, error.status.code < 500 ? "InvalidRequest" : "InternalServerError",
                                      error.body ?? error.status.reasonPhrase)
            }
            response = try xrpc.response(from: request, context: context)
        } catch {
            if let full = StorageFullError(error) {
                // SQLite's SQLITE_FULL arrives as a GRDB error (only PDSStore knows that type).
                // Operators must see this one: every write fails until space is freed.
                logger.error("write refused: disk full", metadata: ["path": "\(request.uri.path)", "error": "\(full)"])
                response = try full.xrpcError.response(from: request, context: context)
            } else {
                // Never leak internals: log the error, answer a generic 500.
                logger.error("unhandled error", metadata: ["path": "\(request.uri.path)", "error": "\(String(describing: error))"])
                response = try XRPCError.internalError.response(from: request, context: context)
            }
        }
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlExposeHeaders] = "*"
        if let drain { await drain.drain(channel: context.channel) }
        return response
    }
}
