import ArgumentParser

/// Finds a `--name` the chosen command does not have. ArgumentParser reports a missing argument
/// or a failed `validate()` before an unknown option, so `lora train --dta x` said that `--data`
/// was missing; the misspelt option is the error to show.
enum UnknownOptions {
    /// The first `--name` in `arguments` that the (sub)command they select does not take, with
    /// the closest name it does take when one is near.
    static func first(in arguments: [String], root: any ParsableCommand.Type) -> (name: String, suggestion: String?)? {
        var command = root
        var rest = arguments[...]
        while let word = rest.first,
            let sub = command.configuration.subcommands.first(where: { $0._commandName == word })
        {
            command = sub
            rest = rest.dropFirst()
        }
        let known = optionNames(of: command)
        guard !known.isEmpty else { return nil }
        for argument in rest where argument.hasPrefix("--") && argument != "--" {
            let name = String(argument.prefix { $0 != "=" })
            guard !known.contains(name) else { continue }
            let nearest = known.map { ($0, distance($0, name)) }.min { $0.1 < $1.1 }
            return (name, nearest.flatMap { $0.1 <= 2 ? $0.0 : nil })
        }
        return nil
    }

    /// Every `--name` the command's help lists (its options and flags, `--help` included).
    static func optionNames(of command: any ParsableCommand.Type) -> Set<String> {
        let help = command.helpMessage(columns: 1000)
        var names: Set<String> = ["--help"]
        var i = help.startIndex
        while let range = help.range(of: "--", range: i..<help.endIndex) {
            let name = help[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if !name.isEmpty { names.insert("--" + name) }
            i = range.upperBound
        }
        return names
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}
