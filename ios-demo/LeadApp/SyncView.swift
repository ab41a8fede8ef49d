import LeadKit
import MultipeerConnectivity
import Silin
import SwiftUI
import UIKit

/// Sync with a grid worker's phone nearby, or with the township hub.
struct SyncView: View {
    @ObservedObject var model: LeadViewModel
    @StateObject private var nearby = NearbyPeerLink(displayName: UIDevice.current.name)
    @AppStorage("hubURL") private var hubURL = "http://192.168.1.10:8080"
    @State private var token = ""

    var body: some View {
        Form {
            Section("附近的网格员") {
                if nearby.found.isEmpty {
                    Text("正在寻找附近的手机…").foregroundColor(.secondary)
                }
                ForEach(nearby.found, id: \.self) { peer in
                    Button(peer.displayName) { nearby.invite(peer) }
                }
            }
            Section("乡镇服务器") {
                TextField("服务器地址", text: $hubURL)
                    .keyboardType(.URL)
                    .textInputAutocapitalization(.never)
                Button("与服务器同步") { _Concurrency.Task { await model.syncWithHub(url: hubURL) } }
                if model.identity?.enrolled != true {
                    TextField("入网令牌（乡镇办发放）", text: $token)
                        .textInputAutocapitalization(.never)
                    Button("入网") { _Concurrency.Task { await model.enroll(hubUrl: hubURL, token: token) } }
                }
            }
            Section("状态") {
                Text(status)
                if let line = model.progressLine { Text(line).font(.footnote) }
                if model.progress.isActive { Button("停止同步") { model.cancelSync() } }
            }
        }
        .navigationTitle("同步")
        .onAppear {
            nearby.onConnected = { peer, starting in
                _Concurrency.Task {
                    await model.syncWithNearby(nearby, starting: starting, peerName: peer.displayName)
                    nearby.disconnect()
                }
            }
            nearby.startLooking()
        }
        .onDisappear { nearby.stopLooking() }
    }

    private var status: String {
        switch model.syncStatus {
        case .idle: return "未同步"
        case .syncing(let peer): return "正在与 \(peer) 同步…"
        case .done(let peer, let stats):
            return "已与 \(peer) 同步：发出 \(stats.docsSent) 个联户，收到 \(stats.docsReceived) 个"
        case .failed(let reason): return "同步失败：\(reason)"
        }
    }
}
