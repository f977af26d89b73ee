// Collective operations for data-parallel training: every rank holds the same parameters, computes
// gradients on its own slice of the global batch, and sums them with allReduceSum before the
// (identical) optimizer update. Rank 0 writes logs and checkpoints.
import Foundation
import SentioCore

public protocol Collective: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over all ranks, in place (every rank gets the sum).
    func allReduceSum(_ buffer: inout [Float]) throws
    func allReduceSum(_ buffer: inout [Double]) throws
    /// Rank `root`'s bytes to every rank (`buffer` must have the same count everywhere).
    func broadcast(_ buffer: inout [UInt8], root: Int) throws
    func barrier() throws
}

/// One process: the sums are the buffers themselves.
public final class SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: inout [Float]) throws {}
    public func allReduceSum(_ buffer: inout [Double]) throws {}
    public func broadcast(_ buffer: inout [UInt8], root: Int) throws {
        guard root == 0 else { throw SentioError(.argument, "broadcast: root \(root) outside a world of 1") }
    }
    public func barrier() throws {}
}

public enum Collectives {
    /// MPI when the process was started by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is set), else one process.
    public static func fromEnvironment() throws -> Collective {
        if ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil { return try MPICollective.shared() }
        return SingleProcess()
    }
}
