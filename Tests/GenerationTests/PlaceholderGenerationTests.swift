import Testing

@Test func GenerationTargetBuilds() { #expect(Bool(true)) }
