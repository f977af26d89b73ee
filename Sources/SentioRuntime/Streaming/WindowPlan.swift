// Window geometry of `watch`. Times are integer microseconds from the stream origin, so window edges and
// frame timestamps compare exactly.
//
// Window k covers [k*hop, k*hop + window). A frame or sample at time t belongs to every window whose range
// holds t (several when hop < window; none in the gaps when hop > window). A window is complete once the
// stream has passed its end. Last partial window policy: when the stream ends after the end of the last
// complete window (some stream is not covered yet), the earliest incomplete window is processed as a partial
// window [start, streamEnd) when it holds at least `minimumPartial` of stream; the later incomplete windows
// lie inside it and are dropped. A stream shorter than one window thus gives one partial window; a stream
// that ends exactly where a complete window ends gives none.
//
// Frames of a window: the spec's sampling formula (FrameSampler.uniformIndices) over the N frames whose
// timestamps lie in the window, exactly as `recognize` samples a clip holding those frames. N is only
// known when the window closes, but frames are analysed as they arrive, so the sampled positions are
// predicted from the nominal frame rate when the window's first frame arrives (`predictedFrameCount`); for
// a constant-frame-rate source the prediction is exact. When it is not (variable frame rate, a stream that
// ends early), each sampled position takes the nearest frame that was kept, and the result says so.
import Foundation
import SentioCore
import SentioMedia

public struct WindowPlan: Sendable, Equatable {
    public let windowMicros: Int64
    public let hopMicros: Int64
    /// Shortest final partial window that is still processed.
    public let minimumPartialMicros: Int64

    /// - Parameters: seconds; window and hop must be positive and at most a day.
    public init(window: Double, hop: Double, minimumPartial: Double = 1.0) throws {
        guard window.isFinite, hop.isFinite, window > 0, hop > 0, window <= 86_400, hop <= 86_400 else {
            throw SentioError(.argument, "window and hop must be positive numbers of seconds (at most a day); got window \(window), hop \(hop)")
        }
        guard minimumPartial.isFinite, minimumPartial >= 0 else { throw SentioError(.argument, "minimum partial window must be >= 0 s") }
        windowMicros = Int64((window * 1e6).rounded())
        hopMicros = Int64((hop * 1e6).rounded())
        minimumPartialMicros = Int64((minimumPartial * 1e6).rounded())
        guard windowMicros > 0, hopMicros > 0 else { throw SentioError(.argument, "window and hop must be at least 1 microsecond") }
    }

    public func start(_ k: Int) -> Int64 { Int64(k) * hopMicros }
    public func end(_ k: Int) -> Int64 { start(k) + windowMicros }

    /// Indices of the windows holding time t (empty in a gap between windows or before 0).
    public func windows(containing t: Int64) -> ClosedRange<Int>? {
        guard t >= 0 else { return nil }
        let hi = Int(t / hopMicros)
        let d = t - windowMicros   // k > d / hop
        let lo = d < 0 ? 0 : Int(d / hopMicros) + 1
        return lo <= hi ? lo...hi : nil
    }

    /// Frames a window is expected to hold when its first frame is at `first` and frames come `fps` a second
    /// until `end`: the count of k >= 0 with first + k/fps < end.
    public static func predictedFrameCount(first: Int64, end: Int64, fps: Double) -> Int {
        guard end > first, fps > 0, fps.isFinite else { return 1 }
        let n = (Double(end - first) * fps / 1e6 - 1e-6).rounded(.up)
        return max(1, Int(min(n, 1_000_000)))
    }

    /// The kept frame (window-local index) used for sampled position `wanted`: itself, else the nearest kept
    /// one (ties to the earlier).
    public static func nearest(_ wanted: Int, in kept: [Int]) -> Int? {
        kept.min { (abs($0 - wanted), $0) < (abs($1 - wanted), $1) }
    }
}
