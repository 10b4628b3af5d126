import Foundation
import Glibc
import Testing
import TelemetryCore
@testable import Tracing

@Suite struct OTLPExporterTests {
    func fixedSpan() throws -> SpanData {
        let traceID = try #require(TraceID(hexString: "5b8efff798038103d269b633813fc60c"))
        let linkedTrace = try #require(TraceID(hexString: "4bf92f3577b34da6a3ce929d0e0e4736"))
        var state = TraceState()
        try state.set("congo", "t61rcWkgMzE")
        return SpanData(
            name: "POST /v2/models/{model}/infer", kind: .server,
            context: TraceContext(traceID: traceID, spanID: SpanID(0xEEE1_9B7E_C3C1_B174), flags: .sampled, traceState: state),
            parentSpanID: SpanID(0xEEE1_9B7E_C3C1_B173), parentIsRemote: true,
            startTimeUnixNano: 1_544_712_660_000_000_000, endTimeUnixNano: 1_544_712_661_000_000_000,
            attributes: ["http.request.method": "POST", "http.response.status_code": 200, "ratio": 0.5, "ok": true,
                         "tags": .stringArray(["a", "b\"c"])],
            events: [SpanEvent(name: "exception", timeUnixNano: 1_544_712_660_500_000_000,
                               attributes: ["exception.message": "line1\nline2"])],
            links: [SpanLink(TraceContext(traceID: linkedTrace, spanID: SpanID(0x00F0_67AA_0BA9_02B7), flags: .sampled, isRemote: true),
                             attributes: ["member": 1])],
            status: .error(message: "model failed"), droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 2)
    }

    @Test func jsonEncodingGolden() throws {
        let resource = Resource(attributes: ["service.name": "pd-inference", "service.version": "1.2.3"])
        let json = String(decoding: OTLPJSONEncoder.encode([try fixedSpan()], resource: resource,
                                                           scope: InstrumentationScope(name: "pd-inference", version: "1.2.3")),
                          as: UTF8.self)
        let expected = #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"pd-inference"}},{"key":"service.version","value":{"stringValue":"1.2.3"}}]},"scopeSpans":[{"scope":{"name":"pd-inference","version":"1.2.3"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","traceState":"congo=t61rcWkgMzE","parentSpanId":"eee19b7ec3c1b173","flags":769,"name":"POST /v2/models/{model}/infer","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"http.request.method","value":{"stringValue":"POST"}},{"key":"http.response.status_code","value":{"intValue":"200"}},{"key":"ratio","value":{"doubleValue":0.5}},{"key":"ok","value":{"boolValue":true}},{"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b\"c"}]}}}],"events":[{"timeUnixNano":"1544712660500000000","name":"exception","attributes":[{"key":"exception.message","value":{"stringValue":"line1\nline2"}}]}],"links":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","attributes":[{"key":"member","value":{"intValue":"1"}}],"flags":769}],"droppedLinksCount":2,"status":{"message":"model failed","code":2}}]}]}]}"#
        #expect(json == expected)
        // And it is valid JSON with the nesting collectors expect.
        let object = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let resourceSpans = try #require(object["resourceSpans"] as? [[String: Any]])
        let scopeSpans = try #require(resourceSpans.first?["scopeSpans"] as? [[String: Any]])
        let spans = try #require(scopeSpans.first?["spans"] as? [[String: Any]])
        #expect(spans.first?["kind"] as? Int == 2)
    }

    /// The bytes opentelemetry-proto's reference serializer makes for the same span
    /// (`.venv/bin/python tools/otlp_protobuf_golden.py`).
    @Test func protobufEncodingGolden() throws {
        let resource = Resource(attributes: ["service.name": "pd-inference", "service.version": "1.2.3"])
        let bytes = OTLPProtobufEncoder.encode([try fixedSpan()], resource: resource,
                                               scope: InstrumentationScope(name: "pd-inference", version: "1.2.3"))
        let expected = [
            "0ac3030a3c0a1e0a0c736572766963652e6e616d65120e0a0c70642d696e666572656e63650a1a0a0f73657276696365",
            "2e76657273696f6e12070a05312e322e331282030a150a0c70642d696e666572656e63651205312e322e3312e8020a10",
            "5b8efff798038103d269b633813fc60c1208eee19b7ec3c1b1741a11636f6e676f3d7436317263576b674d7a452208ee",
            "e19b7ec3c1b1732a1d504f5354202f76322f6d6f64656c732f7b6d6f64656c7d2f696e666572300239004859e3faeb6f",
            "15410012f41efbeb6f154a1d0a13687474702e726571756573742e6d6574686f6412060a04504f53544a200a19687474",
            "702e726573706f6e73652e7374617475735f636f6465120318c8014a120a05726174696f120921000000000000e03f4a",
            "080a026f6b120210014a160a0474616773120e2a0c0a030a01610a050a036222635a380900ad2601fbeb6f1512096578",
            "63657074696f6e1a220a11657863657074696f6e2e6d657373616765120d0a0b6c696e65310a6c696e65326a2f0a104b",
            "f92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b7220c0a066d656d62657212021801350103000070027a10",
            "120c6d6f64656c206661696c65641802850101030000",
        ].joined()
        #expect(hex(bytes) == expected)
    }

    /// Messages of 128 bytes and more take multi-byte lengths (the encoder moves their bytes up),
    /// and zero, false and empty attribute values are still written (their kind is the value).
    @Test func protobufLongMessagesAndEmptyValues() throws {
        var span = try fixedSpan()
        span.name = String(repeating: "n", count: 300)
        span.attributes = ["zero": 0, "no": false, "empty": "", "neg": -1]
        span.links = (0..<40).map { i in SpanLink(TraceContext(traceID: TraceID(high: 1, low: UInt64(i + 1)), spanID: SpanID(UInt64(i + 1)))) }
        span.status = .ok
        let bytes = OTLPProtobufEncoder.encode([span, span], resource: Resource(attributes: [:]),
                                               scope: InstrumentationScope(name: "s"))
        let request = try WireReader(bytes[...]).fields()
        #expect(request.count == 1 && request[0].number == 1)
        let resourceSpans = try WireReader(request[0].bytes).fields()
        #expect(resourceSpans.map(\.number) == [1, 2])  // an empty resource is still there
        let scopeSpans = try WireReader(resourceSpans[1].bytes).fields()
        #expect(scopeSpans.map(\.number) == [1, 2, 2])
        for spanField in scopeSpans.dropFirst() {
            let fields = try WireReader(spanField.bytes).fields()
            #expect(fields.first { $0.number == 5 }?.bytes.count == 300)
            #expect(fields.filter { $0.number == 9 }.count == 4)
            #expect(fields.filter { $0.number == 13 }.count == 40)
            let status = try #require(fields.first { $0.number == 15 })
            #expect(try WireReader(status.bytes).fields().map { [$0.number, Int($0.varint)] } == [[3, 1]])
            let neg = try WireReader(fields.filter { $0.number == 9 }[3].bytes).fields()
            let value = try WireReader(neg[1].bytes).fields()
            #expect(value.first?.number == 3 && value.first?.varint == UInt64(bitPattern: -1))
        }
    }

    /// Keys and string values go out as exactly their UTF-8 bytes, whether the string is stored
    /// inline (15 bytes or fewer) or on the heap, with multi-byte characters or an embedded NUL.
    @Test func protobufStringsAreTheirUTF8Bytes() throws {
        let texts = ["", "a\u{0}b", "é", "ü日本\u{0}", String(repeating: "x", count: 15), String(repeating: "y", count: 16),
                     "mixed ü \u{0} " + String(repeating: "long ", count: 30)]
        var span = try fixedSpan()
        span.attributes = SpanAttributes()
        for (i, text) in texts.enumerated() { span.attributes["k\(i)\(text)"] = .string(text) }
        let bytes = OTLPProtobufEncoder.encode([span], resource: Resource(attributes: [:]), scope: InstrumentationScope(name: "s"))
        let request = try WireReader(bytes[...]).fields()
        let scopeSpans = try WireReader(try WireReader(request[0].bytes).fields()[1].bytes).fields()
        let attributes = try WireReader(scopeSpans[1].bytes).fields().filter { $0.number == 9 }
        #expect(attributes.count == texts.count)
        for (i, attribute) in attributes.enumerated() {
            let keyValue = try WireReader(attribute.bytes).fields()
            #expect(Array(keyValue[0].bytes) == Array("k\(i)\(texts[i])".utf8))
            let value = try WireReader(keyValue[1].bytes).fields()
            #expect(value.first?.number == 1 && Array(value[0].bytes) == Array(texts[i].utf8))
        }
    }

    /// A span that does not fit the room first reserved for it is written again, sized: whichever
    /// string, attribute, link or event it outgrows the room at, the bytes are the sized ones, and
    /// nothing of the discarded attempt stays in the buffer.
    @Test func spansOutgrowingTheirRoomAreWrittenAgain() throws {
        var large = try fixedSpan()
        large.links = (0..<12).map { i in
            SpanLink(TraceContext(traceID: TraceID(high: 1, low: UInt64(i + 1)), spanID: SpanID(UInt64(i + 1))),
                     attributes: ["member": .int(i), "note": .string(String(repeating: "x", count: i * 7))])
        }
        large.events.append(SpanEvent(name: String(repeating: "e", count: 150), timeUnixNano: 1, attributes: ["k": "v"]))
        for span in [try fixedSpan(), large] {
            var sized = ByteBuffer(capacity: 64)
            OTLPProtobufEncoder.appendSpan(span, to: &sized, room: 1 << 20)
            let expected = sized.array()
            for room in ProtobufCursor.slack...(expected.count + ProtobufCursor.slack + 8) {
                var out = ByteBuffer(capacity: 64)
                out.append([0xAA])
                OTLPProtobufEncoder.appendSpan(span, to: &out, room: room)
                out.append([0xBB])
                #expect(out.array() == [0xAA] + expected + [0xBB], "room \(room)")
            }
        }
    }

    /// A group's members whose spans have the same field sizes are written as copies of one with
    /// their ids, start and flags replaced: the bytes are those of each member's span written on
    /// its own, for every range of members, whatever member the copies are made from.
    @Test func groupEncodingIsEachMembersSpan() throws {
        func member(_ i: UInt64, parent: Bool = true, state: Bool = false, start: UInt64? = nil,
                    flags: TraceFlags = .sampled, remote: Bool = false) throws -> SpanGroup.Member {
            var traceState = TraceState()
            if state { try traceState.set("vendor", "v\(i)") }
            return SpanGroup.Member(
                context: TraceContext(traceID: TraceID(high: 0xA000 + i, low: 0xB000 + i), spanID: SpanID(0xC000 + i),
                                      flags: flags, traceState: traceState),
                parentSpanID: parent ? SpanID(0xD000 + i) : nil, parentIsRemote: remote,
                startTimeUnixNano: start ?? 1_700_000_000_000_000_000 + i)
        }
        let members = [
            try member(1, parent: false), try member(2), try member(3, flags: [.sampled, .random]), try member(4, state: true),
            try member(5, start: 0), try member(6, remote: true), try member(7), try member(8, state: true),
        ]
        for attributes: SpanAttributes in [["inference.batch.id": 7], ["note": .string(String(repeating: "x", count: 200))]] {
            let group = SpanGroup(name: "inference.execute", kind: .internal, endTimeUnixNano: 1_800_000_000_000_000_000,
                                  attributes: attributes, links: [SpanLink(members[0].context)], status: .error(message: "failed"),
                                  droppedAttributesCount: 1, droppedLinksCount: 0, members: members)
            var each: [[UInt8]] = []
            for i in members.indices {
                var one = ByteBuffer(capacity: 64)
                OTLPProtobufEncoder.appendSpan(group.span(i), to: &one)
                each.append(one.array())
            }
            for lower in members.indices {
                for upper in lower...members.count {
                    var out = ByteBuffer(capacity: 64)
                    out.append([0xAA])
                    OTLPProtobufEncoder.appendSpans(group, members: lower..<upper, to: &out)
                    #expect(out.array() == [0xAA] + each[lower..<upper].joined(), "members \(lower)..<\(upper)")
                }
            }
        }
    }

    /// A group ended at once is split across the batches it fills, and every member's span
    /// reaches the collector once.
    @Test(arguments: [OTLPHTTPExporter.Encoding.protobuf, .json])
    func processorSplitsGroupsAcrossBatches(encoding: OTLPHTTPExporter.Encoding) throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let processor = BatchSpanProcessor(exporter: try exporter(port: server.port, encoding: encoding), configuration: .init(
            maxQueueSize: 100, maxExportBatchSize: 4, scheduleDelay: .seconds(60)))
        let tracer = Tracer(sampler: .alwaysOn, processor: processor)
        let parents = (1...10).map { TraceContext(traceID: TraceID(high: 1, low: UInt64($0)), spanID: SpanID(UInt64($0)), flags: .sampled) }
        let contexts = tracer.recordSpans("inference.queue", parents: parents, starts: Array(repeating: 5, count: 10), end: 9)
        #expect(processor.forceFlush(timeout: .seconds(10)))
        #expect(processor.exportedSpans == 10 && processor.droppedSpans == 0)
        #expect(server.requests.count == 3)  // 4 + 4 + 2
        var ids: [String] = []
        for request in server.requests {
            switch encoding {
            case .protobuf:
                let resourceSpans = try WireReader(WireReader(request.body[...]).fields()[0].bytes).fields()
                for span in try WireReader(resourceSpans[1].bytes).fields().filter({ $0.number == 2 }) {
                    ids.append(hex(Array(try WireReader(span.bytes).fields().first { $0.number == 2 }!.bytes)))
                }
            case .json:
                let object = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
                let spans = ((object?["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?
                    .first?["spans"] as? [[String: Any]] ?? []
                ids += spans.compactMap { $0["spanId"] as? String }
            }
        }
        #expect(ids.sorted() == contexts.map(\.spanID.description).sorted())
        #expect(processor.shutdown(timeout: .seconds(5)))
    }

    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    func exporter(port: UInt16, encoding: OTLPHTTPExporter.Encoding = .json,
                  compression: OTLPHTTPExporter.Compression = .none,
                  timeout: Duration = .seconds(2), attempts: Int = 3) throws -> OTLPHTTPExporter {
        try OTLPHTTPExporter(configuration: .init(
            endpoint: "http://127.0.0.1:\(port)/v1/traces", headers: [("x-api-key", "secret")],
            encoding: encoding, compression: compression, timeout: timeout,
            retry: .init(maxAttempts: attempts, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(50),
                         maxElapsed: .seconds(10)),
            resource: Resource(attributes: ["service.name": "test"])))
    }

    @Test func exportsToACollector() throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let exporter = try exporter(port: server.port)
        #expect(exporter.export([try fixedSpan()]) == .success)
        #expect(exporter.export([try fixedSpan(), try fixedSpan()]) == .success)
        let requests = server.requests
        #expect(requests.count == 2)
        #expect(requests[0].requestLine == "POST /v1/traces HTTP/1.1")
        #expect(requests[0].headers["content-type"] == "application/json")
        #expect(requests[0].headers["x-api-key"] == "secret")
        #expect(requests[0].headers["host"] == "127.0.0.1:\(server.port)")
        let object = try JSONSerialization.jsonObject(with: Data(requests[1].body)) as? [String: Any]
        let spans = ((object?["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?.first?["spans"] as? [Any]
        #expect(spans?.count == 2)
        #expect(server.connectionCount == 1)  // keep-alive
        exporter.shutdown()
    }

    /// The default protocol: binary protobuf, which parses back to the spans sent.
    @Test func exportsProtobufByDefault() throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let exporter = try OTLPHTTPExporter(configuration: .init(endpoint: "http://127.0.0.1:\(server.port)/v1/traces",
                                                                 compression: .gzip))
        #expect(exporter.export([try fixedSpan(), try fixedSpan(), try fixedSpan()]) == .success)
        let request = try #require(server.requests.first)
        #expect(request.headers["content-type"] == "application/x-protobuf")
        let body = try Gzip.decompress(request.body)
        let resourceSpans = try WireReader(WireReader(body[...]).fields()[0].bytes).fields()
        let scopeSpans = try WireReader(resourceSpans[1].bytes).fields()
        let spans = scopeSpans.filter { $0.number == 2 }
        #expect(spans.count == 3)
        let ids = try spans.map { try WireReader($0.bytes).fields().first { $0.number == 1 }.map { hex(Array($0.bytes)) } }
        #expect(ids == Array(repeating: "5b8efff798038103d269b633813fc60c", count: 3))
        exporter.shutdown()
    }

    /// Behind a batch processor, the exporter encodes each span on the thread that ends it and
    /// sends a batch as the frame around those bytes. Spans ended on four threads at once, in
    /// batches far larger than the slow collector's socket buffer (a send takes part of the body
    /// at a time), arrive each exactly once, whole, in both encodings.
    @Test(arguments: [OTLPHTTPExporter.Encoding.protobuf, .json])
    func processorEncodesSpansAsTheyEnd(encoding: OTLPHTTPExporter.Encoding) throws {
        let server = TestHTTPServer(slowReader: true)
        defer { server.stop() }
        let exporter = try exporter(port: server.port, encoding: encoding)
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(
            maxQueueSize: 8192, maxExportBatchSize: 3000, scheduleDelay: .seconds(60)))
        let template = try fixedSpan()
        let perThread = 1500
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for i in 0..<perThread {
                var span = template
                span.context.spanID = SpanID(UInt64(thread * perThread + i + 1))
                processor.onEnd(span)
            }
        }
        #expect(processor.forceFlush(timeout: .seconds(10)))
        #expect(processor.exportedSpans == 4 * perThread && processor.droppedSpans == 0)
        // Two full batches, each sent when it filled, each body over a MiB.
        let requests = server.requests
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.body.count > 1 << 20 })
        var ids: [String] = []
        for request in requests {
            switch encoding {
            case .protobuf:
                let resourceSpans = try WireReader(WireReader(request.body[...]).fields()[0].bytes).fields()
                #expect(try WireReader(resourceSpans[0].bytes).fields().count == 1)  // the resource's one attribute
                let spans = try WireReader(resourceSpans[1].bytes).fields().filter { $0.number == 2 }
                for span in spans {
                    let fields = try WireReader(span.bytes).fields()
                    ids.append(hex(Array(fields.first { $0.number == 2 }!.bytes)))
                    #expect(fields.filter { $0.number == 9 }.count == 5)  // every attribute
                }
                // Every span whole: they differ only in their ids, so all have the same length.
                #expect(Set(spans.map(\.bytes.count)).count == 1)
            case .json:
                let object = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
                let spans = ((object?["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?
                    .first?["spans"] as? [[String: Any]] ?? []
                ids += spans.compactMap { $0["spanId"] as? String }
                #expect(spans.allSatisfy { ($0["attributes"] as? [Any])?.count == 5 })
            }
        }
        #expect(ids.count == 4 * perThread)
        #expect(Set(ids).count == 4 * perThread)
        #expect(processor.shutdown(timeout: .seconds(5)))
    }

    /// A batch encoded span by span and framed is byte for byte the batch encoded at once.
    @Test func spanBySpanEncodingFramesToTheWholeBatch() throws {
        let spans = [try fixedSpan(), try fixedSpan(), try fixedSpan()]
        let resource = Resource(attributes: ["service.name": "test"])
        let scope = InstrumentationScope(name: "pd-inference", version: "1.0")
        var protobuf = ByteBuffer(capacity: 64)
        var json = ByteBuffer(capacity: 64)
        for i in spans.indices {
            OTLPProtobufEncoder.appendSpan(spans[i], to: &protobuf)
            OTLPJSONEncoder.appendSpan(spans[i], to: &json)
        }
        let framed = OTLPProtobufEncoder.envelope(resource: resource, scope: scope, spanBytes: protobuf.count) + protobuf.array()
        #expect(framed == OTLPProtobufEncoder.encode(spans, resource: resource, scope: scope))
        let (head, tail) = OTLPJSONEncoder.envelope(resource: resource, scope: scope)
        #expect(head + json.array() + tail == OTLPJSONEncoder.encode(spans, resource: resource, scope: scope))
        // The frame parses: request → resource spans → (resource, scope spans → scope, 3 spans).
        let resourceSpans = try WireReader(WireReader(framed[...]).fields()[0].bytes).fields()
        #expect(resourceSpans.map(\.number) == [1, 2])
        let scopeSpans = try WireReader(resourceSpans[1].bytes).fields()
        #expect(scopeSpans.map(\.number) == [1, 2, 2, 2])
    }

    @Test func gzipBodies() throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let exporter = try exporter(port: server.port, compression: .gzip)
        #expect(exporter.export([try fixedSpan()]) == .success)
        let request = try #require(server.requests.first)
        #expect(request.headers["content-encoding"] == "gzip")
        let json = try Gzip.decompress(request.body)
        #expect(String(decoding: json, as: UTF8.self).hasPrefix("{\"resourceSpans\":["))
    }

    @Test func retriesRetryableStatuses() throws {
        let server = TestHTTPServer(statuses: [503, 429])
        defer { server.stop() }
        let exporter = try exporter(port: server.port)
        #expect(exporter.export([try fixedSpan()]) == .success)
        #expect(server.requests.count == 3)
        #expect(exporter.retries == 2)
        #expect(exporter.requestsSent == 3)
    }

    @Test func doesNotRetryBadRequests() throws {
        let server = TestHTTPServer(statuses: [400])
        defer { server.stop() }
        let exporter = try exporter(port: server.port)
        guard case .failure(let message) = exporter.export([try fixedSpan()]) else {
            Issue.record("expected a failure")
            return
        }
        #expect(message.contains("400"))
        #expect(server.requests.count == 1)
    }

    @Test func deadEndpointIsCountedAsDroppedWithoutHanging() throws {
        // A port nothing listens on: connection refused, retried, then given up.
        let probe = TestHTTPServer()
        let port = probe.port
        probe.stop()
        let exporter = try exporter(port: port, attempts: 3)
        let processor = BatchSpanProcessor(exporter: exporter, configuration: .init(scheduleDelay: .seconds(60)))
        let tracer = Tracer(sampler: .alwaysOn, processor: processor)
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<5 { tracer.startSpan("s\(i)", context: .topLevel).end() }
        #expect(processor.shutdown(timeout: .seconds(10)))
        #expect(clock.now - start < .seconds(5))
        #expect(processor.exportedSpans == 0)
        #expect(processor.droppedSpans == 5)
        #expect(processor.failedSpans == 5)
        #expect(exporter.failedBatches == 1)
        #expect(exporter.lastError?.contains("gave up after 3 attempt(s)") == true)
    }

    @Test func hungCollectorHitsTheRequestTimeout() throws {
        let server = TestHTTPServer(respond: false)
        defer { server.stop() }
        let exporter = try exporter(port: server.port, timeout: .milliseconds(200), attempts: 2)
        let clock = ContinuousClock()
        let span = try fixedSpan()
        let elapsed = clock.measure {
            #expect(exporter.export([span]) != .success)
        }
        #expect(elapsed >= .milliseconds(380))
        #expect(elapsed < .seconds(3))
        #expect(exporter.lastError?.contains("timed out") == true)
    }

    @Test func httpsAndBadEndpointsAreRejected() {
        #expect(throws: TelemetryConfigurationError.self) {
            try OTLPHTTPExporter(configuration: .init(endpoint: "https://collector:4318/v1/traces"))
        }
        #expect(throws: TelemetryConfigurationError.self) {
            try OTLPHTTPExporter(configuration: .init(endpoint: "collector:4318"))
        }
    }

    @Test func configurationFromEnvironment() throws {
        let config = try TracingConfiguration(environment: [
            "OTEL_SERVICE_NAME": "pd-inference-prod",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod, team=ml%20platform,service.name=ignored",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3Ddef, x-tenant = t1",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        ], serviceName: "pd-inference", serviceVersion: "1.0.0")
        #expect(config.otlp.endpoint == "http://otel-collector:4318/v1/traces")
        #expect(config.otlp.headers.map { "\($0.0)=\($0.1)" } == ["api-key=abc=def", "x-tenant=t1"])
        #expect(config.otlp.compression == .gzip)
        #expect(config.otlp.timeout == .milliseconds(2500))
        #expect(config.sampler == .parentBased(root: .traceIDRatio(0.25)))
        #expect(config.batch.maxQueueSize == 100)
        #expect(config.batch.maxExportBatchSize == 25, "a quarter of a queue set below the default")
        #expect(config.exporter == .otlp)
        #expect(config.resource.attributes["service.name"] == "pd-inference-prod")
        #expect(config.resource.attributes["service.version"] == "1.0.0")
        #expect(config.resource.attributes["team"] == "ml platform")
        #expect(config.resource.attributes["host.name"] != nil)

        // Batch sizes: the defaults; a batch set explicitly (at most the queue); a quarter of a smaller queue.
        for (environment, queue, batch) in [([:], 8192, 2048), (["OTEL_BSP_MAX_QUEUE_SIZE": "20000"], 20000, 2048),
                                            (["OTEL_BSP_MAX_QUEUE_SIZE": "1000"], 1000, 250),
                                            (["OTEL_BSP_MAX_QUEUE_SIZE": "1000", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512"], 1000, 512),
                                            (["OTEL_BSP_MAX_QUEUE_SIZE": "1000", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "5000"], 1000, 1000),
                                            (["OTEL_BSP_MAX_QUEUE_SIZE": "2"], 2, 1)] {
            let sized = try TracingConfiguration(environment: environment, serviceName: "s", serviceVersion: "1")
            #expect(sized.batch.maxQueueSize == queue && sized.batch.maxExportBatchSize == batch, "\(environment)")
        }
        // The same rule for a configuration made in Swift.
        #expect(BatchSpanProcessor.Configuration(maxQueueSize: 1000).maxExportBatchSize == 250)
        #expect(BatchSpanProcessor.Configuration(maxQueueSize: 1000, maxExportBatchSize: 5000).maxExportBatchSize == 1000)

        let specific = try TracingConfiguration(environment: [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/custom/traces",
        ], serviceName: "s")
        #expect(specific.otlp.endpoint == "http://b:4318/custom/traces")
        #expect(try TracingConfiguration(environment: [:], serviceName: "s").otlp.endpoint == "http://localhost:4318/v1/traces")
        #expect(try TracingConfiguration(environment: [:], serviceName: "s").otlp.encoding == .protobuf)
        #expect(try TracingConfiguration(environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                                       "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "HTTP/JSON"],
                                         serviceName: "s").otlp.encoding == .json)

        func failure(_ environment: [String: String]) -> String? {
            do {
                _ = try TracingConfiguration(environment: environment, serviceName: "s")
                return nil
            } catch {
                return error.variable
            }
        }
        #expect(failure(["OTEL_TRACES_SAMPLER_ARG": "x", "OTEL_TRACES_SAMPLER": "traceidratio"]) == "OTEL_TRACES_SAMPLER_ARG")
        #expect(failure(["OTEL_TRACES_SAMPLER": "sometimes"]) == "OTEL_TRACES_SAMPLER")
        #expect(failure(["OTEL_TRACES_EXPORTER": "zipkin"]) == "OTEL_TRACES_EXPORTER")
        #expect(failure(["OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"]) == "OTEL_EXPORTER_OTLP_ENDPOINT")
        #expect(failure(["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]) == "OTEL_EXPORTER_OTLP_PROTOCOL")
        #expect(failure(["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/xml"]) == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        #expect(failure(["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "soon"]) == "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        #expect(failure(["OTEL_RESOURCE_ATTRIBUTES": "novalue"]) == "OTEL_RESOURCE_ATTRIBUTES")
        #expect(failure(["OTEL_SDK_DISABLED": "maybe"]) == "OTEL_SDK_DISABLED")
        // https is fine when nothing is exported over OTLP.
        #expect(failure(["OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_TRACES_EXPORTER": "none"]) == nil)

        let disabled = try TracingConfiguration(environment: ["OTEL_SDK_DISABLED": "true"], serviceName: "s").makeTracer()
        #expect(disabled.processor == nil)
        #expect(!disabled.tracer.startSpan("x", context: .topLevel).isRecording)
    }

    @Test func urlParsing() throws {
        #expect(try HTTPURL("http://collector:4318/v1/traces") == HTTPURL(host: "collector", port: 4318, path: "/v1/traces"))
        #expect(try HTTPURL("http://collector") == HTTPURL(host: "collector", port: 80, path: "/"))
        #expect(try HTTPURL("http://[::1]:4318/x?y=1") == HTTPURL(host: "::1", port: 4318, path: "/x?y=1"))
        #expect(try HTTPURL("http://[::1]:4318/x").hostHeader == "[::1]:4318")
        #expect(throws: HTTPClientError.self) { try HTTPURL("http://host:99999/") }
    }

    @Test func responseParser() {
        var parser = HTTPResponseParser()
        #expect(parser.feed(Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab".utf8)) == .needMore)
        guard case .complete(let head) = parser.feed(Array("cd\r\n0\r\n\r\n".utf8)) else {
            Issue.record("chunked response not complete")
            return
        }
        #expect(head.status == 200)
        #expect(head.keepAlive)

        var closing = HTTPResponseParser()
        #expect(closing.feed(Array("HTTP/1.0 503 Busy\r\nRetry-After: 3\r\n\r\nbody".utf8)) == .needMore)
        guard case .complete(let busy) = closing.feedEndOfStream() else {
            Issue.record("read-until-close response not complete")
            return
        }
        #expect(busy.status == 503)
        #expect(busy.header("retry-after") == "3")
        #expect(!busy.keepAlive)

        // Split anywhere, one byte at a time, or in one piece: the same head, and the body read.
        let whole = Array("HTTP/1.1 200 OK\r\nContent-Type:  application/json \r\nCONTENT-LENGTH: 2\r\n\r\n{}".utf8)
        for cut in 0...whole.count {
            var split = HTTPResponseParser()
            let first = split.feed(Array(whole[..<cut]))
            let action = cut == whole.count ? first : split.feed(Array(whole[cut...]))
            guard case .complete(let head) = action else {
                Issue.record("not complete when split at \(cut): \(action)")
                continue
            }
            #expect(head.status == 200 && head.keepAlive)
            #expect(head.header("Content-Type") == "application/json" && head.header("content-length") == "2")
        }
        var bytewise = HTTPResponseParser()
        let actions = whole.map { bytewise.feed([$0]) }
        #expect(actions.dropLast().allSatisfy { $0 == .needMore })
        if case .complete = actions.last {} else { Issue.record("byte-by-byte response not complete") }

        // Connection and Transfer-Encoding are token lists, in any case.
        for (header, keepAlive) in [("Connection: keep-alive, Close", false), ("Connection: Upgrade,close", false),
                                    ("Connection: closed", true), ("Connection: Keep-Alive", true)] {
            var parser = HTTPResponseParser()
            guard case .complete(let head) = parser.feed(Array("HTTP/1.1 204 No Content\r\n\(header)\r\n\r\n".utf8)) else {
                Issue.record("not complete with \(header)")
                continue
            }
            #expect(head.keepAlive == keepAlive, "\(header)")
        }
        var chunked = HTTPResponseParser()
        #expect(chunked.feed(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n".utf8)) == .needMore)
        if case .complete = chunked.feed(Array("0\r\n\r\n".utf8)) {} else { Issue.record("chunked coding not recognised") }
        var oneZero = HTTPResponseParser()
        guard case .complete(let http10) = oneZero.feed(Array("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n".utf8)) else {
            Issue.record("HTTP/1.0 keep-alive response not complete")
            return
        }
        #expect(http10.keepAlive)

        var broken = HTTPResponseParser()
        if case .failed = broken.feed(Array("SMTP ready\r\n\r\n".utf8)) {} else { Issue.record("accepted a bad status line") }
    }
}

/// Reads protobuf wire format into fields, for checking what the encoder wrote.
struct WireReader {
    struct Field {
        var number: Int
        var varint: UInt64 = 0
        var bytes: ArraySlice<UInt8> = []
    }

    struct Malformed: Error {}

    var rest: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

    private mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = rest.popFirst() {
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
            guard shift < 64 else { throw Malformed() }
        }
        throw Malformed()
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n <= rest.count else { throw Malformed() }
        defer { rest = rest.dropFirst(n) }
        return rest.prefix(n)
    }

    /// Every field to the end; fails on a truncated or unknown wire type.
    func fields() throws -> [Field] {
        var reader = self
        return try reader.readAll()
    }

    private mutating func readAll() throws -> [Field] {
        var fields: [Field] = []
        while !rest.isEmpty {
            let key = try varint()
            var field = Field(number: Int(key >> 3))
            switch key & 7 {
            case 0: field.varint = try varint()
            case 1: field.bytes = try take(8)
            case 2: field.bytes = try take(Int(try varint()))
            case 5: field.bytes = try take(4)
            default: throw Malformed()
            }
            fields.append(field)
        }
        return fields
    }
}
