// Thin ownership wrappers around FFmpeg's C objects: an opened container and a codec context, plus the
// packet -> frame decode loop both decoders share. Everything that can fail on input data throws a
// MediaError naming the file.
import CFFmpeg
import Foundation
import SentioCore

enum FF {
    /// FFmpeg's message for an error code (av_strerror).
    static func message(_ code: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        if av_strerror(code, &buf, buf.count) < 0 { return "FFmpeg error \(code)" }
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Keep FFmpeg quiet on stderr (decoders warn about recoverable damage; we report our own errors).
    static let quiet: Void = { av_log_set_level(AV_LOG_FATAL) }()

    /// Checks that `url` names a non-empty regular file before FFmpeg sees it.
    static func checkFile(_ url: URL) throws {
        let path = url.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw MediaError(.notFound, file: path, "no such file")
        }
        if isDir.boolValue { throw MediaError(.notAFile, file: path, "is a directory, not a media file") }
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        if let type = attrs?[.type] as? FileAttributeType, type != .typeRegular {
            throw MediaError(.notAFile, file: path, "is not a regular file")
        }
        if let size = attrs?[.size] as? NSNumber, size.intValue == 0 {
            throw MediaError(.unreadable, file: path, "file is empty (0 bytes)")
        }
    }
}

/// An opened container (AVFormatContext) with its stream info read.
final class FormatInput {
    let ctx: UnsafeMutablePointer<AVFormatContext>
    let path: String

    init(_ url: URL) throws {
        _ = FF.quiet
        try FF.checkFile(url)
        path = url.path
        var p: UnsafeMutablePointer<AVFormatContext>? = nil
        let r = avformat_open_input(&p, url.path, nil, nil)
        guard r >= 0, let c = p else {
            throw MediaError(.unreadable, file: url.path, "not a readable media file (\(FF.message(r)))")
        }
        let r2 = avformat_find_stream_info(c, nil)
        if r2 < 0 {
            avformat_close_input(&p)
            throw MediaError(.unreadable, file: url.path, "cannot read stream information (\(FF.message(r2)))")
        }
        if c.pointee.nb_streams == 0 {
            avformat_close_input(&p)
            throw MediaError(.unreadable, file: url.path, "no audio or video streams: not a media file")
        }
        ctx = c
    }

    deinit {
        var p: UnsafeMutablePointer<AVFormatContext>? = ctx
        avformat_close_input(&p)
    }

    /// Index of the best stream of a type, or nil.
    func bestStream(_ type: AVMediaType) -> Int32? {
        let i = av_find_best_stream(ctx, type, -1, -1, nil, 0)
        return i >= 0 ? i : nil
    }

    func stream(_ index: Int32) -> UnsafeMutablePointer<AVStream> { ctx.pointee.streams[Int(index)]! }

    /// Short name of the container format ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...).
    var formatName: String { ctx.pointee.iformat.map { String(cString: $0.pointee.name) } ?? "" }

    /// Counts the packets of one stream by demuxing (no decoding). Leaves the context at end of file.
    func countPackets(stream index: Int32) -> Int {
        guard let pkt = av_packet_alloc() else { return 0 }
        var pp: UnsafeMutablePointer<AVPacket>? = pkt
        defer { av_packet_free(&pp) }
        var n = 0
        while av_read_frame(ctx, pkt) >= 0 {
            if pkt.pointee.stream_index == index { n += 1 }
            av_packet_unref(pkt)
        }
        return n
    }

    /// Decodes every packet of `streamIndex`, calling `onFrame` for each decoded frame in output order until it
    /// returns false. Flushes the decoder at end of file. Returns false when the decoder failed hard (the frames
    /// delivered until then stay valid).
    @discardableResult
    func decode(stream streamIndex: Int32, codec: CodecContext,
                onFrame: (UnsafeMutablePointer<AVFrame>) throws -> Bool) throws -> Bool {
        guard let pkt = av_packet_alloc(), let frame = av_frame_alloc() else {
            throw MediaError(.decodeFailed, file: path, "out of memory allocating a packet")
        }
        var pp: UnsafeMutablePointer<AVPacket>? = pkt
        var fp: UnsafeMutablePointer<AVFrame>? = frame
        defer { av_packet_free(&pp); av_frame_free(&fp) }
        let eagain = sentio_averror(EAGAIN), eof = sentio_averror_eof()
        var errors = 0
        // Drains decoded frames; returns false when the consumer asked to stop.
        func drain() throws -> Bool {
            while true {
                let r = avcodec_receive_frame(codec.ctx, frame)
                if r == eagain || r == eof { return true }
                if r < 0 { errors += 1; return true }
                defer { av_frame_unref(frame) }
                if try !onFrame(frame) { return false }
            }
        }
        while true {
            let r = av_read_frame(ctx, pkt)
            if r < 0 { break }   // end of file or a truncated tail: flush what we have
            defer { av_packet_unref(pkt) }
            guard pkt.pointee.stream_index == streamIndex else { continue }
            let s = avcodec_send_packet(codec.ctx, pkt)
            if s < 0 && s != eagain { errors += 1; if errors > 1000 { return false }; continue }
            if try !drain() { return true }
        }
        avcodec_send_packet(codec.ctx, nil)
        _ = try drain()
        return errors == 0
    }
}

/// An opened decoder for one stream.
final class CodecContext {
    let ctx: UnsafeMutablePointer<AVCodecContext>

    convenience init(input: FormatInput, stream index: Int32, threads: Int) throws {
        try self.init(format: input.ctx, path: input.path, stream: index, threads: threads)
    }

    /// The decoder of stream `index` of an opened container; `path` names the source in errors.
    init(format: UnsafeMutablePointer<AVFormatContext>, path: String, stream index: Int32, threads: Int) throws {
        let st = format.pointee.streams[Int(index)]!
        guard let par = st.pointee.codecpar else {
            throw MediaError(.decodeFailed, file: path, "stream \(index) has no codec parameters")
        }
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            let name = String(cString: avcodec_get_name(par.pointee.codec_id))
            throw MediaError(.decodeFailed, file: path, "no decoder for codec '\(name)' (stream \(index))")
        }
        guard let c = avcodec_alloc_context3(codec) else {
            throw MediaError(.decodeFailed, file: path, "out of memory allocating a decoder")
        }
        var cp: UnsafeMutablePointer<AVCodecContext>? = c
        if avcodec_parameters_to_context(c, par) < 0 {
            avcodec_free_context(&cp)
            throw MediaError(.decodeFailed, file: path, "bad codec parameters in stream \(index)")
        }
        c.pointee.thread_count = Int32(max(0, threads))
        c.pointee.pkt_timebase = st.pointee.time_base
        let r = avcodec_open2(c, codec, nil)
        if r < 0 {
            avcodec_free_context(&cp)
            throw MediaError(.decodeFailed, file: path, "cannot open the decoder (\(FF.message(r)))")
        }
        ctx = c
    }

    deinit {
        var cp: UnsafeMutablePointer<AVCodecContext>? = ctx
        avcodec_free_context(&cp)
    }
}

/// Pointers to an AVFrame's `data` / `linesize` arrays (imported as 8-tuples).
@inline(__always)
func framePlanes(_ f: UnsafeMutablePointer<AVFrame>) -> (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int32>) {
    let raw = UnsafeMutableRawPointer(f)
    let d = raw.advanced(by: MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!)
        .assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self)
    let l = raw.advanced(by: MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!)
        .assumingMemoryBound(to: Int32.self)
    return (d, l)
}
