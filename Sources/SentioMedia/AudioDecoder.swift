// The audio track as 16 kHz mono float (R1-OMNI-SPEC section 5).
//
// The first (best) audio stream is decoded and given to swresample, which mixes to mono and resamples to
// 16 kHz float in one step; this reproduces `ffmpeg -i F -ac 1 -ar 16000 -f f32le -` bit for bit (a test
// holds them together). AAC encoder-delay (priming) samples are kept, like decord and the ffmpeg CLI.
// As in the reference, a file with no audio stream, or audio that cannot be decoded, gives 10 s of
// silence, and a warning says so. NaN samples become -1.5 (the reference's nan_to_num).
import CFFmpeg
import Foundation
import SentioCore

public enum AudioDecoder {
    public static let sampleRate = 16000
    /// Length of the silence substituted when there is no usable audio (10 s).
    public static let fallbackSamples = 160_000

    /// Decoded samples, or 10 s of zeros and a warning. Throws only when the file itself is missing or is not
    /// a media file at all (the same errors the video decoder throws).
    public static func decodeMono16k(_ url: URL) throws -> (samples: [Float], warning: String?) {
        let input = try FormatInput(url)
        guard let index = input.bestStream(AVMEDIA_TYPE_AUDIO) else {
            return silence("no audio stream; using 10 s of silence as the reference does")
        }
        do {
            let samples = try decode(input: input, stream: index)
            if samples.isEmpty { return silence("the audio stream decoded to no samples; using 10 s of silence as the reference does") }
            return (samples, nil)
        } catch let e as MediaError {
            return silence("audio could not be decoded (\(e.message)); using 10 s of silence as the reference does")
        }
    }

    static func silence(_ why: String) -> (samples: [Float], warning: String?) {
        ([Float](repeating: 0, count: fallbackSamples), why)
    }

    static func decode(input: FormatInput, stream index: Int32) throws -> [Float] {
        let codec = try CodecContext(input: input, stream: index, threads: 1)
        let resampler = MonoResampler(path: input.path)
        var out: [Float] = []
        let ok = try input.decode(stream: index, codec: codec) { f in
            try resampler.push(f, into: &out)
            return true
        }
        try resampler.flush(into: &out)
        if !ok && out.isEmpty { throw MediaError(.decodeFailed, file: input.path, "audio decoder failed") }
        for i in out.indices where out[i].isNaN { out[i] = -1.5 }
        return out
    }
}

/// swresample to mono / 16 kHz / float, rebuilt if the input format changes mid-stream.
final class MonoResampler {
    let path: String
    private var swr: OpaquePointer? = nil
    private var key: (Int32, Int32, Int32) = (-1, -1, -1)   // (format, rate, channels)

    init(path: String) { self.path = path }
    deinit { swr_free(&swr) }

    func push(_ f: UnsafeMutablePointer<AVFrame>, into out: inout [Float]) throws {
        let k = (f.pointee.format, f.pointee.sample_rate, f.pointee.ch_layout.nb_channels)
        if swr == nil || k != key {
            if swr != nil { try flush(into: &out); swr_free(&swr) }
            try open(f)
            key = k
        }
        let (data, _) = framePlanes(f)
        let src = UnsafeMutableRawPointer(data).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
        try convert(src, count: f.pointee.nb_samples, into: &out)
    }

    func flush(into out: inout [Float]) throws {
        guard swr != nil else { return }
        try convert(nil, count: 0, into: &out)
    }

    private func open(_ f: UnsafeMutablePointer<AVFrame>) throws {
        guard f.pointee.sample_rate > 0, f.pointee.ch_layout.nb_channels > 0 else {
            throw MediaError(.decodeFailed, file: path, "audio frame without sample rate or channels")
        }
        var inLayout = AVChannelLayout()
        if av_channel_layout_copy(&inLayout, &f.pointee.ch_layout) < 0 || inLayout.order == AV_CHANNEL_ORDER_UNSPEC {
            av_channel_layout_uninit(&inLayout)
            av_channel_layout_default(&inLayout, f.pointee.ch_layout.nb_channels)
        }
        defer { av_channel_layout_uninit(&inLayout) }
        var mono = sentio_layout_mono()
        let r = swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, Int32(AudioDecoder.sampleRate),
                                    &inLayout, AVSampleFormat(rawValue: f.pointee.format), f.pointee.sample_rate, 0, nil)
        guard r >= 0, swr != nil, swr_init(swr) >= 0 else {
            swr_free(&swr)
            throw MediaError(.decodeFailed, file: path, "cannot set up resampling to 16 kHz mono")
        }
    }

    private func convert(_ src: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, count: Int32, into out: inout [Float]) throws {
        let cap = Int(swr_get_out_samples(swr, count)) + 256
        guard cap > 0 else { return }
        let base = out.count
        out.append(contentsOf: repeatElement(0, count: cap))
        let got: Int32 = out.withUnsafeMutableBufferPointer { b in
            var dst: UnsafeMutablePointer<UInt8>? = UnsafeMutableRawPointer(b.baseAddress! + base).assumingMemoryBound(to: UInt8.self)
            return swr_convert(swr, &dst, Int32(cap), src, count)
        }
        out.removeLast(cap - Int(max(0, got)))
        if got < 0 { throw MediaError(.decodeFailed, file: path, "resampling failed (\(FF.message(got)))") }
    }
}
