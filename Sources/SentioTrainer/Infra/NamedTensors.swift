// Trainable tensors as one flat Float buffer with named slices: what the optimizer, the all-reduce
// and the checkpoint work on. Gradients use the same layout.
//
//   layout.names[i], layout.shapes[i] -> values[layout.offsets[i] ..< layout.offsets[i] + count_i]
import SentioCore

public struct TensorLayout: Codable, Equatable, Sendable {
    public let names: [String]
    public let shapes: [[Int]]
    public let offsets: [Int]
    public let totalCount: Int

    public init(names: [String], shapes: [[Int]]) throws {
        guard names.count == shapes.count else { throw SentioError(.shape, "tensor layout: \(names.count) names for \(shapes.count) shapes") }
        guard Set(names).count == names.count else { throw SentioError(.shape, "tensor layout: duplicate tensor names") }
        var offsets: [Int] = [], total = 0
        for (name, shape) in zip(names, shapes) {
            var n = 1
            for d in shape {
                guard d >= 0 else { throw SentioError(.shape, "tensor \(name): negative dimension in \(shape)") }
                let (p, o) = n.multipliedReportingOverflow(by: d)
                guard !o else { throw SentioError(.shape, "tensor \(name): shape \(shape) overflows") }
                n = p
            }
            offsets.append(total)
            let (t, o) = total.addingReportingOverflow(n)
            guard !o else { throw SentioError(.shape, "tensor layout overflows") }
            total = t
        }
        self.names = names
        self.shapes = shapes
        self.offsets = offsets
        self.totalCount = total
    }

    public func count(_ i: Int) -> Int { shapes[i].reduce(1, *) }
    public func range(_ i: Int) -> Range<Int> { offsets[i] ..< offsets[i] + count(i) }
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }
}

public struct NamedTensors: Equatable, Sendable {
    public let layout: TensorLayout
    public var values: [Float]

    public init(layout: TensorLayout, values: [Float]) throws {
        guard values.count == layout.totalCount else {
            throw SentioError(.shape, "tensors: \(values.count) values for a layout of \(layout.totalCount)")
        }
        self.layout = layout
        self.values = values
    }

    /// Zeros in `layout`.
    public init(zeros layout: TensorLayout) {
        self.layout = layout
        self.values = [Float](repeating: 0, count: layout.totalCount)
    }

    /// From (name, shape, values) entries, in order.
    public init(_ entries: [(name: String, shape: [Int], values: [Float])]) throws {
        let layout = try TensorLayout(names: entries.map(\.name), shapes: entries.map(\.shape))
        var flat: [Float] = []
        flat.reserveCapacity(layout.totalCount)
        for (i, e) in entries.enumerated() {
            guard e.values.count == layout.count(i) else {
                throw SentioError(.shape, "tensor \(e.name): \(e.values.count) values for shape \(e.shape)")
            }
            flat += e.values
        }
        try self.init(layout: layout, values: flat)
    }

    /// From parallel per-tensor arrays (e.g. a LoRA adapter's names, shapes and values).
    public init(names: [String], shapes: [[Int]], values: [[Float]]) throws {
        guard names.count == values.count else { throw SentioError(.shape, "tensors: \(names.count) names for \(values.count) value arrays") }
        guard shapes.count == names.count else { throw SentioError(.shape, "tensors: \(names.count) names for \(shapes.count) shapes") }
        try self.init((0..<names.count).map { (names[$0], shapes[$0], values[$0]) })
    }

    /// The values split per tensor, in layout order.
    public var perTensor: [[Float]] { layout.names.indices.map { Array(values[layout.range($0)]) } }

    public subscript(name: String) -> [Float]? {
        guard let i = layout.index(of: name) else { return nil }
        return Array(values[layout.range(i)])
    }

    /// Replaces one tensor's values (same count).
    public mutating func set(_ name: String, _ v: [Float]) throws {
        guard let i = layout.index(of: name) else { throw SentioError(.shape, "no tensor named \(name)") }
        let r = layout.range(i)
        guard v.count == r.count else { throw SentioError(.shape, "tensor \(name): \(v.count) values for \(r.count)") }
        values.replaceSubrange(r, with: v)
    }
}
