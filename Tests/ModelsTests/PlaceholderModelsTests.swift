import Testing

@Test func ModelsTargetBuilds() { #expect(Bool(true)) }
