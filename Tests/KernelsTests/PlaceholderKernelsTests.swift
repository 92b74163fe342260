import Testing

@Test func KernelsTargetBuilds() { #expect(Bool(true)) }
