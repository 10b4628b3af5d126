/// Turns a decoded `ModelProto` into an `ExecutionPlan`: validation, topological order, kernel
/// construction, type inference, constant folding, fusion and liveness.
struct GraphBuilder {
    /// Default-domain opsets accepted. 11 and 12 differ from 13 only in ops handled here
    /// (Softmax's 2-D coercion, axes as attributes), so they are accepted too.
    static let defaultDomainOpsets: ClosedRange<Int64> = 11...21
    static let mlDomainOpsets: ClosedRange<Int64> = 1...5

    let model: ModelProto
    let baseDirectory: String?
    let threads: ThreadPool?

    /// Values are numbered in order of first mention.
    struct ValueTable {
        private(set) var indexOf: [String: Int] = [:]
        var count: Int { indexOf.count }

        mutating func index(_ name: String) -> Int {
            if let i = indexOf[name] { return i }
            let i = indexOf.count
            indexOf[name] = i
            return i
        }
    }

    typealias Step = (kernel: any Kernel, node: NodeProto, inputs: [Int], outputs: [Int])

    func build() throws -> ExecutionPlan {
        guard let graph = model.graph else { throw ONNXError(.malformed, "the model has no graph") }
        let opsets = try checkOpsets()
        if graph.hasSparseInitializers { throw ONNXError(.unsupported, "sparse initializers are not supported") }

        var values = ValueTable()
        var constants: [Int: Tensor] = [:]
        for proto in graph.initializers {
            guard !proto.name.isEmpty else { throw ONNXError(.invalidGraph, "an initializer has no name") }
            constants[values.index(proto.name)] = try proto.tensor(baseDirectory: baseDirectory)
        }
        // An initializer with the same name as an input is only that input's default.
        var types: [Int: ValueType] = [:]
        var inputSlots: [InputSlot] = []
        for input in graph.inputs {
            let info = try valueInfo(input, role: "input")
            let i = values.index(input.name)
            inputSlots.append(InputSlot(info: info, index: i, defaultValue: constants.removeValue(forKey: i)))
            types[i] = ValueType(dataType: info.dataType, shape: info.shape)
        }
        for (i, t) in constants { types[i] = ValueType(t) }
        for info in graph.valueInfo {
            if let dt = DataType(rawValue: info.elementType), let i = values.indexOf[info.name], types[i] == nil {
                types[i] = ValueType(dataType: dt, shape: info.shape?.map { $0.map { Int($0) } })
            }
        }
        let available = Set(constants.keys).union(inputSlots.map(\.index))

        let order = try topologicalOrder(graph.nodes, values: values, available: available)
        var outputIndices: [Int] = []
        for output in graph.outputs {
            guard values.indexOf[output.name] != nil || graph.nodes.contains(where: { $0.outputs.contains(output.name) }) else {
                throw ONNXError(.invalidGraph, "graph output '\(output.name)' is not produced by any node")
            }
            outputIndices.append(values.index(output.name))
        }
        guard !outputIndices.isEmpty else { throw ONNXError(.invalidGraph, "the graph has no outputs") }

        var steps = try buildSteps(order.map { graph.nodes[$0] }, opsets: opsets, needed: Set(graph.outputs.map(\.name)),
                                   values: &values, constants: &constants, types: &types)
        steps = Self.removeUnread(steps, outputs: Set(outputIndices))
        steps = Self.fuseActivations(steps, graphOutputs: Set(outputIndices))

        let releases = Self.releasePoints(steps, valueCount: values.count, protected: Set(outputIndices).union(constants.keys))
        var constantTable = [Tensor?](repeating: nil, count: values.count)
        for (i, t) in constants { constantTable[i] = t }
        let outputs = try zip(graph.outputs, outputIndices).map { proto, i in (info: try outputInfo(proto, inferred: types[i]), index: i) }
        let planned = steps.enumerated().map { s, step in
            ExecutionStep(kernel: step.kernel, nodeName: step.node.name.isEmpty ? "#\(s)" : step.node.name,
                          opType: step.node.opType, inputs: step.inputs, outputs: step.outputs, releases: releases[s])
        }
        return ExecutionPlan(valueCount: values.count, constants: constantTable, steps: planned,
                             inputs: inputSlots, outputs: outputs, threads: threads)
    }

    /// Kahn's algorithm; also checks that every input has a source and every output one producer.
    private func topologicalOrder(_ nodes: [NodeProto], values: ValueTable, available: Set<Int>) throws -> [Int] {
        var producer: [String: Int] = [:]
        for (n, node) in nodes.enumerated() {
            for out in node.outputs where !out.isEmpty {
                guard producer[out] == nil, !(values.indexOf[out].map(available.contains) ?? false) else {
                    throw ONNXError(.invalidGraph, "\(label(node)): output '\(out)' is already defined elsewhere in the graph")
                }
                producer[out] = n
            }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (n, node) in nodes.enumerated() {
            for name in node.inputs where !name.isEmpty {
                if let p = producer[name] {
                    pending[n] += 1
                    consumers[p].append(n)
                } else if !(values.indexOf[name].map(available.contains) ?? false) {
                    throw ONNXError(.invalidGraph, "\(label(node)): input '\(name)' is not a graph input, an initializer or the output of any node")
                }
            }
        }
        var ready = Array((0..<nodes.count).filter { pending[$0] == 0 }.reversed())
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let n = ready.popLast() {
            order.append(n)
            for c in consumers[n] {
                pending[c] -= 1
                if pending[c] == 0 { ready.append(c) }
            }
        }
        if order.count < nodes.count, let stuck = (0..<nodes.count).first(where: { pending[$0] > 0 }) {
            throw ONNXError(.invalidGraph, "the graph has a cycle through \(label(nodes[stuck]))")
        }
        return order
    }

    func label(_ node: NodeProto) -> String {
        "node '\(node.name.isEmpty ? node.outputs.first ?? "?" : node.name)' (\(node.opType))"
    }

    private func checkOpsets() throws -> [String: Int64] {
        var versions: [String: Int64] = [:]
        for op in model.opsetImports { versions[OperatorRegistry.normalizedDomain(op.domain)] = op.version }
        guard let main = versions[""] else { throw ONNXError(.invalidGraph, "the model imports no opset for the default ONNX domain") }
        let (lo, hi) = (Self.defaultDomainOpsets.lowerBound, Self.defaultDomainOpsets.upperBound)
        guard Self.defaultDomainOpsets.contains(main) else {
            throw ONNXError(.unsupported, "the model uses ONNX opset \(main); supported: \(lo)–\(hi)")
        }
        if let ml = versions["ai.onnx.ml"], !Self.mlDomainOpsets.contains(ml) {
            throw ONNXError(.unsupported, "the model uses ai.onnx.ml opset \(ml); supported: \(Self.mlDomainOpsets.lowerBound)–\(Self.mlDomainOpsets.upperBound)")
        }
        return versions
    }

    /// An output's declared type, completed from inference where the file leaves it out.
    private func outputInfo(_ proto: ValueInfoProto, inferred: ValueType?) throws -> ValueInfo {
        if proto.kind != .other && (proto.kind != .tensor || (DataType(rawValue: proto.elementType) != nil && proto.shape != nil)) {
            return try valueInfo(proto, role: "output")
        }
        guard let dt = DataType(rawValue: proto.elementType) ?? inferred?.dataType else {
            throw ONNXError(.invalidGraph, "graph output '\(proto.name)' has no known element type")
        }
        return ValueInfo(name: proto.name, dataType: dt, shape: inferred?.shape ?? [])
    }

    private func valueInfo(_ proto: ValueInfoProto, role: String) throws -> ValueInfo {
        guard !proto.name.isEmpty else { throw ONNXError(.invalidGraph, "a graph \(role) has no name") }
        switch proto.kind {
        case .tensor: break
        case .sequence, .map:
            throw ONNXError(.unsupported, "graph \(role) '\(proto.name)' is a \(proto.kind == .map ? "map" : "sequence"); only tensors are supported (for skl2onnx classifiers, convert with zipmap=False)")
        case .other:
            throw ONNXError(.invalidGraph, "graph \(role) '\(proto.name)' has no tensor type")
        }
        guard let dt = DataType(rawValue: proto.elementType) else {
            throw ONNXError(.unsupported, "graph \(role) '\(proto.name)' has element type code \(proto.elementType), which is not supported")
        }
        return ValueInfo(name: proto.name, dataType: dt, shape: (proto.shape ?? []).map { $0.map { Int($0) } })
    }
}
