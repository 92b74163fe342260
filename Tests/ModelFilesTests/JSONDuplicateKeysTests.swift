import Foundation
import ModelFiles
import Testing

/// A key given twice in one object is found, with its path; the same key in other objects, or
/// inside strings, is not.
@Suite struct JSONDuplicateKeysTests {
    static func first(_ text: String) -> JSONDuplicateKeys.Found? { JSONDuplicateKeys.first(in: Data(text.utf8)) }

    @Test func findsTheKeyAndItsPath() {
        #expect(Self.first(#"{"a": 1, "b": 2, "a": 3}"#)?.path == "a")
        #expect(Self.first(#"{"a": 1, "b": 2, "a": 3}"#)?.offset == 17)
        let nested = #"{"messages": [{"role": "user"}, {"role": "user", "content": "x", "role": "tool"}]}"#
        #expect(Self.first(nested)?.path == "messages[1].role")
        #expect(Self.first(#"[{"x": 1}, {"y": {"z": 1, "z": 2}}]"#)?.path == "[1].y.z")
        // The same key spelt with an escape is the same key.
        #expect(Self.first(#"{"ab": 1, "\u0061b": 2}"#)?.path == "ab")
        let text = "[\n{\"a\": 1},\n{\"a\": 1,\n \"a\": 2}\n]"
        let found = JSONDuplicateKeys.first(in: Data(text.utf8))
        #expect(found.map { JSONDuplicateKeys.line(of: $0.offset, in: Data(text.utf8)) } == 4)
    }

    @Test func sameKeysElsewhereAreNotDuplicates() {
        #expect(Self.first(#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#) == nil)
        #expect(Self.first(#"{"a": "x\", \"a\": 1", "b": "{\"a\"}"}"#) == nil)
        #expect(Self.first(#"{"a": ["a", "a"], "c": {"d": "a"}}"#) == nil)
        #expect(Self.first(#"[{"a": 1}, {"a": 1}]"#) == nil)
        #expect(Self.first("{}") == nil && Self.first("") == nil)
    }
}
