// A .sentio file as a WeightSource (tensors by schema name, zero-copy from the memory map).
import Foundation
import SentioCore
import SentioFormat

public final class SentioFileWeights: WeightSource, @unchecked Sendable {
    public let file: SentioFile
    public var sourceName: String { file.url.path }
    public init(_ file: SentioFile) { self.file = file }
    public func has(_ name: String) -> Bool { file.has(name) }
    public func tensor(_ name: String) throws -> LoadedTensor {
        let t: SentioTensor = try file.tensor(name)
        return LoadedTensor(dtype: t.dtype, shape: t.shape, bytes: t.bytes)
    }
}
