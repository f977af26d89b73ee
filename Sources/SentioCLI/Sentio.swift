// sentio: the command line. One subcommand per job, each in its own file.
import ArgumentParser

@main
struct Sentio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentio",
        abstract: "R1-Omni emotion recognition on plain CPUs: recognize, watch, eval, train, convert, inspect, generate, bench.",
        subcommands: [Convert.self, Inspect.self, Recognize.self, Watch.self, Eval.self, Demo.self, Generate.self,
                      Perplexity.self, Imatrix.self, Bench.self, Train.self, Lora.self]
    )
}
