import Foundation
import Testing
import TestSupport

@testable import LoRA

@Suite struct LoRAConfigTests {
    func write(_ json: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swiftlora-cfg-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: url)
        return url
    }

    @Test func readsPEFTsFileAndListsUnknownKeys() throws {
        let config = try LoRAConfig.load(Fixtures.url("smollm2/peft-adapter-qv/adapter_config.json"))
        #expect(config.r == 8 && config.loraAlpha == 16 && config.targetModules == .names(["q_proj", "v_proj"]))
        #expect(config.rankAndScale(for: "model.layers.0.self_attn.q_proj").scale == 2)
        let url = try write(
            #"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "future_option": 3, "target_modules": "all-linear"}"#)
        let c = try LoRAConfig.load(url)
        #expect(c.ignoredKeys == ["future_option"])
        #expect(c.targetModules == .allLinear)
        // PEFT's json takes a key's last value, Foundation its first: a key given twice is refused.
        let twice = try write(#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "r": 16}"#)
        #expect(throws: LoRAError.invalidConfig(twice.path, "'r' is given twice")) { try LoRAConfig.load(twice) }
    }

    @Test(arguments: [
        (#""use_dora": true"#, "use_dora"), (#""bias": "all""#, "bias"),
        (#""init_lora_weights": "pissa""#, "init_lora_weights"),
        (#""fan_in_fan_out": true"#, "fan_in_fan_out"),
        (#""peft_type": "IA3""#, "peft_type"), (#""layer_replication": [[0, 2]]"#, "layer_replication"),
    ])
    func unimplementedSettingsAreRefusedByName(setting: String, key: String) throws {
        let url = try write(#"{"r": 8, "lora_alpha": 16, "# + setting + "}")
        #expect {
            try LoRAConfig.load(url)
        } throws: { error in
            guard case .unsupportedSetting(_, let k, let value) = error as? LoRAError else { return false }
            // The value as the file spells it: `true`, not Foundation's `1`.
            return k == key && setting.filter { $0 != " " }.hasSuffix(":" + value)
        }
    }

    @Test func scalingFollowsAlphaRankRSLoRAAndPatterns() throws {
        var c = LoRAConfig()
        c.r = 16
        c.loraAlpha = 32
        #expect(c.rankAndScale(for: "model.layers.0.mlp.up_proj").scale == 2)
        c.useRSLoRA = true
        #expect(c.rankAndScale(for: "model.layers.0.mlp.up_proj").scale == 8)
        c.useRSLoRA = false
        c.rankPattern = ["mlp.up_proj": 4]
        c.alphaPattern = ["layers.1.mlp.up_proj": 2]
        #expect(c.rankAndScale(for: "model.layers.0.mlp.up_proj") == (4, 8))
        #expect(c.rankAndScale(for: "model.layers.1.mlp.up_proj") == (4, 0.5))
        #expect(c.rankAndScale(for: "model.layers.0.self_attn.q_proj") == (16, 2))
    }
}
