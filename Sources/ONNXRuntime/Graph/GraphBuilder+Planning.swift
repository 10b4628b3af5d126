extension GraphBuilder {
    /// Builds each needed node's kernel in order, inferring types; nodes whose inputs are all known
    /// (initializers, constants, shapes fixed by the model) run now and become constants.
    func buildSteps(_ nodes: [NodeProto], opsets: [String: Int64], needed outputNames: Set<String>,
                    values: inout ValueTable, constants: inout [Int: Tensor], types: inout [Int: ValueType]) throws -> [Step] {
        // Only nodes that lead to an output run (but every node's op must be known).
        var needed = outputNames
        var live = [Bool](repeating: false, count: nodes.count)
        for n in nodes.indices.reversed() where nodes[n].outputs.contains(where: needed.contains) {
            live[n] = true
            needed.formUnion(nodes[n].inputs.filter { !$0.isEmpty })
        }
        let folder = RunContext(threads: nil)
        var steps: [Step] = []
        for (n, node) in nodes.enumerated() {
            guard let factory = OperatorRegistry.factory(domain: node.domain, opType: node.opType) else {
                let domain = node.domain.isEmpty ? "ai.onnx" : node.domain
                throw ONNXError(.unsupported, "\(label(node)): operator '\(node.opType)' (domain '\(domain)') is not supported")
            }
            guard live[n] else { continue }
            let inputs = node.inputs.map { $0.isEmpty ? -1 : values.index($0) }
            let outputs = node.outputs.map { $0.isEmpty ? -1 : values.index($0) }
            let known = inputs.map { $0 >= 0 ? constants[$0] : nil }
            let inputTypes = inputs.map { $0 >= 0 ? (types[$0] ?? .unknown) : .unknown }
            let context = KernelBuildContext(opType: node.opType, domain: node.domain,
                                             opset: Int(opsets[OperatorRegistry.normalizedDomain(node.domain)] ?? 0),
                                             attributes: Attributes(node.attributes), inputCount: inputs.count,
                                             outputCount: outputs.count, constants: known, inputTypes: inputTypes,
                                             baseDirectory: baseDirectory)
            let kernel: any Kernel
            var outTypes: [ValueType]
            do {
                kernel = try factory(context)
                outTypes = try kernel.inferTypes(inputTypes, outputCount: outputs.count)
                while outTypes.count < outputs.count { outTypes.append(.unknown) }

                if inputs.allSatisfy({ $0 < 0 || constants[$0] != nil }) {
                    // Every supported op is deterministic, so a node with known inputs has a known result.
                    let results = try kernel.run(known, folder)
                    for (k, v) in outputs.enumerated() where v >= 0 && k < results.count {
                        constants[v] = results[k]
                        types[v] = ValueType(results[k])
                    }
                    continue
                }
            } catch let error as ONNXError {
                throw ONNXError(error.code, "\(label(node)): \(error.message)")
            }
            // Shape arithmetic whose every element is known (e.g. Gather of a static dimension).
            if outputs.count == 1, outTypes[0].dataType == .int64, let shape = outTypes[0].staticShape,
               let elements = outTypes[0].elements, elements.allSatisfy({ $0 != nil }), elements.count == checkedProduct(shape.map { $0 }) {
                constants[outputs[0]] = Tensor(shape: shape, values: elements.map { Int64($0!) })
                types[outputs[0]] = outTypes[0]
                continue
            }
            for (k, v) in outputs.enumerated() where v >= 0 {
                var t = outTypes[k]
                if let declared = types[v] {
                    t.dataType = t.dataType ?? declared.dataType
                    t.shape = t.shape ?? declared.shape
                }
                types[v] = t
            }
            steps.append((kernel, node, inputs, outputs))
        }
        return steps
    }

    /// Drops steps nothing reads any more (a Shape whose only reader was folded into a constant).
    static func removeUnread(_ steps: [Step], outputs: Set<Int>) -> [Step] {
        var read = outputs
        var kept: [Step] = []
        for step in steps.reversed() where step.outputs.contains(where: read.contains) {
            kept.append(step)
            read.formUnion(step.inputs.filter { $0 >= 0 })
        }
        return kept.reversed()
    }

    /// Gemm/MatMul/Conv followed by a Relu that is the product's only reader: apply the Relu while
    /// the product is still in cache, and drop the separate step and its buffer.
    static func fuseActivations(_ steps: [Step], graphOutputs: Set<Int>) -> [Step] {
        var readers: [Int: Int] = [:]
        for step in steps { for v in step.inputs where v >= 0 { readers[v, default: 0] += 1 } }
        var result = steps
        var removed = Set<Int>()
        for (i, step) in steps.enumerated() where ["Gemm", "MatMul", "Conv"].contains(step.node.opType) && step.outputs.count == 1 {
            let v = step.outputs[0]
            guard v >= 0, !graphOutputs.contains(v), readers[v] == 1,
                  let j = steps.indices.first(where: { $0 > i && steps[$0].inputs.contains(v) }),
                  steps[j].node.opType == "Relu", OperatorRegistry.normalizedDomain(steps[j].node.domain).isEmpty else { continue }
            var fused = step
            fused.kernel = ReluEpilogue(inner: step.kernel)
            fused.outputs = steps[j].outputs
            fused.node.opType = step.node.opType + "+Relu"
            result[i] = fused
            removed.insert(j)
        }
        return result.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// For each step, the values whose last reader it is. Constants, graph outputs and values nobody
    /// reads after their producer are handled: the last are released right after being made.
    static func releasePoints(_ steps: [Step], valueCount: Int, protected: Set<Int>) -> [[Int]] {
        var lastUse = [Int](repeating: -1, count: valueCount)
        for (s, step) in steps.enumerated() {
            for v in step.inputs where v >= 0 { lastUse[v] = s }
            for v in step.outputs where v >= 0 && lastUse[v] < s { lastUse[v] = s }
        }
        var releases = [[Int]](repeating: [], count: steps.count)
        for v in 0..<valueCount where lastUse[v] >= 0 && !protected.contains(v) { releases[lastUse[v]].append(v) }
        return releases
    }
}
