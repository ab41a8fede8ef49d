import LeadKit
import Silin
import SwiftUI

/// Record a door-knock, health check, call or errand. silin's rule for a
/// field appears under that field.
struct VisitFormView: View {
    @ObservedObject var model: LeadViewModel

    private let kinds: [(VisitKind, String)] = [
        (.healthCheck, "健康监测"), (.doorKnock, "敲门走访"), (.call, "电话"), (.errand, "代办"), (.notify, "通知"),
    ]

    var body: some View {
        Form {
            Section {
                Picker("类型", selection: $model.visitForm.kind) {
                    ForEach(kinds, id: \.1) { item in Text(item.1).tag(item.0) }
                }
                Picker("对象", selection: $model.visitForm.memberId) {
                    Text("（整户）").tag(String?.none)
                    ForEach(members, id: \.id) { member in Text(member.name).tag(Optional(member.id)) }
                }
                error(.member)
            }
            if model.visitForm.kind == .healthCheck {
                Section("体温 °C") {
                    TextField("36.5", text: $model.visitForm.temperature)
                        .keyboardType(.decimalPad)
                    error(.temperature)
                    TextField("症状（没有就空着）", text: $model.visitForm.symptoms)
                    error(.symptoms)
                }
            }
            Section {
                TextField("结果", text: $model.visitForm.outcome)
                TextField("备注", text: $model.visitForm.note)
                error(.at)
            }
            Section {
                Button(model.busy ? "保存中…" : "保存") {
                    _Concurrency.Task { await model.recordVisit() }
                }
                .disabled(model.busy)
            }
            if !model.todaysVisits.isEmpty {
                Section("今天 \(model.todaysVisits.count) 次，异常 \(model.abnormalToday.count) 次") {
                    ForEach(recentVisits, id: \.id) { visit in
                        HStack {
                            Text(model.member(visit.memberId)?.name ?? visit.by)
                            Spacer()
                            if let t = visit.temperature { Text(String(format: "%.1f°C", t)) }
                            if visit.abnormal { Image(systemName: "exclamationmark.circle.fill").foregroundColor(.red) }
                        }
                    }
                }
            }
        }
        .navigationTitle("走访记录")
    }

    private var recentVisits: [Visit] {
        Array((model.cell?.visits ?? []).suffix(10).reversed())
    }

    private var members: [Member] {
        model.cell?.households.flatMap(\.members) ?? []
    }

    @ViewBuilder
    private func error(_ field: VisitForm.Field) -> some View {
        if let text = model.visitErrors[field] {
            Text(text).font(.footnote).foregroundColor(.red)
        }
    }
}
