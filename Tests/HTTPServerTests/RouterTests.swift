import Synchronization
import Testing
@testable import HTTPServer

@Suite("Router")
struct RouterTests {
    final class Seen: Sendable {
        let value = Mutex<(HTTPResponse?, RequestContext?)>((nil, nil))
    }

    func respond(_ router: Router, _ method: HTTPMethod, _ path: String) -> (HTTPResponse?, RequestContext?) {
        let seen = Seen()
        router.add(middleware: Probe(seen: seen))
        router.respond(to: HTTPRequest(method: method, path: path), context: RequestContext(requestID: "r", receivedAtNanos: 0)) {
            response in seen.value.withLock { $0.0 = response }
        }
        return seen.value.withLock { $0 }
    }

    struct Probe: HTTPMiddleware {
        let seen: Seen
        func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPResponder,
                    completion: @escaping ResponseCompletion) {
            seen.value.withLock { $0.1 = context }
            next.respond(to: request, context: context, completion: completion)
        }
    }

    func makeRouter() -> Router {
        let router = Router()
        router.get("/") { _, _ in HTTPResponse(status: .ok, contentType: "text/plain", body: "root") }
        router.get("/healthz") { _, _ in HTTPResponse(status: .ok, contentType: "text/plain", body: "healthz") }
        router.get("/v2/models/{model}") { _, c in HTTPResponse(status: .ok, contentType: "text/plain", body: "meta \(c.parameters["model"]!)") }
        router.get("/v2/models/{model}/versions/{version}") { _, c in
            HTTPResponse(status: .ok, contentType: "text/plain", body: "\(c.parameters["model"]!)@\(c.parameters["version"]!)")
        }
        router.post("/v2/models/{model}/infer") { _, c in HTTPResponse(status: .ok, contentType: "text/plain", body: "infer \(c.parameters["model"]!)") }
        router.get("/v2/models/ready") { _, _ in HTTPResponse(status: .ok, contentType: "text/plain", body: "shadowed") }
        return router
    }

    @Test(arguments: [
        ("/", "root", "/"),
        ("/healthz", "healthz", "/healthz"),
        ("/healthz/", "healthz", "/healthz"),
        ("/healthz//", "healthz", "/healthz"),
        ("/v2/models/digits", "meta digits", "/v2/models/{model}"),
        ("/v2/models/digits/versions/3", "digits@3", "/v2/models/{model}/versions/{version}"),
        // The first registered route wins: the parameter route shadows the later literal one.
        ("/v2/models/ready", "meta ready", "/v2/models/{model}"),
    ])
    func matches(path: String, body: String, template: String) {
        let (response, context) = respond(makeRouter(), .GET, path)
        #expect(response.map { String(decoding: $0.body, as: UTF8.self) } == body)
        #expect(context?.route == template)
    }

    @Test(arguments: ["/nope", "/healthzz", "/v2/models//versions/1", "/v2/models", "healthz", "*", ""])
    func unmatchedPathsGet404(path: String) {
        let (response, context) = respond(makeRouter(), .GET, path)
        #expect(response?.status.code == 404)
        #expect(context?.route == "unmatched")
        #expect(context?.parameters.isEmpty == true)
    }

    @Test func wrongMethodGets405WithAllow() {
        let (response, context) = respond(makeRouter(), .GET, "/v2/models/digits/infer")
        #expect(response?.status.code == 405)
        #expect(response?.headers["Allow"] == "POST")
        #expect(context?.route == "/v2/models/{model}/infer")
        #expect(context?.parameters["model"] == "digits")
    }

    @Test func parametersAreFoundByNameAndAsADictionary() {
        let (_, context) = respond(makeRouter(), .GET, "/v2/models/digits/versions/3")
        #expect(context?.parameter("model") == "digits")
        #expect(context?.parameter("version") == "3")
        #expect(context?.parameter("other") == nil)
        #expect(context?.parameters == ["model": "digits", "version": "3"])
        var changed = context
        changed?.parameters["version"] = "4"
        #expect(changed?.parameter("version") == "4")
        #expect(context?.parameter("version") == "3")  // the original is untouched
    }

    @Test func headFallsBackToGet() {
        let (response, _) = respond(makeRouter(), .HEAD, "/healthz")
        #expect(response?.status.code == 200)
    }
}
