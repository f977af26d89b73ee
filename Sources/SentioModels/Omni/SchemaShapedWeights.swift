// SchemaShapedWeights: a WeightSource view that gives tensors stored flattened back their schema shape.
// A .sentio file stores block-quantized conv kernels [O, C, k...] as the matrices [O, C*k...] they run as
// (QuantPolicy.storedShape: quantized blocks must run along the last dimension); the component loaders check
// shapes against their schemas, so this view reports the schema shape when, and only when, the stored shape is
// exactly that flattening of a conv spec. Bytes are not touched.
import Foundation
import SentioCore

public final class SchemaShapedWeights: WeightSource, @unchecked Sendable {
    public let base: WeightSource
    private let specs: [String: TensorSpec]

    public init(_ base: WeightSource, specs: [TensorSpec]) {
        self.base = base
        self.specs = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public var sourceName: String { base.sourceName }
    public func has(_ name: String) -> Bool { base.has(name) }

    public func tensor(_ name: String) throws -> LoadedTensor {
        let t = try base.tensor(name)
        if let s = specs[name], s.role == .conv, s.shape.count > 2, t.shape != s.shape,
           t.shape == [s.shape[0], QuantPolicy.rowLength(s.shape)] {
            return LoadedTensor(dtype: t.dtype, shape: s.shape, bytes: t.bytes)
        }
        return t
    }
}
