/// Maps (domain, op type) to kernel factories. Each operator family (one file under Operators/)
/// contributes a `kernels` table; a new family is one new file plus one entry in the list below.
enum OperatorRegistry {
    static func normalizedDomain(_ domain: String) -> String { domain == "ai.onnx" ? "" : domain }

    static func factory(domain: String, opType: String) -> KernelFactory? {
        switch normalizedDomain(domain) {
        case "": defaultDomain[opType]
        case "ai.onnx.ml": mlDomain[opType]
        default: nil
        }
    }

    static let defaultDomain: [String: KernelFactory] = {
        var table: [String: KernelFactory] = [:]
        for family in [ElementwiseOps.kernels, ActivationOps.kernels, MatMulOps.kernels, ConvOps.kernels, PoolingOps.kernels,
                       ShapeOps.kernels, LayoutOps.kernels, IndexingOps.kernels, ReduceOps.kernels, NormalizationOps.kernels, GeneratorOps.kernels] {
            table.merge(family) { first, _ in first }
        }
        return table
    }()

    static let mlDomain: [String: KernelFactory] = MLOps.kernels

    /// Every supported op type; `ai.onnx.ml` ones carry that prefix.
    static var supportedOps: [String] { defaultDomain.keys.sorted() + mlDomain.keys.sorted().map { "ai.onnx.ml." + $0 } }
}
