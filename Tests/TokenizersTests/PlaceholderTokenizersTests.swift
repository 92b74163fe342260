import Testing

@Test func TokenizersTargetBuilds() { #expect(Bool(true)) }
