import Foundation
import Testing
@testable import InferenceServer

@Suite struct SettingsTests {
    func serve(_ env: [String: String], _ args: [String] = []) throws -> Settings {
        guard case .serve(let s) = try Settings.parse(environment: env, arguments: args) else {
            Issue.record("expected serve")
            return Settings()
        }
        return s
    }

    @Test func defaultsMatchTheDocumentedValues() throws {
        let s = try serve([:])
        #expect(s.port == 8080 && s.host == "0.0.0.0" && s.modelRepository == "./models" && s.maxBatchSize == 8)
    }

    @Test func environmentAndFlagsWithFlagsWinning() throws {
        let s = try serve(["PORT": "9000", "MAX_BATCH_SIZE": "16", "LOG_FORMAT": "text"], ["--port", "9001", "--max-queue-delay-ms=7"])
        #expect(s.port == 9001)
        #expect(s.maxBatchSize == 16)
        #expect(s.maxQueueDelayMs == 7)
        #expect(s.logFormat == "text")
    }

    @Test func computeThreadsFallsBackToTheTorchAndOpenMPVariables() throws {
        #expect(try serve(["TORCH_NUM_THREADS": "4", "OMP_NUM_THREADS": "3"]).computeThreads == 4)
        #expect(try serve(["OMP_NUM_THREADS": "3"]).computeThreads == 3)
        #expect(try serve(["COMPUTE_THREADS": "2", "TORCH_NUM_THREADS": "4"]).computeThreads == 2)
    }

    @Test(arguments: [
        (["MAX_BATCH_SIZE": "0"], "MAX_BATCH_SIZE"),
        (["PORT": "abc"], "PORT"),
        (["PORT": "70000"], "PORT"),
        (["LOG_FORMAT": "xml"], "LOG_FORMAT"),
        (["ACCESS_LOG": "some"], "ACCESS_LOG"),
        (["TELEMETRY_ENABLED": "maybe"], "TELEMETRY_ENABLED"),
        (["OTEL_TRACES_SAMPLER_ARG": "2"], "OTEL_TRACES_SAMPLER_ARG"),
        (["TLS_CERT_FILE": "/x.pem"], "TLS_KEY_FILE"),
        (["SHUTDOWN_DRAIN_SECONDS": "-1"], "SHUTDOWN_DRAIN_SECONDS"),
    ])
    func badValuesNameTheSetting(env: [String: String], name: String) {
        do {
            _ = try Settings.parse(environment: env, arguments: [])
            Issue.record("\(env) was accepted")
        } catch {
            #expect(error.message.contains(name), "\(error.message)")
        }
    }

    @Test func unknownFlagsAndHelp() throws {
        #expect(throws: Settings.SettingsError.self) { try Settings.parse(environment: [:], arguments: ["--bogus"]) }
        #expect(try Settings.parse(environment: [:], arguments: ["--help"]) == .help)
        #expect(try Settings.parse(environment: [:], arguments: ["--print-settings"]) == .printSettings)
        for spec in Settings.specs { #expect(Settings.helpText.contains(spec.name) && Settings.helpText.contains(spec.flag)) }
    }

    @Test func secretsAreMaskedInTheEffectiveValues() throws {
        let s = try serve(["OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer abc"])
        let shown = Dictionary(uniqueKeysWithValues: s.effectiveValues)
        #expect(shown["OTEL_EXPORTER_OTLP_HEADERS"] == "********")
        #expect(!s.effectiveValues.contains { $0.1.contains("abc") })
    }

    @Test func theReadmeDocumentsEverySetting() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for spec in Settings.specs { #expect(readme.contains("`\(spec.name)`"), "README lacks \(spec.name)") }
    }
}
