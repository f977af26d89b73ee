// TensorSchema: what a model's weight file must hold, shared by the converter (which writes it)
// and the loader (which reads it). Names are the Hugging Face checkpoint names; a schema may also
// map other source layouts (GGUF) onto them.
import SentioCore
import SentioFormat

/// What a tensor is for; the quantization policy decides its storage type from this.
public enum TensorRole: String, Sendable {
    case linear       // [out, in] matrix multiplied in Linear.forward: quantizable
    case encoderLinear // a linear of an encoder that always runs whole sequences at once (Whisper: 1500 rows
                       // per call): as `linear`, but a q8 target stores it q8r (one scale per row) for the
                       // AMX-INT8 tile GEMM
    case embedding    // token embedding table [vocab, hidden]: row lookups (and the tied output head)
    case outputHead   // untied lm_head [vocab, hidden]
    case norm         // RMSNorm / LayerNorm scales and shifts: always f32
    case bias         // additive biases: always f32
    case position     // learned / sinusoidal position tables: f32
    case conv         // convolution kernels: f16 at most (f32 when the source is f32)
    case other        // anything else: f32
}

public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let role: TensorRole
    public init(_ name: String, _ shape: [Int], _ role: TensorRole) {
        self.name = name; self.shape = shape; self.role = role
    }
}

/// The one place that decides a tensor's stored dtype.
///
/// Rules: norms, biases, positions and `other` stay f32 (tiny, precision-critical); linear / embedding /
/// output head take the requested type. Conv kernels [O, C, k...] run as Linear matrices [O, C*k...]
/// (1x1 convs, im2col patch embeddings, the Conv3d sampler, Whisper's convs), so they are quantized too,
/// but never below q8: they are ~3% of R1-Omni's parameters (q8 instead of q4 costs ~20 MB) and feed chains
/// of norms (RegStages) where q4 error compounds: on the tiny fixture q4 convs gave the video branch 0.51
/// relative error, q8 convs 0.22 (same q4 matrices). With an f16 / bf16 target they are stored f16. Quantized types need each row (the product
/// of all dims after the first; the only dim of a vector) to be whole blocks of 32; otherwise the tensor
/// falls back to f16 (e.g. depthwise 3x3 kernels [C, 1, 3, 3], rows of 9). `overrides` are
/// (glob pattern, dtype) pairs from the command line, the last match winning, e.g. `*lm_head*=q8`.
///
/// q8r (Q8_0 blocks with one scale per output row) is what a q8 target gives `encoderLinear` matrices (Whisper's
/// q/k/out/fc1/fc2; its v_proj stays `linear`, see WhisperSchema): their activations are quantized per row too and the whole product runs on the AMX-INT8
/// tiles, ~1.5-2x the bf16 tiles' speed (docs/BENCHMARKS.md); the coarser per-row grid is what CTranslate2's
/// int8 Whisper uses. Without the tiles q8r runs as Q8_0. `--override '*audio_tower*_proj.weight=q8' --override '*audio_tower*.fc?.weight=q8'`
/// keeps per-block scales.
///
/// `importance` (optional, `sentio convert --imatrix`): per-column activation importances that weight the
/// block quantizers' error (ImportanceMatrix); used by the 4-bit quantizers (q4, q4_1), where rounding error
/// is large enough for the weighting to matter. Tensors it has no entry for are quantized unweighted.
public struct QuantPolicy: Sendable {
    public var target: DType
    public var overrides: [(pattern: String, dtype: DType)]
    public var importance: ImportanceMatrix?
    /// Where `importance` came from, for error messages.
    public var importanceFile: String = ""

    public init(target: DType, overrides: [(pattern: String, dtype: DType)] = []) {
        self.target = target; self.overrides = overrides
    }

    /// Parses `pattern=dtype` override strings.
    public static func parseOverride(_ s: String) throws -> (pattern: String, dtype: DType) {
        let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, let t = DType(name: parts[1]), t.isFloat else {
            throw SentioError(.argument, "bad override '\(s)': expected PATTERN=DTYPE with DTYPE one of f32,f16,bf16,q8,q8r,q4,q4_1,q5")
        }
        return (parts[0], t)
    }

    public func dtype(for spec: TensorSpec) -> DType {
        var t: DType
        switch spec.role {
        case .norm, .bias, .position, .other: t = .f32
        case .conv: t = target == .f32 ? .f32 : target.isQuantized ? .q8 : .f16
        case .linear, .embedding, .outputHead: t = target
        case .encoderLinear: t = target == .q8 ? .q8r : target
        }
        for o in overrides where globMatch(o.pattern, spec.name) { t = o.dtype }
        if t.isQuantized, Self.rowLength(spec.shape) % t.blockSize != 0 { t = .f16 }
        return t
    }

    /// The shape a tensor is written with. Block-quantized data must run along the last dimension, so a
    /// quantized conv kernel [O, C, k...] is stored as the matrix [O, C*k...] it is used as (same bytes, same
    /// order); `SchemaShapedWeights` gives it back its schema shape on load.
    public static func storedShape(_ spec: TensorSpec, dtype: DType) -> [Int] {
        guard dtype.isQuantized, spec.role == .conv, spec.shape.count > 2 else { return spec.shape }
        return [spec.shape[0], rowLength(spec.shape)]
    }

    /// Elements per stored row: the product of all dims after the first (a vector: its length).
    public static func rowLength(_ shape: [Int]) -> Int {
        guard shape.count >= 2 else { return shape.first ?? 0 }
        return shape.dropFirst().reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? 0 : $0 * $1 }
    }
}

/// Shell-style glob with `*` (any run) and `?` (one character).
public func globMatch(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.utf8), t = Array(text.utf8)
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
        if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == t[ti] { pi += 1; ti += 1 }
        else if pi < p.count, p[pi] == UInt8(ascii: "*") { star = pi; mark = ti; pi += 1 }
        else if star >= 0 { pi = star + 1; mark += 1; ti = mark }
        else { return false }
    }
    while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.count
}
