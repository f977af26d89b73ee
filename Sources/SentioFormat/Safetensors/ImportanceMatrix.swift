// ImportanceMatrix: for each weight matrix, the mean square of the activation that meets each of its input
// columns (E[x_j^2] over a calibration text), measured by `sentio imatrix` and used by `sentio convert
// --imatrix` to weight the block quantizers' error towards the columns that matter.
//
// Stored as a safetensors file: one F32 vector [columns] per weight, named by the weight's schema name
// (e.g. model.layers.3.mlp.down_proj.weight), and string metadata:
//   sentio.imatrix = "1"          marks the file (any other safetensors file is rejected)
//   sentio.imatrix.tokens         calibration positions the means are over
//   sentio.imatrix.windows, sentio.imatrix.ctx, sentio.imatrix.text   how it was measured
import Foundation
import SentioCore

public struct ImportanceMatrix: Sendable {
    /// Weight name -> mean squared activation per input column.
    public var columns: [String: [Float]]
    /// Free-form description (tokens, windows, text file), stored as metadata.
    public var info: [String: String]

    public init(columns: [String: [Float]], info: [String: String] = [:]) {
        self.columns = columns; self.info = info
    }

    public static let marker = "sentio.imatrix"

    /// Reads and validates a file: the marker, F32 vectors, every value finite and >= 0.
    public init(contentsOf url: URL) throws {
        let f = try SafetensorsFile(url)
        let path = url.path
        guard f.metadata[Self.marker] == "1" else {
            throw SentioError(.format, file: path, "not an importance matrix (no '\(Self.marker)' metadata; make one with `sentio imatrix`)")
        }
        var cols: [String: [Float]] = [:]
        for name in f.names {
            let t = f.tensors[name]!
            guard t.dtype == .f32, t.shape.count == 1, t.shape[0] > 0 else {
                throw SentioError(.corrupt, file: path, "entry '\(name)' is \(t.dtype.rawValue) \(t.shape), expected a non-empty F32 vector")
            }
            let v = try f.floats(name)
            if let bad = v.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw SentioError(.corrupt, file: path, "entry '\(name)' column \(bad) is \(v[bad]); importances are finite and >= 0")
            }
            cols[name] = v
        }
        guard !cols.isEmpty else { throw SentioError(.corrupt, file: path, "the importance matrix holds no entries") }
        columns = cols
        info = f.metadata.filter { $0.key != Self.marker }
    }

    /// Writes the file atomically (temporary file, then rename).
    public func write(to url: URL) throws {
        var w = SafetensorsWriter(metadata: info.merging([Self.marker: "1"]) { _, b in b })
        for name in columns.keys.sorted() {
            let v = columns[name]!
            w.add(name, floats: v, shape: [v.count])
        }
        try w.write(to: url)
    }

    /// The vector for `name`, checked against the matrix's row length.
    public func vector(for name: String, rowLength: Int, file: String) throws -> [Float]? {
        guard let v = columns[name] else { return nil }
        guard v.count == rowLength else {
            throw SentioError(.shape, file: file, "entry '\(name)' has \(v.count) columns, the weight's rows have \(rowLength)")
        }
        return v
    }
}
