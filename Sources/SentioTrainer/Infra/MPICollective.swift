// Open MPI, loaded at run time with dlopen: the package builds and runs where MPI is not installed
// (a system-library target would make libmpi a link-time dependency of every `sentio` binary and of
// the test bundle). The cost is binding to Open MPI's ABI: its handles (MPI_COMM_WORLD, MPI_FLOAT,
// MPI_SUM...) are addresses of exported objects (ompi_mpi_comm_world...), looked up with dlsym.
// MPICH's integer handles are not supported. SENTIO_MPI_LIB overrides the library path.
import Foundation
import SentioCore

public final class MPICollective: Collective, @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    typealias InitFn = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32
    typealias FlagFn = @convention(c) (UnsafeMutablePointer<Int32>?) -> Int32
    typealias CommIntFn = @convention(c) (Handle?, UnsafeMutablePointer<Int32>?) -> Int32
    typealias AllreduceFn = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle?, Handle?, Handle?) -> Int32
    typealias BcastFn = @convention(c) (UnsafeMutableRawPointer?, Int32, Handle?, Int32, Handle?) -> Int32
    typealias CommFn = @convention(c) (Handle?) -> Int32
    typealias VoidFn = @convention(c) () -> Int32
    typealias CommIntValueFn = @convention(c) (Handle?, Int32) -> Int32

    public let rank: Int
    public let size: Int
    private let allreduce: AllreduceFn
    private let bcast: BcastFn
    private let barrierFn: CommFn
    private let finalizeFn: VoidFn
    private let abortFn: CommIntValueFn
    private let comm: Handle, float: Handle, double: Handle, byte: Handle, sum: Handle
    private var finalized = false

    nonisolated(unsafe) private static var instance: MPICollective?
    private static let lock = NSLock()

    /// MPI_Init happens once per process: every caller shares one instance.
    public static func shared() throws -> MPICollective {
        lock.lock(); defer { lock.unlock() }
        if let i = instance { return i }
        let i = try MPICollective()
        instance = i
        return i
    }

    private init() throws {
        let env = ProcessInfo.processInfo.environment["SENTIO_MPI_LIB"]
        let candidates = env.map { [$0] } ?? ["libmpi.so.40", "libmpi.so", "libmpi.dylib"]
        var lib: UnsafeMutableRawPointer?
        for c in candidates {
            // RTLD_GLOBAL: Open MPI's plugins resolve libmpi's symbols from the global scope.
            lib = dlopen(c, RTLD_NOW | RTLD_GLOBAL)
            if lib != nil { break }
        }
        guard let lib else {
            throw SentioError(.unsupported, "MPI: cannot load \(candidates.joined(separator: " or ")) (install Open MPI, e.g. apt-get install libopenmpi-dev, or set SENTIO_MPI_LIB)")
        }
        func sym(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let p = dlsym(lib, name) else { throw SentioError(.unsupported, "MPI: \(name) not found (Sentio needs Open MPI's ABI)") }
            return p
        }
        let initialized = unsafeBitCast(try sym("MPI_Initialized"), to: FlagFn.self)
        let initFn = unsafeBitCast(try sym("MPI_Init"), to: InitFn.self)
        let commRank = unsafeBitCast(try sym("MPI_Comm_rank"), to: CommIntFn.self)
        let commSize = unsafeBitCast(try sym("MPI_Comm_size"), to: CommIntFn.self)
        allreduce = unsafeBitCast(try sym("MPI_Allreduce"), to: AllreduceFn.self)
        bcast = unsafeBitCast(try sym("MPI_Bcast"), to: BcastFn.self)
        barrierFn = unsafeBitCast(try sym("MPI_Barrier"), to: CommFn.self)
        finalizeFn = unsafeBitCast(try sym("MPI_Finalize"), to: VoidFn.self)
        abortFn = unsafeBitCast(try sym("MPI_Abort"), to: CommIntValueFn.self)
        comm = try sym("ompi_mpi_comm_world")
        float = try sym("ompi_mpi_float")
        double = try sym("ompi_mpi_double")
        byte = try sym("ompi_mpi_byte")
        sum = try sym("ompi_mpi_op_sum")
        var flag: Int32 = 0
        _ = initialized(&flag)
        if flag == 0 {
            let rc = initFn(nil, nil)
            guard rc == 0 else { throw SentioError(.unsupported, "MPI_Init failed with code \(rc)") }
        }
        var r: Int32 = 0, s: Int32 = 0
        _ = commRank(comm, &r)
        _ = commSize(comm, &s)
        rank = Int(r)
        size = Int(s)
    }

    private static let chunk = 1 << 28

    private func reduce(_ base: UnsafeMutableRawPointer, count: Int, stride: Int, type: Handle) throws {
        var done = 0
        // MPI counts are 32-bit: large buffers go in chunks. A separate receive buffer avoids
        // MPI_IN_PLACE (whose value is ABI-specific).
        while done < count {
            let n = min(Self.chunk, count - done)
            let src = base + done * stride
            let tmp = UnsafeMutableRawPointer.allocate(byteCount: n * stride, alignment: 16)
            defer { tmp.deallocate() }
            let rc = allreduce(src, tmp, Int32(n), type, sum, comm)
            guard rc == 0 else { throw SentioError(.io, "MPI_Allreduce failed with code \(rc)") }
            src.copyMemory(from: tmp, byteCount: n * stride)
            done += n
        }
    }

    public func allReduceSum(_ buffer: inout [Float]) throws {
        try buffer.withUnsafeMutableBytes { b in
            guard let base = b.baseAddress, b.count > 0 else { return }
            try reduce(base, count: b.count / 4, stride: 4, type: float)
        }
    }

    public func allReduceSum(_ buffer: inout [Double]) throws {
        try buffer.withUnsafeMutableBytes { b in
            guard let base = b.baseAddress, b.count > 0 else { return }
            try reduce(base, count: b.count / 8, stride: 8, type: double)
        }
    }

    public func broadcast(_ buffer: inout [UInt8], root: Int) throws {
        guard root >= 0, root < size else { throw SentioError(.argument, "broadcast: root \(root) outside a world of \(size)") }
        try buffer.withUnsafeMutableBytes { b in
            guard let base = b.baseAddress, b.count > 0 else { return }
            var done = 0
            while done < b.count {
                let n = min(Self.chunk, b.count - done)
                let rc = bcast(base + done, Int32(n), byte, Int32(root), comm)
                guard rc == 0 else { throw SentioError(.io, "MPI_Bcast failed with code \(rc)") }
                done += n
            }
        }
    }

    public func barrier() throws {
        let rc = barrierFn(comm)
        guard rc == 0 else { throw SentioError(.io, "MPI_Barrier failed with code \(rc)") }
    }

    /// MPI_Abort: ends every rank. For errors: other ranks may be waiting in a collective, where
    /// MPI_Finalize would wait for them forever.
    public func abort(code: Int32) -> Never {
        _ = abortFn(comm, code)
        exit(code)
    }

    /// MPI_Finalize (once; call before the process exits, or mpirun reports an abnormal exit).
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = finalizeFn()
    }
}
