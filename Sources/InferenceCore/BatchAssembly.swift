import ONNXRuntime

/// Stacks requests along the batch dimension and splits outputs back by row ranges, one copy each way.
enum BatchAssembly {
    /// Concatenates each named input of every member along dimension 0. A single member passes through.
    static func concatenate(_ members: [[String: Tensor]], inputNames: [String], batched: Bool) -> [String: Tensor] {
        guard members.count > 1, batched else { return members[0] }
        var feeds: [String: Tensor] = [:]
        for name in inputNames {
            let parts = members.compactMap { $0[name] }
            guard let first = parts.first else { continue }
            let rows = parts.reduce(0) { $0 + $1.shape[0] }
            let combined = Tensor(dataType: first.dataType, shape: [rows] + first.shape.dropFirst())
            var offset = 0
            for part in parts {
                let bytes = part.byteCount
                (combined.storage.pointer + offset).copyMemory(from: part.storage.pointer, byteCount: bytes)
                offset += bytes
            }
            feeds[name] = combined
        }
        return feeds
    }

    /// Splits every output along dimension 0 into `rows`-sized pieces, in member order.
    static func scatter(_ outputs: [String: Tensor], rows: [Int], totalRows: Int) throws(InferenceError) -> [[String: Tensor]] {
        guard rows.count > 1 else { return [outputs] }
        var result = Array(repeating: [String: Tensor](), count: rows.count)
        for (name, tensor) in outputs {
            guard let first = tensor.shape.first, first == totalRows else {
                throw InferenceError(.internalError,
                    "output '\(name)' has shape \(tensor.shape); expected \(totalRows) rows to split across the batch")
            }
            let rowBytes = totalRows == 0 ? 0 : tensor.byteCount / totalRows
            var offset = 0
            for (index, count) in rows.enumerated() {
                let piece = Tensor(dataType: tensor.dataType, shape: [count] + tensor.shape.dropFirst())
                piece.storage.pointer.copyMemory(from: tensor.storage.pointer + offset, byteCount: rowBytes * count)
                offset += rowBytes * count
                result[index][name] = piece
            }
        }
        return result
    }
}
