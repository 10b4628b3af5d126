#if canImport(Glibc)
import Glibc
#endif
import Foundation
import InferenceServer

exit(ServiceRunner.main(arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment))
