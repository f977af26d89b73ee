// MachineInfo: the line benchmarks print about the CPU they ran on.
import Foundation

public enum MachineInfo {
    /// CPU model, logical cores, and the vector extensions Sentio's kernels can use.
    public static var summary: String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = text.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        let flags = Set(text.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        let interesting = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni"]
        let have = interesting.filter { flags.contains($0) }
        #if arch(x86_64)
        let arch = "x86_64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "other"
        #endif
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(arch) [\(have.joined(separator: " "))]"
    }

    /// Peak resident set size of this process in bytes.
    public static var peakRSS: Int {
        var u = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &u)
        return Int(u.ru_maxrss) * 1024
    }
}
