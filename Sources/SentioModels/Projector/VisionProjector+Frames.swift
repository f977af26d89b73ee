// The vision projector split at the frame boundary, for streaming input where frames arrive one by one and
// overlapping windows share them: everything that reads one frame alone (the video and body branches'
// first RegStage, the whole face branch) runs once per frame; what mixes frames (the Conv3d sampler over
// frames t-1 and t, where the window's first frame sees zeros, then s2 and the readout) runs per window.
// `branches(frameParts:)` on parts of T frames equals `branches(features:frames: T)` on the same frames
// (the same kernels on the same rows; a test holds them together).
import Foundation
import SentioCore
import SentioKernels

extension VisionProjector {
    /// The per-frame results of one frame's SigLIP features [g*g, Cv].
    public struct FrameParts: Sendable {
        /// Video and body branches after s1 [g, g, H]; face branch output [(g/2)^2, H].
        public var videoS1: [Float], bodyS1: [Float], face: [Float]
        public let grid: Int
    }

    /// The per-frame part of the three branches for one frame.
    public func frameParts(features: [Float], pool: ThreadPool = .shared) throws -> FrameParts {
        let cv = config.inputSize
        guard cv > 0, features.count % cv == 0 else {
            throw SentioError(.argument, "vision projector: \(features.count) feature values are not whole tokens of \(cv) channels")
        }
        let tokens = features.count / cv
        let g = Int(Double(tokens).squareRoot().rounded())
        guard g * g == tokens, g >= 2 else {
            throw SentioError(.argument, "vision projector: \(tokens) tokens per frame are not a square grid of side >= 2")
        }
        return FrameParts(videoS1: video.s1(features, images: 1, height: g, width: g, pool: pool),
                          bodyS1: body.s1(features, images: 1, height: g, width: g, pool: pool),
                          face: faceBranch(features: features, frames: 1, grid: g, pool: pool, observe: nil), grid: g)
    }

    /// The three branch outputs of T frames (in window order) from their per-frame parts.
    public func branches(frameParts parts: [FrameParts], pool: ThreadPool = .shared) throws -> Output {
        guard let g = parts.first?.grid, parts.allSatisfy({ $0.grid == g }) else {
            throw SentioError(.argument, "vision projector: no frames, or frames of different grids")
        }
        let t = parts.count
        let v = branchAfterStage1(video, name: "video", s1: parts.flatMap(\.videoS1), frames: t, grid: g, pool: pool, observe: nil)
        let b = branchAfterStage1(body, name: "body", s1: parts.flatMap(\.bodyS1), frames: t, grid: g, pool: pool, observe: nil)
        return Output(video: v, body: b, face: parts.flatMap(\.face))
    }
}
