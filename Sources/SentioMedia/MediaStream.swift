// Streaming input: one pass over any source FFmpeg opens (a file, `-` for stdin, a device, an rtsp/http URL,
// a lavfi graph with format "lavfi"), decoding the best video stream and the best audio stream together as
// their packets arrive. Video frames are handed to the caller one at a time (converted to RGB only when the
// caller asks, since conversion is the costly part); audio comes out as 16 kHz mono float chunks from the
// same swresample path as AudioDecoder, so a segment cut from the stream equals the same segment decoded as
// a file. Nothing accumulates here: every packet is decoded and released before the next one is read.
//
// Time: every timestamp is in microseconds from the stream origin, which is the container's start_time when
// it has one, else the first timestamp read. Video frames carry their best-effort pts; audio carries a
// sample clock (`audioStartMicros` = the time of the first audio sample, then 16000 samples a second,
// gaps not reconstructed).
import CFFmpeg
import Foundation
import SentioCore

/// How a streaming source ended.
public enum StreamEnd: Sendable, Equatable {
    /// The source reached its end normally.
    case endOfStream
    /// Reading failed (I/O error, corrupt data) or the source ended well before the duration it declared.
    case broken(String)
    /// The caller stopped reading.
    case stopped
}

/// What a source is and how to open it.
public struct MediaSourceSpec: Sendable, Equatable {
    /// A path, `-` (standard input), a URL (rtsp://, http://, ...), a device name, or a lavfi graph.
    public var location: String
    /// FFmpeg input format to force ("lavfi", "v4l2", "matroska", ...), nil to probe.
    public var format: String?
    /// Demuxer options (AVDictionary), e.g. ["rw_timeout": "10000000"].
    public var options: [String: String]

    public init(_ location: String, format: String? = nil, options: [String: String] = [:]) {
        self.location = location; self.format = format; self.options = options
    }

    /// The string FFmpeg is given: `-` becomes `pipe:0`.
    public var ffmpegURL: String { location == "-" ? "pipe:0" : location }
    /// A network stream (rtsp, rtmp, udp, srt, ...): live, never paced.
    public var isNetwork: Bool {
        let l = location.lowercased()
        return ["rtsp://", "rtsps://", "rtmp://", "rtmps://", "udp://", "rtp://", "srt://", "tcp://", "http://", "https://"]
            .contains { l.hasPrefix($0) }
    }
}

/// A decoded video frame, valid only inside the callback that received it.
public struct StreamVideoFrame {
    /// 0-based index in decode (presentation) order.
    public let index: Int
    /// Presentation time, microseconds from the stream origin.
    public let micros: Int64
    let frame: UnsafeMutablePointer<AVFrame>
    let converter: RGBConverter
    let rotation: Int

    /// The frame as RGB at its source size, rotated as its display matrix says (as VideoDecoder does).
    public func rgb() throws -> RGBFrame { try converter.convert(frame).rotatedClockwise(rotation) }
}

public final class MediaStreamReader {
    public let source: MediaSourceSpec
    public let hasVideo: Bool
    public let hasAudio: Bool
    /// Nominal video frame rate (avg_frame_rate, else r_frame_rate), nil when the container gives none.
    public let frameRate: Double?
    /// Declared duration in microseconds, nil when unknown (pipes, live sources).
    public let declaredDurationMicros: Int64?
    /// True for a regular file (which can be paced to real time); false for pipes, devices and network streams.
    public let isRegularFile: Bool
    /// True for device inputs and network streams: data arrives in real time whatever we do.
    public let isLive: Bool
    /// Time of the first audio sample (microseconds from the origin), known once audio has been decoded.
    public private(set) var audioStartMicros: Int64?
    /// Audio samples delivered so far.
    public private(set) var audioSamples = 0
    /// Video frames delivered so far.
    public private(set) var videoFrames = 0
    /// Latest timestamp seen per stream (microseconds), for closing windows.
    public private(set) var lastVideoMicros: Int64 = .min
    /// Decode errors skipped so far (damaged packets).
    public private(set) var decodeErrors = 0
    public private(set) var end: StreamEnd? = nil

    private let ctx: UnsafeMutablePointer<AVFormatContext>
    private let vIndex: Int32?, aIndex: Int32?
    private let vCodec: CodecContext?, aCodec: CodecContext?
    private let converter: RGBConverter
    private let resampler: MonoResampler
    private let rotation: Int
    private var origin: Int64?
    private let packet: UnsafeMutablePointer<AVPacket>
    private let frame: UnsafeMutablePointer<AVFrame>
    private var audioBuffer: [Float] = []

    /// Opens the source and its decoders. Throws MediaError naming the source when it cannot be opened or
    /// holds neither video nor audio.
    public init(_ source: MediaSourceSpec, videoThreads: Int = 1) throws {
        _ = FF.quiet
        self.source = source
        let name = source.location
        if source.format == nil, source.location != "-", !source.location.contains("://") {
            try FF.checkFile(URL(fileURLWithPath: source.location))
        }
        var fmt: UnsafePointer<AVInputFormat>? = nil
        if let f = source.format {
            FFDevices.registerOnce()
            fmt = av_find_input_format(f)
            guard fmt != nil else {
                throw MediaError(.unreadable, file: name, "FFmpeg has no input format '\(f)'"
                                 + (FFDevices.available ? "" : " (libavdevice could not be loaded, so devices and lavfi are unavailable)"))
            }
        }
        var dict: OpaquePointer? = nil
        for (k, v) in source.options { av_dict_set(&dict, k, v, 0) }
        if source.isNetwork && source.options["rw_timeout"] == nil { av_dict_set(&dict, "rw_timeout", "10000000", 0) }
        var p: UnsafeMutablePointer<AVFormatContext>? = nil
        let r = avformat_open_input(&p, source.ffmpegURL, fmt, &dict)
        av_dict_free(&dict)
        guard r >= 0, let c = p else {
            throw MediaError(.unreadable, file: name, "cannot open the source (\(FF.message(r)))")
        }
        let r2 = avformat_find_stream_info(c, nil)
        if r2 < 0 {
            avformat_close_input(&p)
            throw MediaError(.unreadable, file: name, "cannot read stream information (\(FF.message(r2)))")
        }
        ctx = c
        let best = { (t: AVMediaType) -> Int32? in let i = av_find_best_stream(c, t, -1, -1, nil, 0); return i >= 0 ? i : nil }
        vIndex = best(AVMEDIA_TYPE_VIDEO)
        aIndex = best(AVMEDIA_TYPE_AUDIO)
        guard vIndex != nil || aIndex != nil else {
            avformat_close_input(&p)
            throw MediaError(.noVideoStream, file: name, "the source has no video and no audio stream")
        }
        hasVideo = vIndex != nil
        hasAudio = aIndex != nil
        do {
            vCodec = try vIndex.map { try CodecContext(format: c, path: name, stream: $0, threads: videoThreads) }
            aCodec = try aIndex.map { try CodecContext(format: c, path: name, stream: $0, threads: 1) }
        } catch {
            avformat_close_input(&p)
            throw error
        }
        if let v = vIndex {
            let st = c.pointee.streams[Int(v)]!
            let q = st.pointee.avg_frame_rate.num > 0 && st.pointee.avg_frame_rate.den > 0 ? st.pointee.avg_frame_rate : st.pointee.r_frame_rate
            frameRate = q.num > 0 && q.den > 0 ? Double(q.num) / Double(q.den) : nil
            rotation = VideoDecoder.clockwiseRotation(st)
        } else {
            frameRate = nil
            rotation = 0
        }
        let d = c.pointee.duration
        declaredDurationMicros = d > 0 && d != sentio_av_nopts_value() ? d : nil
        if c.pointee.start_time != sentio_av_nopts_value() { origin = c.pointee.start_time }
        var regular = false
        if source.format == nil, source.location != "-", !source.location.contains("://") {
            var st = stat()
            regular = stat(source.location, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
        }
        isRegularFile = regular
        let iflags = c.pointee.iformat.map { $0.pointee.flags } ?? 0
        isLive = source.isNetwork || (iflags & AVFMT_NOFILE != 0 && source.format != "lavfi")
        converter = RGBConverter(path: name)
        resampler = MonoResampler(path: name)
        guard let pk = av_packet_alloc(), let fr = av_frame_alloc() else {
            avformat_close_input(&p)
            throw MediaError(.decodeFailed, file: name, "out of memory allocating a packet")
        }
        packet = pk
        frame = fr
    }

    deinit {
        var pp: UnsafeMutablePointer<AVPacket>? = packet
        var fp: UnsafeMutablePointer<AVFrame>? = frame
        av_packet_free(&pp); av_frame_free(&fp)
        var c: UnsafeMutablePointer<AVFormatContext>? = ctx
        avformat_close_input(&c)
    }

    /// Microseconds of a timestamp in `tb`, from the origin (set by the first timestamp when the container has none).
    private func micros(_ ts: Int64, _ tb: AVRational) -> Int64? {
        guard ts != sentio_av_nopts_value() else { return nil }
        let us = av_rescale_q(ts, tb, AVRational(num: 1, den: Int32(AV_TIME_BASE)))
        if origin == nil { origin = us }
        return us - origin!
    }

    /// Reads one packet and decodes it, handing out what it yields. Returns false once the source has ended
    /// (`end` says how); the decoders are flushed then, so the last frames come out in that call.
    public func step(onVideo: (StreamVideoFrame) throws -> Void, onAudio: ([Float], _ firstSample: Int) throws -> Void) throws -> Bool {
        if end != nil { return false }
        let r = av_read_frame(ctx, packet)
        if r < 0 {
            if r == sentio_averror_eof() {
                end = .endOfStream
                if let d = declaredDurationMicros, isRegularFile {
                    let reached = max(lastVideoMicros, audioEndMicros ?? .min)
                    if reached >= 0, reached + 1_000_000 < d {
                        end = .broken(String(format: "the source ended at %.1f s of the %.1f s it declares (truncated?)",
                                             Double(reached) / 1e6, Double(d) / 1e6))
                    }
                }
            } else {
                end = .broken("reading failed: \(FF.message(r))")
            }
            try flush(onVideo: onVideo, onAudio: onAudio)
            return false
        }
        defer { av_packet_unref(packet) }
        let si = packet.pointee.stream_index
        if si == vIndex, let vc = vCodec {
            try feed(vc, packet, onVideo: onVideo, onAudio: onAudio, video: true)
        } else if si == aIndex, let ac = aCodec {
            try feed(ac, packet, onVideo: onVideo, onAudio: onAudio, video: false)
        }
        return true
    }

    /// Marks the source as stopped by the caller.
    public func stop() { if end == nil { end = .stopped } }

    /// End of the audio delivered so far, microseconds from the origin.
    public var audioEndMicros: Int64? {
        audioStartMicros.map { $0 + Int64(audioSamples) * 1_000_000 / Int64(AudioDecoder.sampleRate) }
    }

    private func flush(onVideo: (StreamVideoFrame) throws -> Void, onAudio: ([Float], Int) throws -> Void) throws {
        if let vc = vCodec { try feed(vc, nil, onVideo: onVideo, onAudio: onAudio, video: true) }
        if let ac = aCodec {
            try feed(ac, nil, onVideo: onVideo, onAudio: onAudio, video: false)
            audioBuffer.removeAll(keepingCapacity: true)
            try resampler.flush(into: &audioBuffer)
            try emitAudio(onAudio)
        }
    }

    private func feed(_ codec: CodecContext, _ pkt: UnsafeMutablePointer<AVPacket>?, onVideo: (StreamVideoFrame) throws -> Void,
                      onAudio: ([Float], Int) throws -> Void, video: Bool) throws {
        let s = avcodec_send_packet(codec.ctx, pkt)
        if s < 0 && s != sentio_averror(EAGAIN) && s != sentio_averror_eof() { decodeErrors += 1; return }
        let st = ctx.pointee.streams[Int(video ? vIndex! : aIndex!)]!
        while true {
            let r = avcodec_receive_frame(codec.ctx, frame)
            if r == sentio_averror(EAGAIN) || r == sentio_averror_eof() { return }
            if r < 0 { decodeErrors += 1; return }
            defer { av_frame_unref(frame) }
            let t = micros(frame.pointee.best_effort_timestamp, st.pointee.time_base)
            if video {
                // Frames without a timestamp follow the previous one by one nominal frame duration.
                let step = Int64(1_000_000 / (frameRate ?? 25))
                let us = t ?? (lastVideoMicros == .min ? 0 : lastVideoMicros + step)
                lastVideoMicros = max(lastVideoMicros, us)
                let f = StreamVideoFrame(index: videoFrames, micros: us, frame: frame, converter: converter, rotation: rotation)
                videoFrames += 1
                try onVideo(f)
            } else {
                if audioStartMicros == nil { audioStartMicros = max(0, t ?? 0) }
                audioBuffer.removeAll(keepingCapacity: true)
                try resampler.push(frame, into: &audioBuffer)
                try emitAudio(onAudio)
            }
        }
    }

    private func emitAudio(_ onAudio: ([Float], Int) throws -> Void) throws {
        guard !audioBuffer.isEmpty else { return }
        for i in audioBuffer.indices where audioBuffer[i].isNaN { audioBuffer[i] = -1.5 }
        let first = audioSamples
        audioSamples += audioBuffer.count
        try onAudio(audioBuffer, first)
    }
}

/// libavdevice (devices and the lavfi input) loaded at run time, so that building needs only libavformat;
/// the library ships with the ffmpeg program on every distribution. Its major version equals libavformat's
/// in FFmpeg 5 to 7.
enum FFDevices {
    nonisolated(unsafe) private static var loaded: Bool? = nil
    private static let lock = NSLock()

    static var available: Bool { lock.withLock { loaded ?? false } }

    static func registerOnce() {
        lock.withLock {
            if loaded != nil { return }
            let major = avformat_version() >> 16
            var ok = false
            for name in ["libavdevice.so.\(major)", "libavdevice.\(major).dylib", "libavdevice.so"] {
                guard let h = dlopen(name, RTLD_NOW | RTLD_GLOBAL), let sym = dlsym(h, "avdevice_register_all") else { continue }
                typealias Fn = @convention(c) () -> Void
                unsafeBitCast(sym, to: Fn.self)()
                ok = true
                break
            }
            loaded = ok
        }
    }
}
