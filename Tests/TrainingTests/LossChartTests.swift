import Foundation
import Testing

@testable import Training

/// `loss.svg`: train and eval curves, with a dot for every eval loss (a single point draws no line).
@Suite struct LossChartTests {
    static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test func evalLossesAndALoneTrainPointAreDrawnAsDots() {
        let one = LossChart.svg(train: [(1, 2.5)], eval: [(1, 2.7)])
        #expect(Self.count("<circle", in: one) == 2, "\(one)")
        let run = LossChart.svg(train: [(1, 2.5), (2, 2.2), (3, 2.0)], eval: [(3, 2.1)])
        #expect(Self.count("<circle", in: run) == 1)
        #expect(Self.count("<polyline", in: run) == 2)
        #expect(run.contains(">eval</text>"))
        // No eval data: no eval entry in the legend.
        let trainOnly = LossChart.svg(train: [(1, 2.5), (2, 2.2)], eval: [])
        #expect(!trainOnly.contains(">eval</text>") && trainOnly.contains(">train</text>"))
    }
}
