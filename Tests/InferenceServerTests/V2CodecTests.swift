import InferenceCore
import ONNXRuntime
import Testing
@testable import InferenceServer

// MARK: Helpers

private func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

private func decode(_ text: String, header: Int? = nil) throws(InferenceError) -> InferRequest {
    try V2Codec.decodeRequest(body: utf8(text), inferenceHeaderLength: header)
}

/// A body in the binary tensor data extension's layout, and its header length.
private func binaryBody(_ json: String, _ tensors: [[UInt8]]) -> (body: [UInt8], header: Int) {
    let header = utf8(json)
    return (header + tensors.flatMap { $0 }, header.count)
}

private func littleEndian<T>(_ values: [T]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
}

private func tensorBytes(_ tensor: Tensor) -> [UInt8] {
    tensor.withUnsafeBytes { Array($0) }
}

/// Decoding `body` fails with `code`, and the message contains every fragment in `mentions`.
private func expectFailure(_ body: [UInt8], header: Int? = nil, _ code: InferenceError.Code, mentions: [String],
                           sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let request = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: header)
        Issue.record("decoded \(request.inputs.map(\.name)), expected \(code)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        for fragment in mentions {
            #expect(error.message.contains(fragment), "'\(fragment)' not in: \(error.message)", sourceLocation: sourceLocation)
        }
    }
}

private func expectFailure(_ text: String, header: Int? = nil, _ code: InferenceError.Code, mentions: [String],
                           sourceLocation: SourceLocation = #_sourceLocation) {
    expectFailure(utf8(text), header: header, code, mentions: mentions, sourceLocation: sourceLocation)
}

/// A body whose only input is `name` with the given datatype, shape and data text.
private func single(_ datatype: String, _ shape: String, _ data: String, name: String = "x") -> String {
    #"{"inputs":[{"name":"\#(name)","shape":\#(shape),"datatype":"\#(datatype)","data":\#(data)}]}"#
}

/// One sample tensor per supported datatype: JSON data text and the little-endian bytes it means.
struct V2TensorSample: Sendable, CustomStringConvertible {
    let type: DataType
    let json: String
    let bytes: [UInt8]
    var count: Int { bytes.count / type.byteWidth }
    var description: String { type.protocolName }

    static let all: [V2TensorSample] = [
        V2TensorSample(type: .float32, json: "[1.5,-2.25,0.1,3.4028235e+38,-0.0,1e-45,16777216,0.10000000149011612]",
               bytes: littleEndian([Float(1.5), -2.25, 0.1, .greatestFiniteMagnitude, -0.0, Float(bitPattern: 1), 16777216, 0.1])),
        V2TensorSample(type: .float64, json: "[0.1,-1e308,5e-324,0.30000000000000004,2.5E+3,123456789012345678901234567890]",
               bytes: littleEndian([0.1, -1e308, Double(bitPattern: 1), 0.30000000000000004, 2500.0, 123456789012345678901234567890.0])),
        V2TensorSample(type: .int64, json: "[-9223372036854775808,9223372036854775807,0,-1,2.0,3e2]",
               bytes: littleEndian([Int64.min, .max, 0, -1, 2, 300])),
        V2TensorSample(type: .int32, json: "[-2147483648,2147483647,7,-0]", bytes: littleEndian([Int32.min, .max, 7, 0])),
        V2TensorSample(type: .int8, json: "[-128,127,0,5]", bytes: littleEndian([Int8.min, .max, 0, 5])),
        V2TensorSample(type: .uint8, json: "[0,255,1,128]", bytes: littleEndian([UInt8(0), 255, 1, 128])),
        V2TensorSample(type: .bool, json: "[true,false,true,true]", bytes: [1, 0, 1, 1]),
    ]
}

// MARK: Round trips

@Suite struct V2CodecRoundTripTests {
    @Test(arguments: V2TensorSample.all)
    func jsonDataDecodesEncodesAndDecodesAgain(sample: V2TensorSample) throws {
        let request = try decode(single(sample.type.protocolName, "[\(sample.count)]", sample.json))
        let input = try #require(request.inputs.first)
        #expect(input.name == "x" && input.datatype == sample.type && input.shape == [sample.count])
        #expect(tensorBytes(input.tensor) == sample.bytes)

        let (body, header) = V2Codec.encodeResponse(modelName: "m", modelVersion: "1", id: nil,
                                                    outputs: [(name: "y", tensor: input.tensor)]) { _ in false }
        #expect(header == nil)
        guard case .object(let response) = try JSONValue.parse(body),
              case .array(let outputs) = response["outputs"], case .object(let output) = outputs.first,
              let data = output["data"] else {
            Issue.record("unexpected response \(String(decoding: body, as: UTF8.self))")
            return
        }
        #expect(output["datatype"] == .string(sample.type.protocolName))
        #expect(output["shape"] == .array([.int(Int64(sample.count))]))
        let again = try decode(single(sample.type.protocolName, "[\(sample.count)]", data.description))
        #expect(tensorBytes(again.inputs[0].tensor) == sample.bytes)
    }

    @Test(arguments: V2TensorSample.all)
    func binaryDataDecodesAndEncodes(sample: V2TensorSample) throws {
        let json = #"{"inputs":[{"name":"x","shape":[\#(sample.count)],"datatype":"\#(sample.type.protocolName)","parameters":{"binary_data_size":\#(sample.bytes.count)}}],"parameters":{"binary_data_output":true}}"#
        let (body, header) = binaryBody(json, [sample.bytes])
        let request = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: header)
        let tensor = request.inputs[0].tensor
        #expect(tensor.dataType == sample.type && tensor.shape == [sample.count])
        #expect(tensorBytes(tensor) == sample.bytes)
        #expect(request.wantsBinaryData(forOutput: "y"))

        let (response, responseHeader) = V2Codec.encodeResponse(modelName: "m", modelVersion: "1", id: "r",
                                                                 outputs: [(name: "y", tensor: tensor)]) { request.wantsBinaryData(forOutput: $0) }
        let length = try #require(responseHeader)
        #expect(Array(response[length...]) == sample.bytes)
        let expected = #"{"model_name":"m","model_version":"1","id":"r","outputs":[{"name":"y","datatype":"\#(sample.type.protocolName)","shape":[\#(sample.count)],"parameters":{"binary_data_size":\#(sample.bytes.count)}}]}"#
        #expect(String(decoding: response[..<length], as: UTF8.self) == expected)
    }

    @Test func nestedAndFlatDataGiveTheSameRowMajorTensor() throws {
        let flat = try decode(single("INT32", "[2,3]", "[1,2,3,4,5,6]")).inputs[0].tensor
        let nested = try decode(single("INT32", "[2,3]", "[[1,2,3],[4,5,6]]")).inputs[0].tensor
        let deep = try decode(single("INT32", "[2,3,1]", " [ [ [1] , [2],[3] ] ,[[4],[5],[6]]] ")).inputs[0].tensor
        #expect(flat.values(as: Int32.self) == [1, 2, 3, 4, 5, 6])
        #expect(nested.values(as: Int32.self) == [1, 2, 3, 4, 5, 6] && nested.shape == [2, 3])
        #expect(deep.values(as: Int32.self) == [1, 2, 3, 4, 5, 6] && deep.shape == [2, 3, 1])
    }

    @Test func scalarsAndEmptyTensors() throws {
        let scalar = try decode(single("FP64", "[]", "[2.5]")).inputs[0].tensor
        #expect(scalar.shape == [] && scalar.values(as: Double.self) == [2.5])
        let empty = try decode(single("FP32", "[0,4]", "[]")).inputs[0].tensor
        #expect(empty.shape == [0, 4] && empty.count == 0)
        let emptyRows = try decode(single("FP32", "[2,0]", "[[],[]]")).inputs[0].tensor
        #expect(emptyRows.count == 0)
    }

    @Test func dataBeforeShapeAndDatatypeIsDecodedAfterwards() throws {
        let request = try decode(#"{"inputs":[{"data":[[1,2],[3,4]],"datatype":"UINT8","name":"x","shape":[2,2]}]}"#)
        #expect(request.inputs[0].tensor.values(as: UInt8.self) == [1, 2, 3, 4])
    }

    @Test func requestFieldsAndParameters() throws {
        let request = try decode(#"""
        {"id":"a\"b\u00e9\ud83d\ude00","model_name":"ignored","parameters":{"timeout":1500,"custom":[1,{"k":null}]},
         "inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"note":"hi"}}],
         "outputs":[{"name":"p","parameters":{"binary_data":true,"classification":2}},{"name":"q"}]}
        """#)
        #expect(request.id == "a\"bé😀")
        #expect(request.timeoutMicroseconds == 1500 && request.timeoutMilliseconds == 2)
        #expect(request.parameters["custom"] == .array([.int(1), .object(["k": .null])]))
        #expect(request.inputs[0].parameters == ["note": .string("hi")])
        #expect(request.outputs == [RequestedOutput(name: "p", binaryData: true, parameters: ["binary_data": .bool(true), "classification": .int(2)]),
                                    RequestedOutput(name: "q")])
        #expect(request.wantsBinaryData(forOutput: "p") && !request.wantsBinaryData(forOutput: "q"))
        #expect(!request.binaryDataOutput)
    }

    @Test func responseJSONIsCompactAndNonFiniteFloatsBecomeNull() throws {
        let tensor = Tensor(shape: [2, 2], values: [Float(1), 0.5, .nan, -.infinity])
        let flags = Tensor(shape: [2], values: [true, false])
        let (body, header) = V2Codec.encodeResponse(modelName: "m\"1", modelVersion: "3", id: nil,
                                                    outputs: [(name: "y", tensor: tensor), (name: "b", tensor: flags)]) { _ in false }
        #expect(header == nil)
        #expect(String(decoding: body, as: UTF8.self) == #"{"model_name":"m\"1","model_version":"3","outputs":[{"name":"y","datatype":"FP32","shape":[2,2],"data":[1.0,0.5,null,null]},{"name":"b","datatype":"BOOL","shape":[2],"data":[true,false]}]}"#)
    }

    @Test func mixedBinaryAndJSONOutputsKeepOutputOrderForTheBinaryTail() throws {
        let a = Tensor(shape: [2], values: [Int64(1), -2])
        let b = Tensor(shape: [1], values: [Int8(-3)])
        let c = Tensor(shape: [3], values: [UInt8(7), 8, 9])
        let (body, header) = V2Codec.encodeResponse(modelName: "m", modelVersion: "1", id: nil,
                                                    outputs: [(name: "a", tensor: a), (name: "b", tensor: b), (name: "c", tensor: c)]) { $0 != "b" }
        let length = try #require(header)
        #expect(Array(body[length...]) == littleEndian([Int64(1), -2]) + [7, 8, 9])
        let json = String(decoding: body[..<length], as: UTF8.self)
        #expect(json.contains(#"{"name":"b","datatype":"INT8","shape":[1],"data":[-3]}"#))
        #expect(json.contains(#""parameters":{"binary_data_size":16}"#) && json.contains(#""parameters":{"binary_data_size":3}"#))
    }

    @Test func sixThousandFloatBodyDecodes() throws {
        let values = (0..<6272).map { Float($0) * 0.001 - 3.1 }
        let text = single("FP32", "[8,784]", "[" + values.map(\.description).joined(separator: ",") + "]", name: "pixels")
        let request = try decode(text)
        let decoded = request.inputs[0].tensor.values(as: Float.self)
        #expect(request.inputs[0].shape == [8, 784])
        #expect(decoded.count == 6272)
        #expect(zip(decoded, values).allSatisfy { $0.bitPattern == $1.bitPattern })
    }
}

// MARK: tritonclient

/// Bodies captured from tritonclient.http's `_get_inference_request` (JSON via rapidjson, no spaces).
@Suite struct V2CodecTritonClientTests {
    @Test func binaryInputJSONInputAndPerOutputBinaryFlags() throws {
        // InferInput("INPUT0",[1,3],"FP32").set_data_from_numpy(a) (binary by default);
        // InferInput("INPUT1",[1,3],"BOOL").set_data_from_numpy(b, binary_data=False);
        // outputs OUTPUT0 (binary_data=True), OUTPUT1 (binary_data=False); request_id "req-7"; timeout=2000000.
        let json = #"{"id":"req-7","inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}},{"name":"INPUT1","shape":[1,3],"datatype":"BOOL","data":[true,false,true]}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}},{"name":"OUTPUT1","parameters":{"binary_data":false}}],"parameters":{"timeout":2000000}}"#
        let tail: [UInt8] = [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x10, 0xC0, 0x00, 0x00, 0x40, 0x40]
        let (body, header) = binaryBody(json, [tail])
        #expect(header == 339)
        let request = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: header)
        #expect(request.id == "req-7")
        #expect(request.inputs.map(\.name) == ["INPUT0", "INPUT1"])
        #expect(request.inputs[0].tensor.values(as: Float.self) == [1.5, -2.25, 3])
        #expect(request.inputs[1].tensor.values(as: Bool.self) == [true, false, true])
        #expect(request.inputs[1].shape == [1, 3])
        #expect(request.outputs.map(\.binaryData) == [true, false])
        #expect(request.wantsBinaryData(forOutput: "OUTPUT0") && !request.wantsBinaryData(forOutput: "OUTPUT1"))
        #expect(request.timeoutMicroseconds == 2_000_000 && request.timeoutMilliseconds == 2000)
    }

    @Test func noOutputsListedAsksForBinaryOutputs() throws {
        let request = try decode(#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[0.10000000149011612,0.20000000298023224]}],"parameters":{"binary_data_output":true}}"#)
        #expect(request.inputs[0].tensor.values(as: Float.self) == [0.1, 0.2])
        #expect(request.outputs.isEmpty && request.binaryDataOutput && request.wantsBinaryData(forOutput: "anything"))
        #expect(request.id == nil && request.timeoutMilliseconds == nil)
    }

    @Test func int64JSONInput() throws {
        let request = try decode(#"{"inputs":[{"name":"ids","shape":[2,2],"datatype":"INT64","data":[1,-2,3,4]}],"parameters":{"binary_data_output":true}}"#)
        #expect(request.inputs[0].tensor.values(as: Int64.self) == [1, -2, 3, 4])
    }
}

// MARK: Errors

@Suite struct V2CodecErrorTests {
    @Test func malformedBodies() {
        expectFailure("", .invalidRequest, mentions: ["empty"])
        expectFailure("hello", .invalidRequest, mentions: ["JSON object"])
        expectFailure("[1,2]", .invalidRequest, mentions: ["JSON object", "array"])
        expectFailure(#"{"inputs":[]"#, .invalidRequest, mentions: ["not valid JSON", "end"])
        expectFailure(#"{"inputs":[]} x"#, .invalidRequest, mentions: ["after the request object"])
        expectFailure(#"{"id":"1"}"#, .invalidRequest, mentions: ["inputs is missing"])
        expectFailure(#"{"inputs":[]}"#, .invalidRequest, mentions: ["inputs must hold at least one input"])
        expectFailure(#"{"inputs":{}}"#, .invalidRequest, mentions: ["inputs must be an array"])
        expectFailure(#"{"inputs":[1]}"#, .invalidRequest, mentions: ["inputs[0] must be an object"])
        expectFailure(#"{"inputs":[],"inputs":[]}"#, .invalidRequest, mentions: ["more than one \"inputs\""])
        expectFailure(#"{"id":7,"inputs":[]}"#, .invalidRequest, mentions: ["id must be a string"])
    }

    @Test func missingInputFieldsNameTheirPath() {
        let good = #"{"name":"a","shape":[1],"datatype":"FP32","data":[1]}"#
        expectFailure(#"{"inputs":[\#(good),{"name":"b","datatype":"FP32","data":[1]}]}"#, .invalidRequest, mentions: ["inputs[1].shape is missing"])
        expectFailure(#"{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}"#, .invalidRequest, mentions: ["inputs[0].name is missing"])
        expectFailure(#"{"inputs":[{"name":"a","shape":[1],"data":[1]}]}"#, .invalidRequest, mentions: ["inputs[0].datatype is missing"])
        expectFailure(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32"}]}"#, .invalidRequest, mentions: ["inputs[0].data is missing"])
        expectFailure(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"shared_memory_region":"r"}}]}"#,
                      .invalidRequest, mentions: ["inputs[0].data is missing", "shared memory"])
        expectFailure(#"{"inputs":[{"name":1,"shape":[1],"datatype":"FP32","data":[1]}]}"#, .invalidRequest, mentions: ["inputs[0].name must be a string"])
        expectFailure(#"{"inputs":[{"name":"a","shape":"1","datatype":"FP32","data":[1]}]}"#, .invalidRequest, mentions: ["inputs[0].shape must be an array"])
        expectFailure(#"{"inputs":[{"name":"a","shape":[1.5],"datatype":"FP32","data":[1]}]}"#, .invalidRequest, mentions: ["inputs[0].shape[0] must be an integer"])
        expectFailure(#"{"inputs":[{"name":"a","shape":[1,"2"],"datatype":"FP32","data":[1]}]}"#, .invalidRequest, mentions: ["inputs[0].shape[1] must be an integer"])
        expectFailure(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":1}]}"#, .invalidRequest, mentions: ["inputs[0].data must be an array"])
        expectFailure(#"{"inputs":[{"name":"a","name":"b","shape":[1],"datatype":"FP32","data":[1]}]}"#, .invalidRequest, mentions: ["inputs[0] has more than one \"name\""])
        expectFailure(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1],"parameters":[]}]}"#, .invalidRequest, mentions: ["inputs[0].parameters must be an object"])
    }

    @Test func badShapes() {
        expectFailure(single("FP32", "[2,-1]", "[1,2]", name: "img"), .invalidInput, mentions: ["input 'img'", "negative", "inputs[0].shape[1]"])
        expectFailure(single("FP32", "[9223372036854775807,9223372036854775807]", "[1]", name: "img"), .invalidInput, mentions: ["input 'img'", "too large"])
        expectFailure(single("FP32", "[99999999999999999999999]", "[1]", name: "img"), .invalidInput, mentions: ["input 'img'", "too large"])
        expectFailure(single("FP32", "[0,100000000000]", "[]", name: "img"), .invalidInput, mentions: ["too large"])
        expectFailure(single("FP32", "[1000000]", "[1]", name: "img"), .invalidInput, mentions: ["input 'img'", "too large"])
    }

    @Test func elementCountMismatchNamesInputAndCounts() {
        expectFailure(single("FP32", "[2,3]", "[1,2,3,4,5]", name: "img"), .invalidInput, mentions: ["input 'img'", "5 data elements", "needs 6"])
        expectFailure(single("INT64", "[2]", "[[1,2],[3]]", name: "ids"), .invalidInput, mentions: ["input 'ids'", "3 data elements", "needs 2"])
        expectFailure(single("BOOL", "[1]", "[]"), .invalidInput, mentions: ["0 data elements", "needs 1"])
    }

    @Test func unsupportedDatatypes() {
        expectFailure(single("BYTES", "[1]", #"["abc"]"#, name: "text"), .invalidInput, mentions: ["input 'text'", "BYTES", "not supported"])
        expectFailure(single("FP16", "[1]", "[1]", name: "h"), .invalidInput, mentions: ["input 'h'", "FP16"])
        expectFailure(single("fp32", "[1]", "[1]"), .invalidInput, mentions: ["fp32"])
    }

    @Test func wrongElementValues() {
        expectFailure(single("INT8", "[2]", "[1,128]", name: "q"), .invalidInput, mentions: ["input 'q'", "element 1", "128", "-128...127"])
        expectFailure(single("UINT8", "[1]", "[-1]"), .invalidInput, mentions: ["-1", "0...255"])
        expectFailure(single("INT64", "[1]", "[9223372036854775808]"), .invalidInput, mentions: ["9223372036854775808"])
        expectFailure(single("INT32", "[2]", "[1,1.5]", name: "n"), .invalidInput, mentions: ["input 'n'", "element 1", "1.5", "not an integer"])
        expectFailure(single("FP32", "[2]", #"[1,"2"]"#, name: "f"), .invalidInput, mentions: ["input 'f'", "element 1", "a string", "expected a number"])
        expectFailure(single("FP32", "[1]", #"["NaN"]"#, name: "f"), .invalidInput, mentions: ["input 'f'", "a string"])
        expectFailure(single("FP32", "[1]", "[true]"), .invalidInput, mentions: ["a boolean"])
        expectFailure(single("FP32", "[1]", "[null]"), .invalidInput, mentions: ["null"])
        expectFailure(single("FP64", "[1]", "[{}]"), .invalidInput, mentions: ["an object"])
        expectFailure(single("BOOL", "[2]", "[true,1]", name: "m"), .invalidInput, mentions: ["input 'm'", "element 1", "expected true or false"])
        expectFailure(single("FP32", "[1]", "[1e39]", name: "f"), .invalidInput, mentions: ["input 'f'", "1e39", "range"])
        expectFailure(single("FP64", "[1]", "[1e309]"), .invalidInput, mentions: ["1e309", "range"])
    }

    @Test func nanAndInfinityAreNotJSON() {
        for token in ["NaN", "Infinity", "-Infinity"] {
            expectFailure(single("FP32", "[2]", "[1,\(token)]", name: "f"), .invalidRequest, mentions: ["input 'f'", "element 1", "NaN and Infinity"])
        }
        expectFailure(single("INT32", "[1]", "[NaN]"), .invalidRequest, mentions: ["NaN and Infinity"])
    }

    @Test func duplicateNamesAndBadParameters() {
        let input = #"{"name":"a","shape":[1],"datatype":"FP32","data":[1]}"#
        expectFailure(#"{"inputs":[\#(input),\#(input)]}"#, .invalidRequest, mentions: ["inputs[1].name \"a\" repeats inputs[0].name"])
        expectFailure(#"{"inputs":[\#(input)],"outputs":[{"name":"y"},{"name":"y"}]}"#, .invalidRequest, mentions: ["outputs[1].name"])
        expectFailure(#"{"inputs":[\#(input)],"outputs":[{"parameters":{}}]}"#, .invalidRequest, mentions: ["outputs[0].name is missing"])
        expectFailure(#"{"inputs":[\#(input)],"outputs":[{"name":"y","parameters":{"binary_data":1}}]}"#, .invalidRequest, mentions: ["outputs[0].parameters.binary_data must be a boolean"])
        expectFailure(#"{"inputs":[\#(input)],"parameters":{"binary_data_output":"yes"}}"#, .invalidRequest, mentions: ["parameters.binary_data_output"])
        expectFailure(#"{"inputs":[\#(input)],"parameters":{"timeout":-5}}"#, .invalidRequest, mentions: ["parameters.timeout"])
        expectFailure(#"{"inputs":[\#(input)],"parameters":{"timeout":1,"timeout":2}}"#, .invalidRequest, mentions: ["duplicate key"])
        // Names beyond the first sixteen (which are compared in pairs) are checked too.
        let named = (0..<40).map { #"{"name":"n\#($0 == 33 ? 7 : $0)","shape":[1],"datatype":"FP32","data":[1]}"# }
        expectFailure(#"{"inputs":[\#(named.joined(separator: ","))]}"#, .invalidRequest, mentions: ["inputs[33].name \"n7\" repeats inputs[7].name"])
        let distinct = (0..<40).map { #"{"name":"n\#($0)","shape":[1],"datatype":"FP32","data":[1]}"# }
        #expect((try? decode(#"{"inputs":[\#(distinct.joined(separator: ","))]}"#))?.inputs.count == 40)
        // Each known member once, in any order; a repeated unknown member is no error.
        expectFailure(#"{"inputs":[{"data":[1],"shape":[1],"datatype":"FP32","name":"a","data":[2]}]}"#, .invalidRequest,
                      mentions: ["inputs[0] has more than one \"data\""])
        expectFailure(#"{"id":"x","inputs":[\#(input)],"id":"y"}"#, .invalidRequest, mentions: ["more than one \"id\""])
        #expect((try? decode(#"{"x":1,"inputs":[{"y":1,"y":2,"name":"a","shape":[1],"datatype":"FP32","data":[1]}],"x":2}"#)) != nil)
    }

    @Test func binaryLayoutErrors() {
        let fp32 = #"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#
        let eight = littleEndian([Float(1), 2])
        let good = binaryBody(fp32, [eight])
        #expect(throws: Never.self) { try V2Codec.decodeRequest(body: good.body, inferenceHeaderLength: good.header) }

        expectFailure(good.body, header: good.body.count + 1, .invalidRequest, mentions: ["Inference-Header-Content-Length", "larger than the body"])
        expectFailure(good.body, header: -1, .invalidRequest, mentions: ["Inference-Header-Content-Length", "negative"])
        expectFailure(good.body + [0], header: good.header, .invalidRequest, mentions: ["9 bytes", "add up to 8"])
        expectFailure(Array(good.body.dropLast()), header: good.header, .invalidRequest, mentions: ["7 bytes", "inputs[0]"])
        expectFailure(utf8(fp32), .invalidRequest, mentions: ["inputs[0].parameters.binary_data_size", "no Inference-Header-Content-Length"])

        let wrongSize = binaryBody(#"{"inputs":[{"name":"a","shape":[3],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#, [eight])
        expectFailure(wrongSize.body, header: wrongSize.header, .invalidRequest, mentions: ["inputs[0].parameters.binary_data_size is 8", "needs 12"])

        let both = binaryBody(#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","data":[1,2],"parameters":{"binary_data_size":8}}]}"#, [eight])
        expectFailure(both.body, header: both.header, .invalidRequest, mentions: ["inputs[0] has both data and parameters.binary_data_size"])

        let badSize = binaryBody(#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":"8"}}]}"#, [eight])
        expectFailure(badSize.body, header: badSize.header, .invalidRequest, mentions: ["binary_data_size must be a non-negative integer"])

        let extraWithoutBinaryInputs = binaryBody(single("FP32", "[1]", "[1]"), [[1, 2, 3]])
        expectFailure(extraWithoutBinaryInputs.body, header: extraWithoutBinaryInputs.header, .invalidRequest, mentions: ["3 bytes", "add up to 0"])

        let bools = binaryBody(#"{"inputs":[{"name":"m","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}}]}"#, [[1, 0, 2]])
        expectFailure(bools.body, header: bools.header, .invalidInput, mentions: ["input 'm'", "byte 2", "element 2"])
    }

    @Test func twoBinaryInputsAreSlicedInOrder() throws {
        let json = #"{"inputs":[{"name":"a","shape":[2],"datatype":"INT32","parameters":{"binary_data_size":8}},{"name":"j","shape":[1],"datatype":"INT8","data":[4]},{"name":"b","shape":[3],"datatype":"UINT8","parameters":{"binary_data_size":3}}]}"#
        let (body, header) = binaryBody(json, [littleEndian([Int32(-1), 70000]), [9, 8, 7]])
        let request = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: header)
        #expect(request.inputs[0].tensor.values(as: Int32.self) == [-1, 70000])
        #expect(request.inputs[1].tensor.values(as: Int8.self) == [4])
        #expect(request.inputs[2].tensor.values(as: UInt8.self) == [9, 8, 7])
    }

    @Test func malformedJSONWinsOverTensorProblems() {
        // The first input's element count is wrong, but the body is also cut short: the body problem is reported.
        expectFailure(#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","data":[1]},{"name":"b""#, .invalidRequest, mentions: ["not valid JSON"])
        expectFailure(#"{"inputs":[{"name":"a","shape":[2],"datatype":"BYTES","data":[1]},{"name":"b"}]}"#, .invalidRequest, mentions: ["inputs[1].shape is missing"])
    }
}

// MARK: Scanner robustness

@Suite struct V2CodecRobustnessTests {
    static let sample = #"{"id":"r\u00e9\n","parameters":{"timeout":10,"x":[true,false,null,-1.5e-3,{"y":"\ud83d\ude00"}]},"inputs":[{"name":"a","shape":[2,2],"datatype":"FP32","data":[[1.25,-2],[3e1,0.5]]},{"name":"b","shape":[1],"datatype":"BOOL","data":[true]}],"outputs":[{"name":"o","parameters":{"binary_data":false}}]}"#

    @Test func sampleDecodes() throws {
        let request = try decode(Self.sample)
        #expect(request.id == "ré\n")
        #expect(request.inputs[0].tensor.values(as: Float.self) == [1.25, -2, 30, 0.5])
    }

    @Test func everyTruncationIsAnInvalidRequest() {
        let body = utf8(Self.sample)
        for length in 0..<body.count {
            do {
                _ = try V2Codec.decodeRequest(body: Array(body[..<length]), inferenceHeaderLength: nil)
                Issue.record("prefix of \(length) bytes decoded")
            } catch {
                #expect(error.code == .invalidRequest, "prefix \(length): \(error)")
            }
        }
    }

    @Test func everyTruncationOfABinaryBodyIsAnInvalidRequest() {
        let (body, header) = binaryBody(#"{"inputs":[{"name":"a","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}}]}"#, [littleEndian([Int64(5), 6])])
        for length in 0..<body.count {
            expectFailure(Array(body[..<length]), header: header, .invalidRequest, mentions: [])
            expectFailure(Array(body[..<length]), header: min(header, length), .invalidRequest, mentions: [])
        }
    }

    @Test func deepNestingIsRejectedWithoutRecursingFurther() {
        let deep = String(repeating: "[", count: 100_000)
        expectFailure(#"{"inputs":\#(deep)"#, .invalidRequest, mentions: ["inputs[0] must be an object"])
        expectFailure(#"{"x":\#(deep)"#, .invalidRequest, mentions: ["nesting deeper than 64"])
        expectFailure(#"{"parameters":{"a":\#(deep)"#, .invalidRequest, mentions: ["nesting deeper than 64"])
        expectFailure(single("FP32", "[1]", deep), .invalidRequest, mentions: ["nesting deeper than 64"])
        expectFailure(String(repeating: "{\"a\":", count: 100_000), .invalidRequest, mentions: ["nesting deeper than 64"])
        // 60 levels are fine.
        let nested = String(repeating: "[", count: 60) + "1" + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try decode(single("FP32", "[1]", nested)) }
    }

    @Test func hugeNumbers() throws {
        let manyDigits = String(repeating: "9", count: 400)
        expectFailure(single("INT64", "[1]", "[\(manyDigits)]"), .invalidInput, mentions: ["outside the range"])
        expectFailure(single("FP32", "[1]", "[\(manyDigits)]"), .invalidInput, mentions: ["outside the range"])
        expectFailure(single("FP32", "[1]", "[1e99999999999999999999999]"), .invalidInput, mentions: ["range"])
        expectFailure(single("FP32", "[\(manyDigits)]", "[1]"), .invalidInput, mentions: ["too large"])
        expectFailure(#"{"inputs":[],"parameters":{"n":1e400}}"#, .invalidRequest, mentions: ["out of the range"])
        let tiny = try decode(single("FP64", "[2]", "[1e-99999999999999999999,-0.\(String(repeating: "0", count: 500))1]")).inputs[0].tensor
        #expect(tiny.values(as: Double.self).allSatisfy { $0 == 0 })
        let ones = "3." + String(repeating: "1", count: 300)
        let long = try decode(single("FP64", "[1]", "[\(ones)]")).inputs[0].tensor
        #expect(long.values(as: Double.self) == [Double(ones)!])
        expectFailure(single("INT64", "[1]", "[12345678901234567890e-10]"), .invalidInput, mentions: ["not an integer"])
        let integral = try decode(single("INT64", "[1]", "[12345678900000000000e-10]")).inputs[0].tensor
        #expect(integral.values(as: Int64.self) == [1234567890])
    }

    @Test(arguments: [#"\x"#, #"\u12G4"#, #"\u12"#, #"\ud800"#, #"\udc00"#, #"\ud800\u0041"#, #"\ud800x"#, "\\"])
    func invalidEscapes(escape: String) {
        expectFailure(single("FP32", "[1]", "[1]", name: escape), .invalidRequest, mentions: ["not valid JSON"])
        expectFailure(#"{"unknown":"\#(escape)","inputs":[]}"#, .invalidRequest, mentions: ["not valid JSON"])
    }

    @Test(arguments: [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82], [0xFF], [0x80], [0xF4, 0x90, 0x80, 0x80], [0x01]] as [[UInt8]])
    func invalidUTF8AndControlCharactersInStrings(bad: [UInt8]) {
        let prefix = utf8(#"{"inputs":[{"name":"#) + [UInt8(ascii: "\"")]
        let suffix = utf8(#"","shape":[1],"datatype":"FP32","data":[1]}]}"#)
        expectFailure(prefix + bad + suffix, .invalidRequest, mentions: ["not valid JSON"])
        expectFailure(utf8(#"{"x":""#) + bad + utf8(#"","inputs":[]}"#), .invalidRequest, mentions: ["not valid JSON"])
    }

    @Test func validUnicodeNames() throws {
        let request = try V2Codec.decodeRequest(body: utf8(single("FP32", "[1]", "[1]", name: "é€😀\\/\\t")), inferenceHeaderLength: nil)
        #expect(request.inputs[0].name == "é€😀/\t")
    }

    @Test func grammarEdgeCases() {
        for bad in ["01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "0x10", "1.e5", "tru", "nul", "[1,]", "[,1]", "[1 2]"] {
            expectFailure(single("FP32", "[1]", "[\(bad)]"), .invalidRequest, mentions: ["not valid JSON"])
        }
        expectFailure(#"{"inputs":[],}"#, .invalidRequest, mentions: ["not valid JSON"])
        expectFailure(#"{"inputs" []}"#, .invalidRequest, mentions: ["':'"])
        expectFailure(#"{inputs:[]}"#, .invalidRequest, mentions: ["string key"])
    }

    /// Random byte edits of a valid body must decode or throw, never trap.
    @Test func randomMutationsNeverCrash() {
        var rng = SplitMix64(seed: 0x5EED)
        let original = utf8(Self.sample)
        let alphabet = utf8(#"{}[]",:0123456789.-+eE\u truefalsn"#) + [0x00, 0x80, 0xFF, 0xC3, 0xED]
        for _ in 0..<5_000 {
            var body = original
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let at = Int(rng.next() % UInt64(body.count))
                switch rng.next() % 3 {
                case 0: body[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: body.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                default: body.remove(at: at)
                }
            }
            let header: Int? = rng.next() % 8 == 0 ? Int(rng.next() % UInt64(body.count + 2)) - 1 : nil
            _ = try? V2Codec.decodeRequest(body: body, inferenceHeaderLength: header)
        }
    }
}

// MARK: Numbers and the writer

@Suite struct V2CodecNumberTests {
    private func scan(_ text: String) throws -> (JSONNumber, Float?, Double?) {
        let bytes = utf8(text)
        return try bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer: buffer, end: buffer.count)
            let number = try scanner.scanNumber()
            #expect(scanner.atEnd, "\(text) not fully scanned")
            return (number, number.floatValue(in: buffer), number.doubleValue(in: buffer))
        }
    }

    /// Floats and doubles match Swift's correctly rounded parser on random and halfway-case literals.
    @Test func conversionsAreCorrectlyRounded() throws {
        var rng = SplitMix64(seed: 42)
        var literals = [
            "1.00000005960464477539062", "1.000000059604644775390625", "1.000000059604644775390626",
            "3.4028235677973366e38", "3.4028235e38", "1.1754943508222875e-38", "1.401298464324817e-45",
            "7.006492321624085e-46", "0.30000000000000004", "9007199254740993", "123456789012345678901234567890e-25",
        ]
        for _ in 0..<20_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7F7F_FFFF)
            literals.append(f.description)
            literals.append(Double(f).description)
            let d = Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF)
            literals.append(d.description)
            // Float midpoints, written exactly, and one unit either side in the 25th digit.
            let g = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x3FFF_FFFF | 0x3000_0000)
            let midpoint = (Double(g) + Double(g.nextUp)) / 2
            literals.append(String(midpoint))
            literals.append("\(Int64(rng.next() % 1_000_000_000_000_000_000))e\(Int(rng.next() % 40) - 20)")
        }
        for literal in literals {
            let (_, float, double) = try scan(literal)
            #expect(float?.bitPattern == Float(literal)?.bitPattern, "Float \(literal)")
            #expect(double?.bitPattern == Double(literal)?.bitPattern, "Double \(literal)")
        }
    }

    /// The short-form fast path for FP32 data gives exactly what Swift's correctly rounded parser
    /// gives, at its edges (2^24, seven digits, leading fraction zeros, signs) and on random literals,
    /// whether it takes a number or leaves it to the general scanner.
    @Test func shortFloatsInTensorDataAreCorrectlyRounded() throws {
        var rng = SplitMix64(seed: 7)
        var literals = ["0", "-0", "0.0", "-0.0", "16777216", "16777217", "-16777215", "1677721.6", "1677721.7",
                        "1.6777216", "1.6777217", "0.0000001", "0.00000001", "9999999", "99999999", "0.9999999",
                        "0.99999999", "1234567.8", "7.1e3", "7.1E-3", "0.688844", "-0.482166", "12345678", "1.5e0"]
        for _ in 0..<20_000 {
            let integerDigits = Int(rng.next() % 9), fractionDigits = Int(rng.next() % 10)
            var text = rng.next() % 2 == 0 ? "-" : ""
            text += integerDigits == 0 ? "0" : String(1 + rng.next() % 9) + (0..<(integerDigits - 1)).map { _ in String(rng.next() % 10) }.joined()
            if fractionDigits > 0 {
                let zeros = Int(rng.next() % 4)
                text += "." + String(repeating: "0", count: min(zeros, fractionDigits - 1))
                    + (0..<(fractionDigits - min(zeros, fractionDigits - 1))).map { _ in String(rng.next() % 10) }.joined()
            }
            literals.append(text)
        }
        // In one array, with the separators clients write and other whitespace: all but the last
        // few numbers have the fast path's room after them.
        let separators = [", ", ",", " , ", ",\n  ", "\t,\r\n"]
        let data = literals.enumerated().map { $0.offset == 0 ? $0.element : separators[$0.offset % separators.count] + $0.element }.joined()
        let body = #"{"inputs":[{"name":"x","shape":[\#(literals.count)],"datatype":"FP32","data":[ \#(data) ]}]}"#
        let decoded = try decode(body).inputs[0].tensor.values(as: Float.self)
        #expect(decoded.count == literals.count)
        for (literal, value) in zip(literals, decoded) where value.bitPattern != Float(literal)?.bitPattern {
            Issue.record("\(literal): \(value), expected \(Float(literal)!)")
        }
        // The fast path takes the common forms (and stops where the general scanner must go on).
        for (literal, taken) in [("0.688844", true), ("-12.5", true), ("7", true), ("-0", true), ("1677721.6", true),
                                 ("1677721.7", false), ("16777216", false), ("1.5e3", false), ("2E1", false),
                                 ("0.12345678", false), ("01", false), ("1.", false), ("-x", false), ("x", false)] {
            let bytes = Array((literal + ", 0.25, 0.25, 0.25, 0.25, 0.25]").utf8)
            bytes.withUnsafeBufferPointer { buffer in
                let short = JSONScanner.shortFloat32(at: buffer.baseAddress!)
                #expect((short != nil) == taken, "\(literal)")
                if let short {
                    #expect(short.end - buffer.baseAddress! == literal.utf8.count, "\(literal)")
                    #expect(short.value.bitPattern == Float(literal)?.bitPattern, "\(literal)")
                }
            }
        }
    }

    @Test func integers() throws {
        #expect(try scan("-9223372036854775808").0.integerValue() == .value(.min))
        #expect(try scan("9223372036854775807").0.integerValue() == .value(.max))
        #expect(try scan("9223372036854775808").0.integerValue() == .outOfRange)
        #expect(try scan("1.5").0.integerValue() == .notIntegral)
        #expect(try scan("1500e-3").0.integerValue() == .notIntegral)
        #expect(try scan("1000e-3").0.integerValue() == .value(1))
        #expect(try scan("0.1e1").0.integerValue() == .value(1))
        #expect(try scan("12345678901234567890123").0.integerValue() == .outOfRange)
        #expect(try scan("1234567890123456789.5").0.integerValue() == .notIntegral)
        #expect(try scan("-0.0").0.integerValue() == .value(0))
    }

    @Test func writerEscapesAndSeparates() throws {
        var json = JSONWriter()
        json.beginObject()
        json.key("s"); json.string("q\"b\\n\n\r\t\u{01}é😀")
        json.key("a"); json.beginArray(); json.int(-12); json.int64(.min); json.double(0.1); json.float(.nan); json.bool(true); json.null(); json.beginObject(); json.endObject(); json.endArray()
        json.key("v"); json.value(.object(["z": .int(1), "b": .array([.string("x"), .double(1.5)])]))
        json.endObject()
        let text = String(decoding: json.bytes, as: UTF8.self)
        #expect(text == #"{"s":"q\"b\\n\n\r\t\u0001é😀","a":[-12,-9223372036854775808,0.1,null,true,null,{}],"v":{"b":["x",1.5],"z":1}}"#)
        let parsed = try JSONValue.parse(json.bytes)
        guard case .object(let members) = parsed else { Issue.record("not an object"); return }
        #expect(members["s"] == .string("q\"b\\n\n\r\t\u{01}é😀"))
        #expect(String(decoding: V2Codec.encodeError("bad \"x\""), as: UTF8.self) == #"{"error":"bad \"x\""}"#)
    }
}

/// A small deterministic generator for reproducible random tests.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
