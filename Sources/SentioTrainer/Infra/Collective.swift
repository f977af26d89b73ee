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
    /// Runs `body` with the environment's collective; MPI is finalized after success. On an error with
    /// more than one rank the error is printed and every rank is ended with MPI_Abort (exit code 1),
    /// since the other ranks may be blocked in a collective that this rank will never join.
    public static func run(_ body: (Collective) throws -> Void) throws {
        let c = try fromEnvironment()
        do { try body(c) } catch {
            if let m = c as? MPICollective, m.size > 1 {
                FileHandle.standardError.write(Data("sentio: error (rank \(m.rank) of \(m.size)): \(error)\n".utf8))
                m.abort(code: 1)
            }
            throw error
        }
        (c as? MPICollective)?.finalize()
    }

    /// MPI when the process was started by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is set), else one process.
    public static func fromEnvironment() throws -> Collective {
        if ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil { return try MPICollective.shared() }
        return SingleProcess()
    }
}
