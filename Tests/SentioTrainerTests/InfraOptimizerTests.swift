import Foundation
import XCTest
@testable import SentioTrainer
import SentioTestSupport

final class InfraOptimizerTests: XCTestCase {
    func oracle() throws -> [String: Any] {
        let url = TestPaths.testData.appendingPathComponent("Infra/optim-oracle.json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// transformers.get_scheduler multipliers at every step of a 10-step run with 3 warmup steps
    /// (warmup start, inside, end, middle, last, past the end). Tolerance 1e-12: both sides compute
    /// the same double-precision formula.
    func testSchedulesMatchTransformers() throws {
        let o = try oracle()
        let all = o["schedules"] as! [String: [Double]]
        for kind in LRSchedule.Kind.allCases {
            let expected = try XCTUnwrap(all[kind.rawValue])
            let s = LRSchedule(kind, warmupSteps: 3, totalSteps: 10)
            for (step, e) in expected.enumerated() {
                XCTAssertEqual(s.multiplier(step: step), e, accuracy: 1e-12, "\(kind) step \(step)")
            }
        }
    }

    /// AdamW (weight decay 0.1) + cosine schedule with warmup + clip_grad_norm_(1.0) for 8 steps on
    /// three tensors, against torch.optim.AdamW. Tolerance: 4 float32 ulps of the parameter scale
    /// per step (the same operations in the same order; FMA contraction and the norm's summation
    /// order may still differ in the last bit).
    func testAdamWClippingScheduleMatchTorch() throws {
        let o = try oracle()
        let shapes = o["shapes"] as! [String: [Int]]
        let names = shapes.keys.sorted()
        let initial = o["init"] as! [String: [Double]]
        var params = try NamedTensors(names.map { ($0, shapes[$0]!, initial[$0]!.map { Float($0) }) })
        let schedule = LRSchedule(.cosine, warmupSteps: o["warmup"] as! Int, totalSteps: o["steps"] as! Int)
        let baseLR = o["lr"] as! Double
        var opt = AdamW(config: AdamWConfig(weightDecay: o["weight_decay"] as! Double), parameterCount: params.values.count)
        var clippedSteps = 0
        for (step, rec) in (o["records"] as! [[String: Any]]).enumerated() {
            let g = rec["grads"] as! [String: [Double]]
            var grads = try NamedTensors(names.map { ($0, shapes[$0]!, g[$0]!.map { Float($0) }) }).values
            let norm = GradientClipping.clipGlobalNorm(&grads, maxNorm: o["max_norm"] as! Double)
            XCTAssertEqual(norm, rec["norm"] as! Double, accuracy: 1e-5 * norm, "step \(step) norm")
            if norm > 1 { clippedSteps += 1 }
            let lr = baseLR * schedule.multiplier(step: step)
            XCTAssertEqual(lr, rec["lr"] as! Double, accuracy: 1e-15, "step \(step) lr")
            try opt.update(&params.values, gradients: grads, lr: lr)
            let want = rec["params"] as! [String: [Double]]
            for n in names {
                let d = compare(params[n]!, want[n]!.map { Float($0) })
                XCTAssertLessThanOrEqual(d.maxAbs, 4 * Float.ulpOfOne * max(1, d.maxRef), "step \(step) \(n): \(d)")
            }
        }
        XCTAssertEqual(opt.step, 8)
        XCTAssertGreaterThan(clippedSteps, 0)
        XCTAssertLessThan(clippedSteps, 8)
    }

    /// One step by hand: m = 0.1 g and v = 0.001 g^2, so the bias-corrected m^ = g, sqrt(v^) = |g| and
    /// p1 = p0 (1 - lr wd) - lr g / (|g| + eps). A large eps tells "eps outside the sqrt" apart from
    /// "inside" (g/sqrt(g^2 + eps) would give 3/sqrt(9.5) instead of 3/3.5 below).
    func testFirstStepByHand() throws {
        var p: [Float] = [1, -2, 0.5]
        var opt = AdamW(config: AdamWConfig(eps: 0.5, weightDecay: 0.5), parameterCount: 3)
        try opt.update(&p, gradients: [3, -0.25, 0], lr: 0.1)
        XCTAssertEqual(p[0], 1 * 0.95 - 0.1 * 3 / 3.5, accuracy: 1e-6)
        XCTAssertEqual(p[1], -2 * 0.95 + 0.1 * 0.25 / 0.75, accuracy: 1e-6)
        XCTAssertEqual(p[2], 0.5 * 0.95, accuracy: 1e-7) // zero gradient: only the decay
        // Second step, same gradient: m^ = g and v^ = g^2 again (bias correction undoes the averaging).
        try opt.update(&p, gradients: [3, -0.25, 0], lr: 0.1)
        XCTAssertEqual(p[0], (1 * 0.95 - 0.1 * 3 / 3.5) * 0.95 - 0.1 * 3 / 3.5, accuracy: 1e-6)
        XCTAssertThrowsError(try opt.update(&p, gradients: [1], lr: 0.1))
    }

    func testNamedTensorsLayout() throws {
        var t = try NamedTensors([("a", [2, 3], [1, 2, 3, 4, 5, 6]), ("b", [2], [7, 8])])
        XCTAssertEqual(t.layout.offsets, [0, 6])
        XCTAssertEqual(t["b"], [7, 8])
        try t.set("a", [0, 0, 0, 0, 0, 1])
        XCTAssertEqual(t.values, [0, 0, 0, 0, 0, 1, 7, 8])
        XCTAssertThrowsError(try NamedTensors([("a", [2], [1])]))
        XCTAssertThrowsError(try TensorLayout(names: ["a", "a"], shapes: [[1], [1]]))
        XCTAssertThrowsError(try TensorLayout(names: ["a"], shapes: [[Int.max, 3]]))
        let split = try NamedTensors(names: t.layout.names, shapes: t.layout.shapes, values: t.perTensor)
        XCTAssertEqual(split, t)
        XCTAssertEqual(t.perTensor, [[0, 0, 0, 0, 0, 1], [7, 8]])
    }
}
