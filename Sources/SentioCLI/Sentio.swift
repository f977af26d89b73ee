import ArgumentParser

@main
struct Sentio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentio",
        abstract: "R1-Omni emotion recognition on plain CPUs: convert, inspect, generate, bench, recognize, train.",
        subcommands: []
    )
}
