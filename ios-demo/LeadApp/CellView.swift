import LeadKit
import Silin
import SwiftUI

/// My cell: the health checks due today, alerts, residents away to call, who
/// is under monitoring, who needs help, every household.
struct CellView: View {
    @ObservedObject var model: LeadViewModel
    @State private var newName = ""
    @State private var newPath = ""

    var body: some View {
        Group {
            if let cell = model.cell {
                List {
                    Section("今日待测（\(model.dueChecks.count)）") {
                        if model.dueChecks.isEmpty {
                            Text("今天的健康监测都做完了。").foregroundColor(.secondary)
                        }
                        ForEach(model.dueChecks, id: \.memberId) { check in
                            MemberRow(
                                name: check.name,
                                detail: "\(check.done)/\(check.required) 次，还剩 \(check.daysLeft) 天",
                                action: { model.beginHealthCheck(of: check.memberId) })
                        }
                        ForEach(model.missedChecks, id: \.self) { missed in
                            Text("漏测：\(missed.name) \(missed.day)（\(missed.done)/\(missed.required)）")
                                .foregroundColor(.red)
                        }
                    }
                    if !model.alerts.isEmpty {
                        Section("提醒") {
                            ForEach(model.alerts, id: \.id) { alert in
                                Button {
                                    _Concurrency.Task { await model.dismissAlert(alert.id) }
                                } label: {
                                    Text(alert.title).foregroundColor(alert.kind == .alert ? .red : .primary)
                                }
                            }
                        }
                    }
                    if !model.awayNotCalled.isEmpty {
                        Section("外出人员（\(model.notCalledDays) 天未联系）") {
                            ForEach(model.awayNotCalled, id: \.memberId) { away in
                                MemberRow(
                                    name: away.name,
                                    detail: [away.awayAt, away.phone].compactMap { $0 }.joined(separator: " · "),
                                    action: {})
                            }
                        }
                    }
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
