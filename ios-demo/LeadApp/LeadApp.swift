import LeadKit
import SwiftUI

/// The lead householder's app: opens the encrypted register (key in the
/// Keychain) off the main thread, then shows the cell.
@main
struct LeadApp: App {
    @StateObject private var launcher = Launcher()

    var body: some Scene {
        WindowGroup {
            Group {
                if let model = launcher.model {
                    ContentView(model: model)
                } else if let failure = launcher.failure {
                    VStack(spacing: 12) {
                        Image(systemName: "exclamationmark.triangle")
                        Text(failure).multilineTextAlignment(.center)
                    }
                    .padding()
                } else {
                    ProgressView("打开登记册…")
                }
            }
            .task { await launcher.open() }
        }
    }
}

/// Opens the store once at launch.
@MainActor
final class Launcher: ObservableObject {
    @Published var model: LeadViewModel?
    @Published var failure: String?

    /// The lead's name; a real app asks for it at first launch.
    static let leadName = "王建国"

    func open() async {
        guard model == nil else { return }
        do {
            let folder = try FileManager.default.url(
                for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            var url = folder.appendingPathComponent("silin-lead.db")
            let model = try await LeadViewModel.open(
                at: url, keys: KeychainStoreKey(), leadName: Self.leadName)
            // The key never leaves this device, so neither may the file.
            var values = URLResourceValues()
            values.isExcludedFromBackup = true
            try? url.setResourceValues(values)
            self.model = model
            await model.load()
        } catch {
            failure = "登记册打不开：\(error)"
        }
    }
}
