// swift-tools-version: 5.9
//
// LeadKit: the view-model layer of the lead householder's iOS app, over the
// Silin Swift bindings (../../bindings/swift). It has no UIKit or SwiftUI in
// it, so its tests run with `swift test` on macOS and Linux
// (bindings/swift/test runs them); the SwiftUI app (../LeadApp) is thin.
import PackageDescription

let package = Package(
    name: "LeadKit",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "LeadKit", targets: ["LeadKit"])
    ],
    dependencies: [
        // A local package's identity is its folder name: "swift".
        .package(path: "../../bindings/swift")
    ],
    targets: [
        .target(name: "LeadKit", dependencies: [.product(name: "Silin", package: "swift")]),
        .testTarget(name: "LeadKitTests", dependencies: ["LeadKit"]),
    ]
)
