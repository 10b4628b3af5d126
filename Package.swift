// swift-tools-version:6.0
import PackageDescription

// The SIMD kernels need a concrete CPU so that `addingProduct` lowers to FMA
// instructions instead of a libm call per lane (~100x slower).
#if arch(x86_64)
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=haswell", "-target-cpu", "haswell"])]
#elseif arch(arm64)
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "neoverse-n1"])]
#else
let kernelFlags: [SwiftSetting] = []
#endif


// Telemetry sits on every request's path, in small calls across module boundaries (trace ids,
// clocks, header lists): its modules offer their function bodies to the modules that call them,
// so that those calls are inlined.
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "pd-inference",
    products: [
        .executable(name: "pd-inference", targets: ["pd-inference"]),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
        // Telemetry, in five targets: TelemetryCore (byte formatting, clocks, threads, gzip, trace
        // ids, ServiceContext); Logging, Metrics and Tracing on it (Tracing logs failed exports
        // through Logging); and `Telemetry`, which re-exports the four and ties them together.
        // Other targets import `Telemetry`.
        .target(name: "TelemetryCore", dependencies: ["CZlib", "CLinux"], swiftSettings: crossModule),
        .target(name: "Logging", dependencies: ["TelemetryCore"], swiftSettings: crossModule),
        .target(name: "Metrics", dependencies: ["TelemetryCore"], swiftSettings: crossModule),
        .target(name: "Tracing", dependencies: ["TelemetryCore", "Logging"], swiftSettings: crossModule),
        .target(name: "Telemetry", dependencies: ["TelemetryCore", "Logging", "Metrics", "Tracing"]),
        .target(name: "HTTPServer", dependencies: ["CLinux", "COpenSSL", "Telemetry"]),
        .target(name: "ONNXRuntime", swiftSettings: kernelFlags),
        .target(name: "InferenceCore", dependencies: ["ONNXRuntime", "Telemetry"]),
        .target(name: "InferenceServer", dependencies: ["HTTPServer", "InferenceCore", "Telemetry"]),
        .executableTarget(name: "pd-inference", dependencies: ["InferenceServer"]),
        .executableTarget(name: "onnx-bench", dependencies: ["ONNXRuntime"], path: "bench/onnx-bench", swiftSettings: kernelFlags),
        .executableTarget(name: "telemetry-bench", dependencies: ["HTTPServer", "Telemetry"], path: "bench/telemetry-bench"),
        .testTarget(name: "TelemetryCoreTests", dependencies: ["TelemetryCore"]),
        .testTarget(name: "LoggingTests", dependencies: ["Logging", "Telemetry"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "TelemetryCore"]),
        .testTarget(name: "TracingTests", dependencies: ["Tracing", "TelemetryCore"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"]),
        .testTarget(name: "ONNXRuntimeTests", dependencies: ["ONNXRuntime"], resources: [.copy("Fixtures")]),
        .testTarget(name: "InferenceCoreTests", dependencies: ["InferenceCore"]),
        .testTarget(name: "InferenceServerTests", dependencies: ["InferenceServer"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
