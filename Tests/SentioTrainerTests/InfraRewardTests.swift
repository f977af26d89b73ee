import Foundation
import XCTest
@testable import SentioTrainer
import SentioTestSupport

final class InfraRewardTests: XCTestCase {
    /// Every case's rewards equal Python `re`'s (tools/reward-oracle.py: R1-Omni's reward code run on
    /// hand-written tricky and seeded random completions). Exact: the rewards are 0 or 1.
    func testRewardsMatchPythonOracle() throws {
        let url = TestPaths.testData.appendingPathComponent("Infra/reward-cases.json")
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 500)
        var failures = 0
        for c in cases {
            let completion = c["completion"] as! String, label = c["label"] as! String
            let acc = Reward.accuracy.function(completion, label), fmt = Reward.format.function(completion, label)
            if acc != c["accuracy"] as! Double || fmt != c["format"] as! Double {
                failures += 1
                if failures < 10 {
                    XCTFail("\(completion.debugDescription) / \(label.debugDescription): accuracy \(acc) format \(fmt), python \(c["accuracy"]!) \(c["format"]!)")
                }
            }
        }
        XCTAssertEqual(failures, 0)
    }

    func testTrickyCompletionsByHand() {
        // '.' does not cross "\n": the first tag fails, the second is the answer.
        XCTAssertEqual(R1OmniText.firstAnswerTag("<answer>a\nb</answer><answer>sad</answer>"), "sad")
        // "\r\n" is two code points (one Swift Character): only "\n" stops the group.
        XCTAssertEqual(R1OmniText.firstAnswerTag("<answer>x\r</answer>"), "x\r")
        XCTAssertEqual(Reward.accuracy.function("<think>t</think><answer> sad\u{3000}</answer>", "sad"), 1)
        XCTAssertEqual(Reward.accuracy.function("<answer>Sad</answer>", "sad"), 0)
        XCTAssertEqual(Reward.format.function("<think>a\nb</think>\r\n<answer>sad</answer>", ""), 1)
        XCTAssertEqual(Reward.format.function("<think>a</think>\u{200B}<answer>sad</answer>", ""), 0) // ZWSP is not \s
        XCTAssertEqual(Reward.format.function("<think>a</think><answer>sad</answer>\n", ""), 0)
        XCTAssertEqual(R1OmniText.strip("\u{1C} sad\u{85}"), "sad")
    }

    func testRewardSetWeightsAndCustomReward() {
        var set = RewardSet.r1omni
        set.rewards.append(Reward(name: "short", weight: 0.5) { c, _ in c.count <= 40 ? 1 : 0 })
        let v = set.values(completion: "<think>x</think><answer>sad</answer>", label: "sad")
        XCTAssertEqual(v, [1, 1, 1])
        XCTAssertEqual(set.total(v), 2.5)
        XCTAssertEqual(set.names, ["accuracy", "format", "short"])
        let g = RewardSet.r1omni.score(completions: ["<think>a</think><answer>sad</answer>", "sad", "<answer>happy</answer>"], label: "sad")
        XCTAssertEqual(g.values, [[1, 1], [1, 0], [0, 0]])
        XCTAssertEqual(g.totals, [2, 1, 0])
    }
}
