import Synchronization

/// One node, ready to run.
struct ExecutionStep: Sendable {
    let kernel: any Kernel
    let nodeName: String
    let opType: String
    /// Value indices; -1 for an omitted optional input or an unused output.
    let inputs: [Int]
    let outputs: [Int]
    /// Values whose last reader is this step; their buffers can be reused afterwards.
    let releases: [Int]

    var label: String { "node '\(nodeName)' (\(opType))" }
}

struct InputSlot: Sendable {
    let info: ValueInfo
    let index: Int
    /// An initializer with the same name supplies the value when the caller does not.
    let defaultValue: Tensor?
}

/// A validated, topologically ordered graph with load-time constants and liveness information.
final class ExecutionPlan: Sendable {
    let valueCount: Int
    let constants: [Tensor?]
    let steps: [ExecutionStep]
    let inputs: [InputSlot]
    let outputs: [(info: ValueInfo, index: Int)]
    let threads: ThreadPool?
    /// Free lists of buffers from finished runs, picked up by the next run.
    private let bufferCache = Mutex<[[TensorStorage]]>([])

    init(valueCount: Int, constants: [Tensor?], steps: [ExecutionStep], inputs: [InputSlot],
         outputs: [(info: ValueInfo, index: Int)], threads: ThreadPool?) {
        self.valueCount = valueCount
        self.constants = constants
        self.steps = steps
        self.inputs = inputs
        self.outputs = outputs
        self.threads = threads
    }

    func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        var fresh = 0
        return try run(feeds, freshBytes: &fresh)
    }

    /// Runs and reports how many bytes of new buffers the run had to allocate.
    func run(_ feeds: [String: Tensor], freshBytes: inout Int) throws -> [String: Tensor] {
        var values = constants
        for name in feeds.keys where !inputs.contains(where: { $0.info.name == name }) {
            let known = inputs.map { "'\($0.info.name)'" }.joined(separator: ", ")
            throw ONNXError(.invalidInput, "unknown input '\(name)'; the model's inputs are \(known)")
        }
        for slot in inputs {
            guard let tensor = feeds[slot.info.name] ?? slot.defaultValue else {
                throw ONNXError(.invalidInput, "missing input '\(slot.info.name)'")
            }
            try Self.check(tensor, against: slot.info)
            values[slot.index] = tensor
        }

        let context = RunContext(threads: threads, free: bufferCache.withLock { $0.popLast() } ?? [])
        for step in steps {
            try execute(step, &values, context)
            for v in step.releases {
                guard values[v] != nil else { continue }
                var storage = values[v]!.storage
                values[v] = nil
                if isKnownUniquelyReferenced(&storage) { context.recycle(storage) }
            }
        }

        var result: [String: Tensor] = [:]
        for (info, index) in outputs {
            guard let t = values[index] else { throw ONNXError(.runtime, "output '\(info.name)' was not computed") }
            result[info.name] = t
        }
        freshBytes = context.freshBytes
        let free = context.free
        bufferCache.withLock { cache in if cache.count < 8 { cache.append(free) } }
        return result
    }

    private func execute(_ step: ExecutionStep, _ values: inout [Tensor?], _ context: RunContext) throws {
        let args = step.inputs.map { $0 >= 0 ? values[$0] : nil }
        let results: [Tensor]
        do {
            results = try step.kernel.run(args, context)
        } catch let error as ONNXError {
            throw ONNXError(error.code, "\(step.label): \(error.message)")
        }
        guard results.count >= step.outputs.count || step.outputs[results.count...].allSatisfy({ $0 < 0 }) else {
            throw ONNXError(.runtime, "\(step.label): produced \(results.count) outputs, the graph uses \(step.outputs.count)")
        }
        for (i, v) in step.outputs.enumerated() where v >= 0 && i < results.count { values[v] = results[i] }
    }

    static func check(_ tensor: Tensor, against info: ValueInfo) throws {
        guard tensor.dataType == info.dataType else {
            throw ONNXError(.invalidInput, "input '\(info.name)' must be \(info.dataType), got \(tensor.dataType)")
        }
        let shape = info.shape
        let ok = tensor.shape.count == shape.count && zip(tensor.shape, shape).allSatisfy { $1 == nil || $0 == $1 }
        guard ok else {
            let want = shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ")
            throw ONNXError(.invalidInput, "input '\(info.name)' must have shape [\(want)], got \(tensor.shape)")
        }
    }
}
