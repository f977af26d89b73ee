// swift-tools-version:6.0
// Sentio: R1-Omni on plain CPUs. See README.md for the module map.
//
// Build flags: by default Swift and C code are compiled for the CPU doing the build
// (`-march=native`: AVX-512 / AVX2 / FMA / F16C where present). Set SENTIO_PORTABLE=1 for a
// baseline x86-64 (or generic aarch64) build that runs anywhere; the C kernels still pick
// their instruction set at run time (CSentioKernels/dispatch.c).
import PackageDescription
import Foundation

let portable = ProcessInfo.processInfo.environment["SENTIO_PORTABLE"].map { $0 != "0" && !$0.isEmpty } ?? false
let nativeSwift: [SwiftSetting] = portable ? [] : [.unsafeFlags(["-Xcc", "-march=native"])]
let optimized: [SwiftSetting] = nativeSwift + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "Sentio",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sentio", targets: ["SentioCLI"]),
        .library(name: "Sentio", targets: ["SentioRuntime", "SentioConvert", "SentioTrainer", "SentioMedia"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev liblz4-dev libav*-dev libsw*-dev).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev"])]),

        // Layer 0: shared value types (dtypes, quantized blocks, half floats, errors).
        .target(name: "SentioCore", swiftSettings: optimized),
        // Layer 1: kernels. C only for instructions Swift cannot emit (VNNI, BF16 dot), ISA chosen at run time.
        .target(name: "CSentioKernels", cSettings: [.unsafeFlags(["-O3"])], linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "SentioKernels", dependencies: ["SentioCore", "CSentioKernels"],
                swiftSettings: optimized),
        // Layer 2: weight files (safetensors, GGUF, .sentio).
        .target(name: "SentioFormat", dependencies: ["SentioCore", "CLZ4"], swiftSettings: optimized),
        // Beside the models: tokenizers and media.
        .target(name: "SentioTokenizers", dependencies: ["SentioCore"], swiftSettings: optimized),
        .target(name: "SentioMedia", dependencies: ["SentioCore", "CFFmpeg"], swiftSettings: optimized),
        // Layer 3: models (one file per component) and their tensor schemas.
        .target(name: "SentioModels", dependencies: ["SentioCore", "SentioKernels", "SentioFormat", "SentioTokenizers"],
                swiftSettings: optimized),
        // Converter: source checkpoints -> .sentio, driven by the model schemas.
        .target(name: "SentioConvert", dependencies: ["SentioCore", "SentioKernels", "SentioFormat", "SentioModels", "SentioTokenizers"],
                resources: [.copy("Resources/bert-uncased-vocab.txt")], swiftSettings: optimized),
        // Layer 4: runtime (sessions, KV cache, sampler, streaming).
        .target(name: "SentioRuntime", dependencies: ["SentioCore", "SentioKernels", "SentioFormat", "SentioModels",
                                                      "SentioTokenizers", "SentioConvert", "SentioMedia"],
                swiftSettings: optimized),
        // Layer 5: trainer (LoRA, GRPO, SFT) on the same kernels and KV cache.
        .target(name: "SentioTrainer", dependencies: ["SentioRuntime", "SentioModels", "SentioKernels"],
                swiftSettings: optimized),
        // Layer 6: command line.
        .executableTarget(name: "SentioCLI",
                          dependencies: ["SentioRuntime", "SentioConvert", "SentioTrainer", "SentioMedia",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: optimized),

        .executableTarget(name: "KernelBench", dependencies: ["SentioKernels"], path: "Benchmarks/KernelBench", swiftSettings: optimized),

        // Tests. Shared helpers (fixture paths, approximate equality) live in SentioTestSupport.
        .target(name: "SentioTestSupport", dependencies: ["SentioCore", "SentioFormat"], path: "Tests/SentioTestSupport"),
        .testTarget(name: "SentioCoreTests", dependencies: ["SentioCore", "SentioTestSupport"], swiftSettings: nativeSwift),
        .testTarget(name: "SentioKernelsTests", dependencies: ["SentioKernels", "SentioTestSupport", "COpenBLAS"], swiftSettings: nativeSwift),
        .testTarget(name: "SentioFormatTests", dependencies: ["SentioFormat", "SentioTestSupport"], swiftSettings: nativeSwift),
        .testTarget(name: "SentioTokenizersTests", dependencies: ["SentioTokenizers", "SentioTestSupport"], swiftSettings: nativeSwift),
        .testTarget(name: "SentioMediaTests", dependencies: ["SentioMedia", "SentioTestSupport"], swiftSettings: nativeSwift),
        .testTarget(name: "SentioModelsTests", dependencies: ["SentioModels", "SentioConvert", "SentioRuntime", "SentioTestSupport"],
                    swiftSettings: nativeSwift),
        .testTarget(name: "SentioRuntimeTests", dependencies: ["SentioRuntime", "SentioTestSupport"], swiftSettings: nativeSwift),
        .testTarget(name: "SentioTrainerTests", dependencies: ["SentioTrainer", "SentioModels", "SentioRuntime", "SentioFormat", "SentioTestSupport"],
                    swiftSettings: nativeSwift),
        .testTarget(name: "SentioCLITests", dependencies: ["SentioModels", "SentioTestSupport"], swiftSettings: nativeSwift),
    ]
)
