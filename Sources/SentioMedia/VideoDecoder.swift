// Video frames from any file FFmpeg reads, as 8-bit RGB.
//
// `sampleFrames` finds the frame count N, picks the frames of FrameSampler, and decodes the file in one
// sequential pass that keeps only those frames (memory does not grow with the clip's length). Colour
// conversion is swscale's YUV -> RGB24 at the source size, which is what decord (the reference's reader)
// does: on the fixture clip the frames match decord's bit for bit. Rotation metadata (the display matrix)
// is applied after conversion, like the ffmpeg CLI's autorotate.
import CFFmpeg
import Foundation
import SentioCore

/// Frames picked from a clip, in index order.
public struct SampledFrames: Sendable {
    public var frames: [RGBFrame]
    /// Frame index of each entry of `frames` (in decode order, 0-based).
    public var indices: [Int]
    /// Frame count N used for sampling.
    public var frameCount: Int
    /// Clockwise rotation applied to every frame (0, 90, 180, 270).
    public var rotation: Int
    /// Things the caller should know (container frame count disagreed with the decoded count, ...).
    public var warnings: [String]
}

public enum VideoDecoder {
    /// Decodes `count` uniformly sampled frames (R1-Omni's 8 by default).
    /// - Parameter threads: decoder threads (0 = FFmpeg's choice).
    public static func sampleFrames(_ url: URL, count: Int = 8, threads: Int = 0) throws -> SampledFrames {
        let input = try FormatInput(url)
        guard let vs = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            throw MediaError(.noVideoStream, file: url.path, "no video stream (the file has \(input.ctx.pointee.nb_streams) stream(s), none of them video)")
        }
        var warnings: [String] = []
        let n = frameCount(input: input, stream: vs, url: url)
        var result = try sample(url, frameCount: n, count: count, threads: threads)
        if result.decoded != n && result.decoded > 0 {
            // The container promised a different number of frames (truncated file, odd edit list):
            // sample again over the frames that really decode.
            warnings.append("container reports \(n) frames but \(result.decoded) decoded; sampled over \(result.decoded)")
            result = try sample(url, frameCount: result.decoded, count: count, threads: threads)
        }
        guard result.decoded > 0, result.frames.count == count else {
            throw MediaError(.decodeFailed, file: url.path, "no video frame could be decoded")
        }
        return SampledFrames(frames: result.frames, indices: result.indices, frameCount: result.decoded == n ? n : result.decoded,
                             rotation: result.rotation, warnings: warnings + result.warnings)
    }

    /// The number of frames of the best video stream: the container's count where it is exact (the MP4/MOV
    /// sample table), else the number of packets found by demuxing the whole stream (no decoding).
    public static func frameCount(_ url: URL) throws -> Int {
        let input = try FormatInput(url)
        guard let vs = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            throw MediaError(.noVideoStream, file: url.path, "no video stream")
        }
        return frameCount(input: input, stream: vs, url: url)
    }

    static func frameCount(input: FormatInput, stream vs: Int32, url: URL) -> Int {
        let nb = Int(input.stream(vs).pointee.nb_frames)
        if nb > 0 && input.formatName.hasPrefix("mov,") { return nb }
        // Other containers (Matroska, WebM, AVI, raw streams) have no exact count: count packets on a
        // fresh context so that this one is not left at end of file.
        guard let counter = try? FormatInput(url) else { return nb }
        let c = counter.countPackets(stream: vs)
        return c > 0 ? c : nb
    }

    /// Streams every decoded frame, in decode order, to `handler(index, pts seconds, frame)` until it returns
    /// false. Rotation is applied. Memory holds one frame at a time.
    public static func forEachFrame(_ url: URL, threads: Int = 0,
                                    handler: (Int, Double, RGBFrame) throws -> Bool) throws {
        let input = try FormatInput(url)
        guard let vs = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            throw MediaError(.noVideoStream, file: url.path, "no video stream")
        }
        let codec = try CodecContext(input: input, stream: vs, threads: threads)
        let converter = RGBConverter(path: url.path)
        let rotation = clockwiseRotation(input.stream(vs))
        let tb = input.stream(vs).pointee.time_base
        var index = 0
        try input.decode(stream: vs, codec: codec) { f in
            let ts = f.pointee.best_effort_timestamp
            let pts = ts == sentio_av_nopts_value() ? Double.nan : Double(ts) * Double(tb.num) / Double(max(1, tb.den))
            let rgb = try converter.convert(f).rotatedClockwise(rotation)
            defer { index += 1 }
            return try handler(index, pts, rgb)
        }
    }

    // MARK: - one sequential pass

    struct PassResult {
        var frames: [RGBFrame]
        var indices: [Int]
        var decoded: Int
        var rotation: Int
        var warnings: [String]
    }

    /// Decodes the whole stream once, converting only the frames at the sampled indices.
    static func sample(_ url: URL, frameCount n: Int, count: Int, threads: Int) throws -> PassResult {
        let input = try FormatInput(url)
        guard let vs = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            throw MediaError(.noVideoStream, file: url.path, "no video stream")
        }
        let codec = try CodecContext(input: input, stream: vs, threads: threads)
        let converter = RGBConverter(path: url.path)
        let rotation = clockwiseRotation(input.stream(vs))
        let wanted = FrameSampler.uniformIndices(frameCount: max(n, 1), count: count)
        var frames = [RGBFrame?](repeating: nil, count: wanted.count)
        var index = 0
        var warnings: [String] = []
        let ok = try input.decode(stream: vs, codec: codec) { f in
            if wanted.contains(index) {
                let rgb = try converter.convert(f).rotatedClockwise(rotation)
                for (k, w) in wanted.enumerated() where w == index { frames[k] = rgb }
            }
            index += 1
            return true   // keep counting to the end: the caller checks the count
        }
        if !ok { warnings.append("the video stream has decode errors; damaged frames were skipped") }
        let got = frames.compactMap { $0 }
        return PassResult(frames: got.count == wanted.count ? got : [], indices: wanted, decoded: index,
                          rotation: rotation, warnings: warnings)
    }

    /// Clockwise quarter turns the display matrix asks for, as the ffmpeg CLI's autorotate reads it.
    static func clockwiseRotation(_ st: UnsafeMutablePointer<AVStream>) -> Int {
        let ccw = sentio_stream_display_rotation(st)     // counter-clockwise degrees
        var cw = -ccw
        cw -= 360 * (cw / 360 + 0.9 / 360).rounded(.down)  // into [0, 360)
        for q in [90, 180, 270] where abs(cw - Double(q)) < 1 { return q }
        return 0
    }
}

/// swscale conversion of decoded frames to packed RGB24 at the source size.
final class RGBConverter {
    let path: String
    private var sws: OpaquePointer? = nil
    private var buffer: UnsafeMutablePointer<UInt8>? = nil
    private var bufferStride: Int32 = 0
    private var bufferSize = (0, 0)

    init(path: String) { self.path = path }

    deinit {
        sws_freeContext(sws)
        av_free(buffer)
    }

    func convert(_ f: UnsafeMutablePointer<AVFrame>) throws -> RGBFrame {
        let w = Int(f.pointee.width), h = Int(f.pointee.height)
        guard w > 0, h > 0, w <= 16384, h <= 16384 else {
            throw MediaError(.decodeFailed, file: path, "decoded frame has unusable size \(w)x\(h)")
        }
        let fmt = AVPixelFormat(rawValue: f.pointee.format)
        // SWS_BICUBIC is swscale's default; at equal sizes the YUV -> RGB path does not scale and matches decord.
        sws = sws_getCachedContext(sws, Int32(w), Int32(h), fmt, Int32(w), Int32(h), AV_PIX_FMT_RGB24,
                                   Int32(SWS_BICUBIC), nil, nil, nil)
        guard let sws else {
            throw MediaError(.decodeFailed, file: path, "cannot convert pixel format \(f.pointee.format) to RGB")
        }
        if bufferSize != (w, h) {
            av_free(buffer)
            // 64-byte aligned rows so that swscale can use its SIMD paths.
            bufferStride = Int32((w * 3 + 63) & ~63)
            buffer = av_malloc(Int(bufferStride) * h + 64)?.assumingMemoryBound(to: UInt8.self)
            bufferSize = (w, h)
        }
        guard let buffer else { throw MediaError(.decodeFailed, file: path, "out of memory for a \(w)x\(h) frame") }
        let (data, lines) = framePlanes(f)
        var dst: [UnsafeMutablePointer<UInt8>?] = [buffer, nil, nil, nil]
        var dstStride: [Int32] = [bufferStride, 0, 0, 0]
        let r = data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
            sws_scale(sws, src, lines, 0, Int32(h), &dst, &dstStride)
        }
        guard r == Int32(h) else { throw MediaError(.decodeFailed, file: path, "colour conversion failed") }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        out.withUnsafeMutableBytes { o in
            for y in 0..<h {
                memcpy(o.baseAddress! + y * w * 3, buffer + y * Int(bufferStride), w * 3)
            }
        }
        return RGBFrame(width: w, height: h, pixels: out)
    }
}
