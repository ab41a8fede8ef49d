// swift-tools-version: 5.9
//
// Silin: the Swift bindings of the silin library (udl/silin.udl), as a
// SwiftPM package.
//
//   SilinFFI  the C side: SilinFFI.h and its module map, plus the library.
//             * Apple apps: a binary target, SilinFFI.xcframework (static
//               libraries for iOS, the iOS simulator and macOS) made by
//               ./build-xcframework.
//             * Command-line testing on Linux or macOS (./test): a
//               system-library target over Sources/SilinFFI, linking
//               libsilin_ffi built by cargo (the script passes -L).
//   Silin     the generated Silin.swift (Sources/Silin).
//
// Everything under Sources/ and the xcframework are build output written by
// ./prepare (called by ./test and ./build-xcframework); nothing generated is
// committed. The generated code needs a Swift 5.10 or newer compiler.
import Foundation
import PackageDescription

let packageDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
let xcframework = "SilinFFI.xcframework"

// ./test sets SILIN_FFI_SYSTEM_LIBRARY so that command-line tests link the
// cargo-built library even where an xcframework has been built.
let useXCFramework =
    ProcessInfo.processInfo.environment["SILIN_FFI_SYSTEM_LIBRARY"] == nil
    && FileManager.default.fileExists(atPath: packageDir + "/" + xcframework)

let ffi: Target =
    useXCFramework
    ? .binaryTarget(name: "SilinFFI", path: xcframework)
    : .systemLibrary(name: "SilinFFI", path: "Sources/SilinFFI")

let package = Package(
    name: "Silin",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Silin", targets: ["Silin"])
    ],
    targets: [
        ffi,
        .target(
            name: "Silin",
            dependencies: ["SilinFFI"],
            path: "Sources/Silin",
            // On Apple platforms SQLCipher encrypts with CommonCrypto: the
            // static library in the xcframework needs Security.framework.
            linkerSettings: [
                .linkedFramework("Security", .when(platforms: [.iOS, .macOS])),
                .linkedFramework("CoreFoundation", .when(platforms: [.iOS, .macOS])),
            ]
        ),
        .testTarget(name: "SilinTests", dependencies: ["Silin"], path: "Tests/SilinTests"),
    ]
)
