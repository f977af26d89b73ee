// Where test data lives. Fixture-driven tests read the folder named by SENTIO_FIXTURES
// (default: Tests/Fixtures in this repository, a copy of ../shared/fixtures), and take every
// expected value from there.
import Foundation

public enum TestPaths {
    /// The repository root, found from this file's location.
    public static let repoRoot: URL = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }()

    /// Root of the fixture sets (contains r1omni-tiny-a/, qwen2-tokenizer/, ...).
    public static var fixtures: URL {
        if let env = ProcessInfo.processInfo.environment["SENTIO_FIXTURES"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.appendingPathComponent("Tests/Fixtures")
    }

    /// The tiny R1-Omni golden set.
    public static var tinyA: URL { fixtures.appendingPathComponent("r1omni-tiny-a") }

    /// Committed small test data (oracle extracts made by tools/ scripts).
    public static var testData: URL { repoRoot.appendingPathComponent("Tests/Data") }

    /// Real weights fetched by tools/fetch-test-models.sh (not in git); nil when absent.
    public static func cachedModel(_ name: String) -> URL? {
        let u = repoRoot.appendingPathComponent("models/cache").appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    /// A fresh temporary directory, removed by the caller (or left to the OS).
    public static func tempDir(_ tag: String = "sentio") -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }
}

/// True when slow suites (real 0.5B weights, long runs) were asked for with SENTIO_SLOW=1.
public var slowTestsEnabled: Bool {
    ProcessInfo.processInfo.environment["SENTIO_SLOW"] == "1"
}
