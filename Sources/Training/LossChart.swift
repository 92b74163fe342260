import Foundation

/// Draws `metrics.jsonl` as `loss.svg`: train loss (blue) and eval loss (orange) by step.
public enum LossChart {
    public static func write(metrics: URL, to url: URL) throws {
        let text = try String(contentsOf: metrics, encoding: .utf8)
        var train: [(Double, Double)] = []
        var eval: [(Double, Double)] = []
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let step = (object["step"] as? NSNumber)?.doubleValue
            else { continue }
            if let loss = (object["loss"] as? NSNumber)?.doubleValue { train.append((step, loss)) }
            if let loss = (object["eval_loss"] as? NSNumber)?.doubleValue { eval.append((step, loss)) }
        }
        try Data(svg(train: train, eval: eval).utf8).write(to: url, options: .atomic)
    }

    static func svg(train: [(Double, Double)], eval: [(Double, Double)]) -> String {
        let (width, height, margin) = (640.0, 360.0, 48.0)
        let all = train + eval
        let maxStep = max(all.map(\.0).max() ?? 1, 1)
        let low = all.map(\.1).min() ?? 0
        let high = max(all.map(\.1).max() ?? 1, low + 1e-6)
        func point(_ p: (Double, Double)) -> String {
            let x = margin + p.0 / maxStep * (width - 2 * margin)
            let y = height - margin - (p.1 - low) / (high - low) * (height - 2 * margin)
            return String(format: "%.1f,%.1f", x, y)
        }
        func line(_ points: [(Double, Double)], _ color: String) -> String {
            points.isEmpty
                ? ""
                : "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.map(point).joined(separator: " "))\"/>"
        }
        // Eval losses are few (one point is no line at all): each gets a dot; a lone train point too.
        func dots(_ points: [(Double, Double)], _ color: String) -> String {
            points.map { p in
                let xy = point(p).split(separator: ",")
                return "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(color)\"/>"
            }.joined(separator: "\n")
        }
        func legend(_ name: String, x: Double, _ color: String) -> String {
            "<text x=\"\(x)\" y=\"\(margin - 8)\" fill=\"\(color)\">\(name)</text>"
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <line x1="\(margin)" y1="\(height - margin)" x2="\(width - margin)" y2="\(height - margin)" stroke="#888"/>
            <line x1="\(margin)" y1="\(margin)" x2="\(margin)" y2="\(height - margin)" stroke="#888"/>
            <text x="\(margin)" y="\(margin - 8)">loss \(String(format: "%.3f", high))</text>
            <text x="\(margin)" y="\(height - margin + 16)">\(String(format: "%.3f", low)) · step 0</text>
            <text x="\(width - margin - 60)" y="\(height - margin + 16)">step \(Int(maxStep))</text>
            \(legend("train", x: width - 200, "#1f77b4"))
            \(eval.isEmpty ? "" : legend("eval", x: width - 150, "#ff7f0e"))
            \(line(train, "#1f77b4"))
            \(line(eval, "#ff7f0e"))
            \(dots(eval, "#ff7f0e"))
            \(train.count == 1 ? dots(train, "#1f77b4") : "")
            </svg>

            """
    }
}
