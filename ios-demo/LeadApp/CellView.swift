import LeadKit
import Silin
import SwiftUI

/// My cell: who is under monitoring, who needs help, every household.
struct CellView: View {
    @ObservedObject var model: LeadViewModel
    @State private var newName = ""
    @State private var newPath = ""

    var body: some View {
        Group {
            if let cell = model.cell {
                List {
                    Section("居家监测（\(model.underMonitoring.count)）") {
                        ForEach(model.underMonitoring, id: \.memberId) { member in
                            MemberRow(
                                name: member.name,
                                detail: "至 \(member.monitoringUntil ?? "—")",
                                action: { model.beginHealthCheck(of: member.memberId) })
                        }
                    }
                    Section("重点关爱") {
                        ForEach(model.vulnerable, id: \.memberId) { member in
                            MemberRow(
                                name: member.name,
                                detail: member.vulnerable.map(label).joined(separator: "、"),
                                action: { model.beginHealthCheck(of: member.memberId) })
                        }
                    }
                    ForEach(cell.households, id: \.id) { household in
                        Section(household.address ?? "住户") {
                            ForEach(household.members, id: \.id) { member in
                                MemberRow(
                                    name: member.name, detail: member.phone ?? "",
                                    action: { model.beginHealthCheck(of: member.id) })
                            }
                        }
                    }
                    if !cell.conflicts.isEmpty {
                        Section("需要核对（两部手机同时修改）") {
                            ForEach(cell.conflicts, id: \.path) { conflict in
                                Text(conflict.values.joined(separator: " / "))
                            }
                        }
                    }
                }
                .navigationTitle(cell.cell.name)
                .refreshable { await model.load() }
            } else {
                Form {
                    Section("新建联户") {
                        TextField("联户名称，如 三组第5联户", text: $newName)
                        TextField("县/镇/村/组", text: $newPath)
                        Button("创建") {
                            _Concurrency.Task { await model.createMyCell(name: newName, regionPath: newPath) }
                        }
                    }
                    Section { Text("或在“同步”页与网格员同步，取回已有的联户。") }
                }
                .navigationTitle("我的联户")
            }
        }
    }

    private func label(_ flag: Vulnerability) -> String {
        switch flag {
        case .elderly: return "高龄"
        case .disabled: return "残疾"
        case .mobility: return "行动不便"
        case .alone: return "独居"
        case .chronic: return "慢病"
        }
    }
}

struct MemberRow: View {
    let name: String
    let detail: String
    let action: () -> Void

    var body: some View {
        Button(action: action) {
            HStack {
                Text(name)
                Spacer()
                Text(detail).foregroundColor(.secondary)
            }
        }
    }
}
