import Testing

@Test func ModelFilesTargetBuilds() { #expect(Bool(true)) }
